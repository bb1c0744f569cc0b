"""BLEU as the field reports it: sacreBLEU on detokenized output against the raw references,
with its signature; chrF beside it."""

from __future__ import annotations

from collections.abc import Sequence

import sacrebleu


def scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float | str]:
    """{"bleu", "bleu_signature", "chrf", "chrf_signature"} over the whole set."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    bleu, chrf = sacrebleu.metrics.BLEU(), sacrebleu.metrics.CHRF()
    b = bleu.corpus_score(list(hypotheses), [list(references)])
    c = chrf.corpus_score(list(hypotheses), [list(references)])
    return {"bleu": b.score, "bleu_signature": str(bleu.get_signature()),
            "chrf": c.score, "chrf_signature": str(chrf.get_signature())}
