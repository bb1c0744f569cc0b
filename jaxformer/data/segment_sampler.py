"""Sampled segmentations of a sentencepiece model, drawn from a `random.Random` the caller seeds.

sentencepiece's own sampling (`encode(..., enable_sampling=True)`) draws from a generator of its
thread that a fresh process starts elsewhere (measured with sentencepiece 0.2.3: the same global
seed gives other pieces in another process), so a run resumed in a new process could not redraw
the segmentations of the uninterrupted run. This module runs sentencepiece's two sampling
algorithms in Python instead, on the model's own pieces and scores and on text normalised by
sentencepiece, so that the pieces depend only on the text and the generator's state:

- BPE-dropout (Provilkov et al. 2020) as in sentencepiece's `bpe::Model::SampleEncode`: the
  highest-scoring adjacent pair is merged first (the leftmost among equals), and each merge is
  skipped with probability `rate`; at rate 0 this is sentencepiece's deterministic encoding.
- Unigram sampling (Kudo 2018) as in `Lattice::Sample`: forward-filtering, backward-sampling over
  all segmentations, each weighted by exp(rate * sum of its pieces' log-probabilities).

Unknown characters follow sentencepiece too: a run of them is one piece, or with byte fallback
each becomes its UTF-8 bytes. When no piece holds a `▁` after its first character (models
trained with split_by_whitespace, the default), every segmentation breaks before each `▁`, so
words are segmented one at a time, and unigram lattices are kept per word.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import random

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as model_pb2

from jaxformer.config import ConfigError

SPACE = "\u2581"
_NORMAL, _USER_DEFINED, _UNUSED = 1, 4, 5  # sentencepiece's piece types that text can be cut into
_UNK_PENALTY = 10.0  # sentencepiece's unigram: an unknown character scores min score - 10
_FLT_MIN = 1.1754943508222875e-38  # where sentencepiece's unigram starts its max score
_CACHED_WORDS = 200_000


def _per_word(cache: dict, word: str, make):
    """cache[word], made by make(word) on a miss; a full cache starts again empty."""
    found = cache.get(word)
    if found is None:
        if len(cache) >= _CACHED_WORDS:
            cache.clear()
        found = cache[word] = make(word)
    return found


class SegmentSampler:
    """`pieces(text, rng)`: one segmentation of `text` drawn with `rate` (BPE: the dropout
    probability; unigram: the smoothing exponent alpha), as sentencepiece piece strings."""

    def __init__(self, model_proto: bytes, rate: float):
        proto = model_pb2.ModelProto()
        proto.ParseFromString(model_proto)
        kind = proto.trainer_spec.model_type
        if kind not in (model_pb2.TrainerSpec.UNIGRAM, model_pb2.TrainerSpec.BPE):
            name = model_pb2.TrainerSpec.ModelType.Name(kind).lower()
            raise ConfigError(f"subword sampling needs a bpe or unigram sentencepiece model; this one is {name}: "
                              "set data.subword_sampling=0")
        self.bpe = kind == model_pb2.TrainerSpec.BPE
        self.rate = float(rate)
        self._normalize = spm.SentencePieceProcessor(model_proto=model_proto).normalize
        self._byte_fallback = proto.trainer_spec.byte_fallback
        self._score: dict[str, float] = {}  # the pieces merges and lattices may use, as sentencepiece's pieces_
        self._unused: set[str] = set()
        self._user_defined: set[str] = set()
        for p in proto.pieces:
            if p.type in (_NORMAL, _USER_DEFINED, _UNUSED):
                self._score.setdefault(p.piece, p.score)
                if p.type == _UNUSED:
                    self._unused.add(p.piece)
                elif p.type == _USER_DEFINED:
                    self._user_defined.add(p.piece)
        normal = [p.score for p in proto.pieces if p.type == _NORMAL]
        self._unk_score = min(normal) - _UNK_PENALTY
        self._max_score = max(_FLT_MIN, max(normal))
        self._longest = max(map(len, self._score))
        self._by_word = all(SPACE not in piece[1:] for piece in self._score)
        self._lattices: dict[str, list[tuple[list[float], list[tuple[int, str, bool]]]]] = {}  # unigram, per word
        self._starts: dict[str, tuple] = {}  # BPE, per word: see _bpe_start

    def pieces(self, text: str, rng: random.Random) -> list[str]:
        """One sampled segmentation of `text`; the same text and generator state, the same pieces."""
        normalized = self._normalize(text)
        if not normalized:
            return []
        if self._by_word:
            head, *rest = normalized.split(SPACE)
            words = ([head] if head else []) + [SPACE + w for w in rest]
        else:
            words = [normalized]
        sample = self._bpe if self.bpe else self._unigram
        return self._finish([piece for w in words for piece in sample(w, rng)])

    # -- BPE-dropout -----------------------------------------------------------------------------

    def _symbols(self, word: str) -> tuple[list[str], list[bool]]:
        """Characters, with user-defined symbols kept whole (longest match) and never merged."""
        if not self._user_defined:
            return list(word), [False] * len(word)
        pieces, frozen, at = [], [], 0
        while at < len(word):
            match = max((u for u in self._user_defined if word.startswith(u, at)), key=len, default=word[at])
            pieces.append(match)
            frozen.append(match in self._user_defined)
            at += len(match)
        return pieces, frozen

    def _pair(self, pieces: list[str], frozen: list[bool], left: int, right: int,
              parts: dict[str, tuple[str, str]]) -> tuple[float, int, int, int] | None:
        """The agenda entry of merging two adjacent symbols (best score first, then leftmost), or
        None where the merged piece is not in the model; notes the halves of an unused piece."""
        if left < 0 or right < 0 or frozen[left] or frozen[right]:
            return None
        merged = pieces[left] + pieces[right]
        if (s := self._score.get(merged)) is None:
            return None
        if merged in self._unused:
            parts[merged] = (pieces[left], pieces[right])
        return -s, left, right, len(merged)

    def _bpe_start(self, word: str) -> tuple[list[str], list[bool], list[tuple[float, int, int, int]],
                                             dict[str, tuple[str, str]]]:
        """A word's symbols, whether each is frozen, its agenda of mergeable adjacent pairs (a
        heap), and the halves of the unused pieces among those pairs."""
        pieces, frozen = self._symbols(word)
        parts: dict[str, tuple[str, str]] = {}
        agenda = [e for i in range(len(pieces) - 1) if (e := self._pair(pieces, frozen, i, i + 1, parts))]
        heapq.heapify(agenda)
        return pieces, frozen, agenda, parts

    def _bpe(self, word: str, rng: random.Random) -> list[tuple[str, bool]]:
        start = _per_word(self._starts, word, self._bpe_start)
        pieces, frozen, agenda, parts = start[0].copy(), start[1], start[2].copy(), start[3].copy()
        n, score, rate = len(pieces), self._score, self.rate
        following, preceding = list(range(1, n)) + [-1], list(range(-1, n - 1))

        def consider(left: int, right: int) -> None:
            if entry := self._pair(pieces, frozen, left, right, parts):
                heapq.heappush(agenda, entry)

        while agenda:
            _, left, right, size = heapq.heappop(agenda)
            a, b = pieces[left], pieces[right]
            if not a or not b or len(a) + len(b) != size:  # one side has merged since
                continue
            if rate and rng.random() < rate:  # dropped: this pair is not merged in this draw
                continue
            pieces[left], pieces[right] = a + b, ""
            following[left] = following[right]
            if following[right] >= 0:
                preceding[following[right]] = left
            consider(preceding[left], left)
            consider(left, following[left])

        def split_unused(piece: str) -> list[str]:
            if piece in parts:
                return [q for half in parts[piece] for q in split_unused(half)]
            return [piece]

        return [(q, q not in score) for p in pieces if p for q in split_unused(p)]

    # -- unigram ---------------------------------------------------------------------------------

    def _lattice(self, word: str) -> list[tuple[list[float], list[tuple[int, str, bool]]]]:
        """For each end position: the cumulative probabilities of the pieces that end there, given
        that a sampled path passes there, and those pieces as (start, piece, unknown)."""
        length, theta = len(word), self.rate
        ending: list[list[tuple[int, str, float, bool]]] = [[] for _ in range(length + 1)]
        for start in range(length):
            single = False
            for end in range(start + 1, min(length, start + self._longest) + 1):
                piece = word[start:end]
                s = self._score.get(piece)
                if s is None or piece in self._unused:
                    continue
                if piece in self._user_defined:
                    s = (end - start) * self._max_score + 1.0
                ending[end].append((start, piece, s, False))
                single = single or end == start + 1
            if not single:
                ending[start + 1].append((start, word[start], self._unk_score, True))
        forward = [0.0] * (length + 1)  # log of the summed weights of all paths up to a position
        table = [([], [])]
        for end in range(1, length + 1):
            terms = [forward[start] + theta * s for start, _, s, _ in ending[end]]
            top = max(terms)
            forward[end] = top + math.log(sum(math.exp(t - top) for t in terms))
            table.append((list(itertools.accumulate(math.exp(t - forward[end]) for t in terms)),
                          [(start, piece, unk) for start, piece, _, unk in ending[end]]))
        return table

    def _unigram(self, word: str, rng: random.Random) -> list[tuple[str, bool]]:
        table = _per_word(self._lattices, word, self._lattice)
        out, end = [], len(word)
        while end > 0:
            cumulative, nodes = table[end]
            pick = min(bisect.bisect_right(cumulative, rng.random() * cumulative[-1]), len(nodes) - 1)
            end, piece, unk = nodes[pick]
            out.append((piece, unk))
        return out[::-1]

    # -- unknown characters ----------------------------------------------------------------------

    def _finish(self, pieces: list[tuple[str, bool]]) -> list[str]:
        """sentencepiece's last step: a run of unknown pieces becomes one piece, or with byte
        fallback each unknown piece becomes its UTF-8 bytes."""
        out: list[str] = []
        previous_unknown = False
        for piece, unknown in pieces:
            if unknown and self._byte_fallback:
                out.extend(f"<0x{b:02X}>" for b in piece.encode("utf-8"))
            elif unknown and previous_unknown:
                out[-1] += piece
            else:
                out.append(piece)
            previous_unknown = unknown
        return out
