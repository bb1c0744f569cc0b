"""Translating a set of sentences: the one path that the training loop's evaluations, `Translator`
(`jaxformer translate` and `evaluate`, the notebooks) and `jaxformer smoke` decode through.

Sources are sorted by length and cut into batches of a fixed number of rows, each padded to one
of a few widths (`data.batching.bucket_width`), so that a whole run compiles the search for a
handful of shapes (the same shapes in every run: what a persistent compilation cache needs);
outputs come back in input order. Given a mesh, each batch is laid over the mesh's batch axes and
the search runs sharded by the rules; every process of a multi-host run passes all sources and
gets all outputs. `Search` holds the decoding options, and is the one place that reads them
from a run's config.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh

from jaxformer import decode, sharding
from jaxformer.config import ConfigError, ModelConfig, TrainConfig
from jaxformer.data.batching import bucket_width
from jaxformer.data.tokenizer import EOS_ID

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class Search:
    """How to decode: greedy (beam_size 1) or beam search, with the run's length bound (0: the
    source's padded width + 50, section 6.1), scoring convention and forced EOS."""

    beam_size: int = 1
    alpha: float = 0.6
    max_decode_length: int = 0
    convention: str = "t2t"
    force_eos: bool = False

    @classmethod
    def of(cls, train: TrainConfig, beam_size: int | None = None, alpha: float | None = None) -> Search:
        """The search of a run: its length bound, convention and forced EOS always; beam size and
        alpha default to those of its test score (`train.test_beam_size`, `train.beam_alpha`)."""
        return cls(beam_size=train.test_beam_size if beam_size is None else beam_size,
                   alpha=train.beam_alpha if alpha is None else alpha, max_decode_length=train.max_decode_length,
                   convention=train.search_convention, force_eos=train.force_eos)


def search_fn(model: ModelConfig, search: Search) -> Callable[[Any, Array], Array]:
    """(params, src [B, S]) -> the best output [B, L] of each row: a jittable function (also what
    `jaxformer export` serializes). L is decided once, in `decode.max_output_length`."""
    if search.beam_size > 1:
        return lambda params, src: decode.beam_search(
            params, src, config=model, beam_size=search.beam_size, alpha=search.alpha,
            max_len=search.max_decode_length, convention=search.convention, force_eos=search.force_eos)[0][:, 0]
    return lambda params, src: decode.greedy(params, src, config=model, max_len=search.max_decode_length,
                                             force_eos=search.force_eos)


def batches(sources: Sequence[np.ndarray], batch_size: int) -> Iterator[tuple[list[int], np.ndarray]]:
    """(indices into `sources`, src [batch_size, W] int32) over the sources sorted by length (ties
    in input order), W from `bucket_width`. Rows past the last source are an empty sentence (EOS)."""
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        src = np.zeros((batch_size, bucket_width(max(len(sources[i]) for i in rows))), np.int32)
        src[len(rows):, 0] = EOS_ID
        for r, i in enumerate(rows):
            src[r, :len(sources[i])] = sources[i]
        yield rows, src


def translate_ids(params, sources: Sequence[np.ndarray], *, model: ModelConfig, search: Search,
                  batch_size: int = 32, mesh: Mesh | None = None, rules: str = "dp") -> list[np.ndarray]:
    """The best output ids [L] (EOS, then padding) of every source (ids [S] ending with EOS), in
    input order. Without `mesh` the search runs where `params` are; with one, each batch is
    placed over its batch axes (`batch_size` must split over them) and activations follow `rules`."""
    run = _sharded(model, search, mesh, rules, batch_size) if mesh is not None else _local(model, search)
    out: list[np.ndarray] = [np.zeros((0,), np.int32)] * len(sources)
    for rows, src in batches(sources, batch_size):
        best = run(params, src)
        for r, i in enumerate(rows):
            out[i] = best[r]
    return out


# The searches are jitted functions with the model and options static: called directly (not
# wrapped in a new jit per call), each shape compiles once per process, whichever caller comes first.

def _local(model: ModelConfig, search: Search) -> Callable[[Any, np.ndarray], np.ndarray]:
    fn = search_fn(model, search)
    return lambda params, src: np.asarray(fn(params, src))


def _sharded(model: ModelConfig, search: Search, mesh: Mesh, rules: str,
             batch_size: int) -> Callable[[Any, np.ndarray], np.ndarray]:
    if batch_size % (ways := sharding.batch_ways(mesh, rules)):
        raise ConfigError(f"a translation batch of {batch_size} rows cannot be split over the {ways} devices of the "
                          "mesh's batch axes; make the batch size (data.eval_batch_size) a multiple of it")
    fn = search_fn(model, search)
    placed = sharding.batch_sharding(mesh, rules)

    def run(params, src: np.ndarray) -> np.ndarray:
        with sharding.use_rules(mesh, rules):
            best = fn(params, jax.make_array_from_callback(src.shape, placed, lambda index: src[index]))
        return np.asarray(multihost_utils.process_allgather(best, tiled=True))
    return run


def translate(params, texts: Sequence[str], tokenizer, *, model: ModelConfig, search: Search,
              batch_size: int = 32, mesh: Mesh | None = None, rules: str = "dp",
              max_input_tokens: int | None = None, log=lambda msg: print(msg, file=sys.stderr)) -> list[str]:
    """Translations of `texts` in input order. An empty (or blank) line gives an empty line; with
    `max_input_tokens`, longer inputs are cut to that many tokens (EOS included), counted in `log`."""
    ids = [x if t.strip() else None for t, x in zip(texts, tokenizer.encode_batch(list(texts)))]
    if max_input_tokens is not None:
        cut = sum(1 for x in ids if x is not None and len(x) > max_input_tokens)
        if cut:
            log(f"translate: {cut} input line(s) longer than {max_input_tokens} tokens were cut "
                "(raise --max-input-tokens)")
        ids = [None if x is None else np.append(x[:-1][: max_input_tokens - 1], EOS_ID).astype(np.int32) for x in ids]
    todo = [i for i, x in enumerate(ids) if x is not None]
    best = translate_ids(params, [ids[i] for i in todo], model=model, search=search, batch_size=batch_size,
                         mesh=mesh, rules=rules)
    out = [""] * len(texts)
    for i, row in zip(todo, best):
        out[i] = tokenizer.decode(row)
    return out
