"""The evaluations of a training run: loss over a whole split, and BLEU / chrF of translations of
its first sentences (decoded through `jaxformer.translate`, sharded like training).

Periodic evaluations decode greedily; the final test uses the run's beam search. Each split is
read and tokenized once a run (the evaluator keeps its batches and texts).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax.sharding import Mesh

from jaxformer import evaluate, sharding, translate
from jaxformer.config import ExperimentConfig
from jaxformer.data import pipeline
from jaxformer.losses import summarize


class Evaluator:
    """`evaluator(params, split, bleu_examples=..., beam_size=...)` -> scores of `split`."""

    def __init__(self, exp: ExperimentConfig, prep: pipeline.Prepared, mesh: Mesh, eval_step: Callable):
        self.exp, self.prep, self.mesh, self.eval_step = exp, prep, mesh, eval_step
        self._sets: dict[str, pipeline.EvalSet] = {}
        self._texts: dict[tuple[str, int | None], tuple[list[str], list[str]]] = {}

    def loss(self, params, split: str) -> dict[str, float]:
        """Label-smoothed loss, NLL, perplexity and accuracy over every example of `split`."""
        if split not in self._sets:
            self._sets[split] = pipeline.eval_set(self.prep, split, process_index=jax.process_index(),
                                                  process_count=jax.process_count())
        sums = {"loss": 0.0, "nll": 0.0, "correct": 0.0, "tokens": 0.0}
        for b in self._sets[split].batches:
            s = self.eval_step(params, sharding.global_batch(b, self.mesh, self.exp.mesh.rules, ("inputs", "targets")))
            for k in sums:
                sums[k] += float(s[k])
        return {k: float(v) for k, v in summarize({k: jnp.asarray(v) for k, v in sums.items()}).items()}

    def __call__(self, params, split: str, *, bleu_examples: int | None, beam_size: int = 1) -> dict[str, Any]:
        """Loss over the whole split, and BLEU / chrF (tokenized BLEU too with a beam) over its
        first `bleu_examples` sentences (None: all, 0: none), with three examples to show."""
        out: dict[str, Any] = self.loss(params, split)
        if bleu_examples == 0:
            return out
        if (split, bleu_examples) not in self._texts:
            self._texts[(split, bleu_examples)] = pipeline.split_texts(self.prep, split, bleu_examples)
        sources, references = self._texts[(split, bleu_examples)]
        exp = self.exp
        hyps = translate.translate(params, sources, self.prep.tokenizer, model=exp.model,
                                   search=translate.Search.of(exp.train, beam_size=beam_size),
                                   batch_size=exp.data.eval_batch_size, mesh=self.mesh, rules=exp.mesh.rules)
        out.update(evaluate.scores(hyps, references, target_lang=exp.data.target_lang if beam_size > 1 else None))
        out["beam_size"] = beam_size
        out["sentences"] = len(hyps)
        out["examples"] = list(zip(sources[:3], hyps[:3], references[:3]))
        return out

    def test(self, params, say: Callable[..., None]) -> dict[str, Any]:
        """The final test: the whole test split with the run's beam search, printed."""
        exp = self.exp
        test = self(params, exp.data.test_split, bleu_examples=None, beam_size=exp.train.test_beam_size)
        say(f"test ({exp.data.test_split}, {test['sentences']} sentences, beam {test['beam_size']}): "
            f"sacreBLEU {test['bleu']:.2f}  chrF {test['chrf']:.2f}  ({test['bleu_signature']})"
            + (f"\n  tokenized BLEU {test['tok_bleu']:.2f} (the paper's method, not comparable)"
               if "tok_bleu" in test else ""))
        for s, h, r in test["examples"]:
            say(f"  source:     {s}\n  hypothesis: {h}\n  reference:  {r}")
        return test
