"""Batching: tokenized examples -> fixed-shape int32 batches, on Grain's `IterDataset`.

Examples are dicts {"inputs": [s] int32, "targets": [t] int32} (EOS already appended), optionally
with an integer "index". Three ways to batch them, each with a small fixed set of shapes so XLA
compiles only a handful of programs, and each checkpointable with Grain's `get_state()` /
`set_state()` (a restored iterator yields exactly the next batch):

* `pack_batches`: several examples per row of fixed length (training; least padding). Adds
  `{inputs,targets}_segmentation` (segment id from 1, 0 = padding) and `{inputs,targets}_position`
  (position inside the segment from 0).
* `bucket_by_tokens`: one example per row, rows grouped in length buckets with a token budget per
  batch (the paper's batching, section 5.1).
* `eval_batches`: one example per row in input order, nothing dropped, with `index` and `valid`
  so that hypotheses can be written back in order.

Checkpointing: the states are small JSON-able dicts (Grain saves them with `json.dumps`) and
assume a deterministic parent (same state -> same examples). Packing and `eval_batches` are Grain
transforms (`map_with_index`, `FirstFitPackIterDataset`, `batch`): the packer stores the parent
state at the start of the current group of packed rows plus the row offset, and re-packs that
group on restore. Bucketing stores no tokens either: see `_BucketIterator`.

None of them drops or truncates an over-long example: they raise, naming the example's lengths and
the limit. Length filtering belongs earlier in the pipeline, where it is counted. Pad id is 0.
Shape letters: B batch, S source length, T target length (equal here: one `length` for both).
"""

from __future__ import annotations

import bisect
import copy
import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import grain
import numpy as np
from grain.experimental import FirstFitPackIterDataset, batch_and_pad

__all__ = [
    "pack_batches",
    "bucket_by_tokens",
    "bucket_shapes",
    "bucket_width",
    "eval_batches",
    "unpack",
    "non_pad_fraction",
]

Example = Mapping[str, Any]
Batch = dict[str, np.ndarray]
Dataset = grain.MapDataset | grain.IterDataset

_FEATURES = ("inputs", "targets")


def _as_iter(ds: Dataset) -> grain.IterDataset:
    """A MapDataset is read with Grain's default ReadOptions; pass an IterDataset to choose them."""
    return ds.to_iter_dataset() if isinstance(ds, grain.MapDataset) else ds


def _lengths(ex: Example) -> tuple[int, int]:
    return len(ex["inputs"]), len(ex.get("targets", ()))


def _too_long(where: str, ex: Example, position: int, limit: int, hint: str) -> ValueError:
    s, t = _lengths(ex)
    ident = f"index {ex['index']}" if "index" in ex else f"stream position {position}"
    return ValueError(
        f"{where}: example ({ident}) has len(inputs)={s}, len(targets)={t}, longer than the limit "
        f"{limit}. {hint}"
    )


def _padded(x: Any, length: int) -> np.ndarray:
    """[n] -> [length] int32, zero padded at the end."""
    out = np.zeros((length,), np.int32)
    x = np.asarray(x, np.int32)
    out[: len(x)] = x
    return out


# ----------------------------------------------------------------------------------------------
# Packing.


def _check_for_packing(position: int, ex: Example, length: int) -> dict[str, np.ndarray]:
    if max(_lengths(ex)) > length:
        raise _too_long("pack_batches", ex, position, length,
                        "Filter or truncate over-long examples before packing.")
    return {k: np.asarray(ex[k], np.int32) for k in _FEATURES}


def _rename_packed(row: Mapping[str, np.ndarray]) -> Batch:
    """Grain's `{k}_segment_ids` / `{k}_positions` -> the model's `{k}_segmentation` / `{k}_position`."""
    out = {}
    for k in _FEATURES:
        out[k] = row[k]
        out[f"{k}_segmentation"] = row[f"{k}_segment_ids"]
        out[f"{k}_position"] = row[f"{k}_positions"]
    return out


def pack_batches(ds: Dataset, batch_size: int, length: int, *,
                 num_packing_bins: int | None = None) -> grain.IterDataset:
    """Packs examples into rows of `length` tokens; yields batches of [batch_size, length] arrays.

    Grain's first-fit packer fills `num_packing_bins` rows (default `batch_size`) at a time: each
    example goes into the first row where both its inputs and targets still fit; when one fits in
    no row the rows are emitted and a new group starts with it. With the default, each batch holds a
    contiguous run of the input stream (reordered within the batch); more bins pack a little
    tighter over a wider window, the rows going out `batch_size` at a time. Every batch has the same
    shapes: a short final batch is completed with all-zero rows (segmentation 0 = padding).
    Raises ValueError on an example longer than `length` on either side.
    """
    bins = num_packing_bins or batch_size
    ds = _as_iter(ds).map_with_index(functools.partial(_check_for_packing, length=length))
    ds = FirstFitPackIterDataset(ds, length_struct={k: length for k in _FEATURES},
                                 num_packing_bins=bins, shuffle_bins=False)
    return ds.map(_rename_packed).batch(
        batch_size, batch_fn=functools.partial(batch_and_pad, batch_size=batch_size))


# ----------------------------------------------------------------------------------------------
# Token-budget bucketing.


def bucket_shapes(boundaries: Sequence[int], tokens_per_batch: int) -> list[tuple[int, int]]:
    """The fixed [B, length] shape of each bucket: B = tokens_per_batch // length, rounded down
    to a multiple of 8 when that leaves at least 8 (even sharding over devices), else kept >= 1."""
    bounds = [int(b) for b in boundaries]
    if not bounds or any(b <= 0 for b in bounds) or bounds != sorted(set(bounds)):
        raise ValueError(f"boundaries must be positive and strictly increasing, got {boundaries}")
    if bounds[-1] > tokens_per_batch:
        raise ValueError(f"tokens_per_batch={tokens_per_batch} is smaller than the largest "
                         f"boundary {bounds[-1]}: not even one row fits the budget.")
    shapes = []
    for bound in bounds:
        rows = tokens_per_batch // bound
        shapes.append((rows - rows % 8 if rows >= 8 else rows, bound))
    return shapes


class _BucketIterator(grain.DatasetIterator):
    """Routes examples to length buckets and emits a bucket when it holds B rows.

    Checkpointing without storing tokens in the (JSON) state: the state is the parent's state
    before the oldest still-buffered example, plus, per bucket, the stream ordinal of its oldest
    buffered example. `set_state` replays the parent from there and re-buffers exactly the examples
    whose ordinal is >= their bucket's mark; earlier ones were already emitted. Buckets are FIFO
    and emptied whole, so this reconstructs the buffers exactly. The price: a restore re-reads
    the examples since the oldest pending one (a rarely filled bucket can hold that back).
    """

    def __init__(self, parent: grain.DatasetIterator, shapes: list[tuple[int, int]]):
        super().__init__(parent)
        self._shapes = shapes
        self._bounds = [b for _, b in shapes]
        self._reset(0)

    def _reset(self, ordinal: int) -> None:
        n = len(self._shapes)
        self._buffers: list[list[Example]] = [[] for _ in range(n)]
        self._first: list[int] = [ordinal] * n  # ordinal of each bucket's oldest buffered example
        self._first_state: list[Any] = [None] * n  # parent state just before that example
        self._ordinal = ordinal  # examples read from the parent so far
        self._exhausted = False

    def _bucket(self, ex: Example) -> int:
        longest = max(_lengths(ex))
        b = bisect.bisect_left(self._bounds, longest)  # smallest bound >= longest
        if b == len(self._bounds):
            raise _too_long("bucket_by_tokens", ex, self._ordinal, self._bounds[-1],
                            "Filter over-long examples earlier or add a larger boundary.")
        return b

    def _add(self, b: int, ex: Example, state_before: Any) -> None:
        if not self._buffers[b]:
            self._first[b], self._first_state[b] = self._ordinal, state_before
        self._buffers[b].append(ex)
        self._ordinal += 1

    def _emit(self, b: int) -> Batch:
        rows, bound = self._shapes[b]
        batch = {k: np.zeros((rows, bound), np.int32) for k in _FEATURES}  # [B, S], [B, T]
        for i, ex in enumerate(self._buffers[b]):
            for k in _FEATURES:
                batch[k][i] = _padded(ex.get(k, ()), bound)
        self._buffers[b] = []
        self._first[b], self._first_state[b] = self._ordinal, None
        return batch

    def __next__(self) -> Batch:
        while not self._exhausted:
            state_before = self._parent.get_state()
            try:
                ex = next(self._parent)
            except StopIteration:
                self._exhausted = True
                break
            b = self._bucket(ex)
            self._add(b, ex, state_before)
            if len(self._buffers[b]) == self._shapes[b][0]:
                return self._emit(b)
        for b, buffer in enumerate(self._buffers):  # end of data: flush partial buckets, in order
            if buffer:
                return self._emit(b)
        raise StopIteration

    def get_state(self) -> dict[str, Any]:
        pending = [b for b, buffer in enumerate(self._buffers) if buffer]
        if pending:
            oldest = min(pending, key=lambda b: self._first[b])
            start, parent = self._first[oldest], self._first_state[oldest]
        else:
            start, parent = self._ordinal, self._parent.get_state()
        return {
            "parent": copy.deepcopy(parent),
            "start": start,
            "ordinal": self._ordinal,
            "first": [self._first[b] if self._buffers[b] else self._ordinal
                      for b in range(len(self._buffers))],
            "exhausted": self._exhausted,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self._parent.set_state(state["parent"])
        self._reset(state["start"])
        while self._ordinal < state["ordinal"]:  # replay; re-buffer what was not yet emitted
            state_before = self._parent.get_state()
            ex = next(self._parent)
            b = self._bucket(ex)
            if self._ordinal >= state["first"][b]:
                self._add(b, ex, state_before)
            else:
                self._ordinal += 1
        self._exhausted = state["exhausted"]

    def __str__(self) -> str:
        return f"BucketByTokensIterator(shapes={self._shapes})"


class _BucketIterDataset(grain.IterDataset):
    def __init__(self, parent: grain.IterDataset, shapes: list[tuple[int, int]]):
        super().__init__(parent)
        self._shapes = shapes

    def __iter__(self) -> _BucketIterator:
        return _BucketIterator(self._parent.__iter__(), self._shapes)

    def __str__(self) -> str:
        return f"BucketByTokensIterDataset(shapes={self._shapes})"


def bucket_by_tokens(ds: Dataset, boundaries: Sequence[int], tokens_per_batch: int) -> grain.IterDataset:
    """Token-budget batching in length buckets; yields {"inputs": [B, L], "targets": [B, L]}.

    An example goes to the smallest bucket whose bound L >= max(len(inputs), len(targets)); a bucket
    is emitted when it holds B rows, with (B, L) from `bucket_shapes` so B * L <= tokens_per_batch
    per side. Batches come out in the order buckets fill up; same input order, same batches. At
    the end of a finite dataset the partially filled buckets are emitted (smallest bound first),
    completed with all-zero rows; there is no `valid` field: a padding row is all pad, so the loss
    and token counts already ignore it (use `eval_batches` when rows must map back to examples).
    Raises ValueError on an example longer than the last boundary.
    """
    return _BucketIterDataset(_as_iter(ds), bucket_shapes(boundaries, tokens_per_batch))


# ----------------------------------------------------------------------------------------------
# Evaluation.


def bucket_width(n: int) -> int:
    """The padded width of an evaluation or decoding batch whose longest row has `n` tokens: a
    multiple of 16 up to 64, then the next power of two (16, 32, 48, 64, 128, 256, ...).

    Why: a batch of fixed rows padded to one of these few widths is one of a handful of shapes,
    so a whole run (and a persistent compilation cache across runs) compiles the search and the
    evaluation step a handful of times, while short sentences are not padded to the longest.
    The one place that decides these widths; `export_loader._width` repeats it (it may not
    import jaxformer) and a test holds the two equal.
    """
    return max(16, math.ceil(n / 16) * 16) if n <= 64 else 1 << (n - 1).bit_length()


def _eval_row(position: int, ex: Example, length: int) -> dict[str, np.ndarray]:
    if max(_lengths(ex)) > length:
        raise _too_long("eval_batches", ex, position, length,
                        "Evaluation keeps every example: raise the length.")
    return {
        "inputs": _padded(ex["inputs"], length),
        "targets": _padded(ex.get("targets", ()), length),
        "index": np.int32(ex.get("index", position)),
        "valid": np.bool_(True),
    }


def _eval_batch(rows: Sequence[Mapping[str, np.ndarray]], batch_size: int) -> Batch:
    batch = batch_and_pad(rows, batch_size=batch_size)  # padding rows: zeros, valid False
    batch["index"][~batch["valid"]] = -1
    return batch


def eval_batches(ds: Dataset, batch_size: int, length: int) -> grain.IterDataset:
    """Batches for evaluation / prediction: every example, in order, one per row, nothing dropped.

    Yields {"inputs": [B, S], "targets": [B, T], "index": [B] int32, "valid": [B] bool} with
    S = T = `length`. `index` is the example's "index" field (its stream position if absent), -1
    on the dummy rows that complete the last batch (`valid` False). A missing "targets" gives an
    all-pad targets row (prediction). Raises ValueError on an example longer than `length`.
    """
    ds = _as_iter(ds).map_with_index(functools.partial(_eval_row, length=length))
    return ds.batch(batch_size, batch_fn=functools.partial(_eval_batch, batch_size=batch_size))


# ----------------------------------------------------------------------------------------------
# Inspection.


def unpack(batch: Mapping[str, np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Recovers (inputs, targets) examples from any batch above, row by row, segment by segment.

    Packed batches are split with their segmentation (so examples come back in row-major order,
    which first-fit packing may have permuted within a batch); unpacked rows drop their trailing
    padding (tokens are never 0). Rows with `valid` False, or all-pad rows when there is no
    `valid`, are skipped.
    """
    out = []
    valid = batch.get("valid", np.ones(batch["inputs"].shape[0], bool))
    for r in np.flatnonzero(valid):
        if "inputs_segmentation" in batch:
            seg_s, seg_t = batch["inputs_segmentation"][r], batch["targets_segmentation"][r]
            for s in range(1, int(max(seg_s.max(), seg_t.max())) + 1):
                out.append((batch["inputs"][r][seg_s == s], batch["targets"][r][seg_t == s]))
        else:
            x, y = batch["inputs"][r], batch["targets"][r]
            if x.any() or y.any() or "valid" in batch:
                out.append((x[: _content_length(x)], y[: _content_length(y)]))
    return out


def _content_length(row: np.ndarray) -> int:
    nonzero = np.flatnonzero(row)
    return int(nonzero[-1]) + 1 if nonzero.size else 0


def non_pad_fraction(batches: Iterable[Mapping[str, np.ndarray]]) -> dict[str, float]:
    """Share of non-pad tokens in "inputs" and "targets" over `batches`: the efficiency of the
    batching (1.0 = no compute spent on padding). Also counts batches and real tokens."""
    real = {k: 0 for k in _FEATURES}
    total = {k: 0 for k in _FEATURES}
    n = 0
    for batch in batches:
        n += 1
        for k in _FEATURES:
            real[k] += int(np.count_nonzero(batch[k]))
            total[k] += batch[k].size
    stats: dict[str, float] = {k: real[k] / total[k] if total[k] else 0.0 for k in _FEATURES}
    stats.update({"batches": n, **{f"{k}_tokens": real[k] for k in _FEATURES}})
    return stats
