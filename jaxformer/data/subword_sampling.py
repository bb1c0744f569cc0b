"""Sampled subword segmentation of the training stream (BPE-dropout, subword regularisation).

`DataConfig.subword_sampling > 0` segments each training pair afresh every time the stream
reaches it, so the model sees many segmentations of the same words (Provilkov et al. 2020; Kudo
2018). The stream is cut into fixed chunks, and each side of a chunk is segmented with a
generator seeded by a digest of (data seed, shard, chunk, side) (`segment_sampler`, sentencepiece's
algorithms in Python), so the pieces depend only on the position in the stream: not on which Grain
thread asks first, nor on the process. A run resumed in a new process trains on the segmentations
of the uninterrupted run. A pair whose sampled form exceeds `data.max_length` keeps its
deterministic one.
"""

from __future__ import annotations

import collections
import random
import threading
from typing import Any

import grain
import numpy as np

from jaxformer.data.text import feature_text

CHUNK = 2048  # stream positions segmented together, with one generator per side


class SampledPairs:
    """`(index in the stream, example index) -> {"inputs", "targets"}` for `MapDataset.map_with_index`
    over one shard's stream `order`, with sampled segmentations drawn a chunk at a time."""

    def __init__(self, prep, order: grain.MapDataset, shard: tuple[int, int], keep_last: int = 4):
        self._prep, self._order = prep, order
        self._salt = (prep.config.seed, *shard)
        self._chunks: collections.OrderedDict[int, list[dict[str, np.ndarray]]] = collections.OrderedDict()
        self._keep_last = keep_last
        self._lock = threading.Lock()

    def _rng(self, chunk: int, side: int) -> random.Random:
        words = np.random.SeedSequence((*self._salt, chunk, side)).generate_state(4)
        return random.Random(int.from_bytes(words.astype("<u4").tobytes(), "little"))

    def _encode(self, chunk: int) -> list[dict[str, np.ndarray]]:
        prep, cfg = self._prep, self._prep.config
        tok, source, keep = prep.tokenizer, prep.source(cfg.train_split), prep.train_keep
        exs = [source[int(keep[int(self._order[j])])] for j in range(chunk * CHUNK, (chunk + 1) * CHUNK)]
        src = [feature_text(ex[cfg.source_lang]) for ex in exs]
        tgt = [feature_text(ex[cfg.target_lang]) for ex in exs]
        # One seed per side: under one seed a pair with the same text on both sides (names,
        # numbers, copied segments) would get the same pieces on both.
        sampled_src, sampled_tgt = (tok.encode_sampled_batch(texts, cfg.subword_sampling, self._rng(chunk, side),
                                                             target=bool(side))
                                    for side, texts in enumerate((src, tgt)))
        pairs = []
        for s, t, s_text, t_text in zip(sampled_src, sampled_tgt, src, tgt):
            if max(len(s), len(t)) > cfg.max_length:  # kept for its deterministic length: use that
                s, t = tok.encode(s_text), tok.encode_target(t_text)
            pairs.append({"inputs": s, "targets": t})
        return pairs

    def __call__(self, index: int, _example: Any) -> dict[str, np.ndarray]:
        chunk, at = divmod(int(index), CHUNK)
        with self._lock:  # Grain reads with several threads; each chunk is encoded once
            pairs = self._chunks.get(chunk)
            if pairs is None:
                pairs = self._chunks[chunk] = self._encode(chunk)
                while len(self._chunks) > self._keep_last:
                    self._chunks.popitem(last=False)
            else:
                self._chunks.move_to_end(chunk)
        return pairs[at]
