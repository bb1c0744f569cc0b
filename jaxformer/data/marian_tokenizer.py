"""The tokenizer of an OPUS-MT / Marian model: a source and a target sentencepiece model that
split text into pieces, and one vocabulary (vocab.json) that numbers the pieces of both sides.

jaxformer's ids keep its own conventions (0 = pad and decoder start, 1 = EOS), so the model's
ids are renumbered once, at import: Marian's pad (its decoder start too) becomes 0, its EOS 1,
and every other entry keeps its order after them. `to_marian` / `from_marian` convert ids
between the two numberings; texts tokenize to the same pieces as transformers' MarianTokenizer.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import shutil
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import sentencepiece as spm

from jaxformer.config import ConfigError
from jaxformer.data.segment_sampler import SegmentSampler
from jaxformer.data.tokenizer import EOS_ID, PAD_ID

FILES = ("source.spm", "target.spm", "vocab.json")
SPECIALS_FILE = "specials.json"  # {"pad": Marian's pad id, "eos": its EOS id, "unk": its unknown piece}


class MarianTokenizer:
    """Source text -> ids with the source sentencepiece model, ids -> target text with the target one."""

    def __init__(self, source_proto: bytes, target_proto: bytes, vocab: dict[str, int], *, pad_id: int, eos_id: int,
                 unk: str = "<unk>", directory: Path | None = None):
        self._source = spm.SentencePieceProcessor(model_proto=source_proto)
        self._target = spm.SentencePieceProcessor(model_proto=target_proto)
        self.protos = (source_proto, target_proto)
        self.vocab = dict(vocab)
        self.specials = {"pad": int(pad_id), "eos": int(eos_id), "unk": unk}
        self.directory = directory
        size = len(vocab)
        if sorted(vocab.values()) != list(range(size)):
            raise ConfigError("vocab.json does not number its pieces 0..N-1 without gaps; it is not a Marian vocabulary")
        if unk not in vocab:
            raise ConfigError(f"vocab.json has no {unk!r} entry; it is not a Marian vocabulary")
        # order[ours] = Marian's id: pad first, EOS second, then the rest in Marian's order.
        rest = [i for i in range(size) if i not in (pad_id, eos_id)]
        self.order = np.asarray([pad_id, eos_id] + rest, np.int64)
        self.ours = np.argsort(self.order)  # ours[Marian's id] = our id
        self.piece_of = {int(self.ours[i]): p for p, i in vocab.items()}
        self.unk_id = int(self.ours[vocab[unk]])
        self._samplers: list[SegmentSampler] | None = None  # source, target: made when first used
        self.language_codes = {p for p in vocab if p.startswith(">>") and p.endswith("<<")}

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def to_marian(self, ids: np.ndarray) -> np.ndarray:
        """Our ids -> the checkpoint's ids (what transformers' MarianTokenizer gives)."""
        return self.order[np.asarray(ids)]

    def from_marian(self, ids: np.ndarray) -> np.ndarray:
        """The checkpoint's ids -> ours."""
        return self.ours[np.asarray(ids)]

    def _ids(self, text: str, sp: spm.SentencePieceProcessor, sample: Callable[[str], list[str]] | None = None
             ) -> list[int]:
        code = []
        if text.startswith(">>") and (end := text.find("<<")) != -1:  # a target-language code, kept whole
            code, text = [text[: end + 2]], text[end + 2:]
        pieces = code + (sample(text) if sample else sp.encode(text, out_type=str))
        return [int(self.ours[self.vocab[p]]) if p in self.vocab else self.unk_id for p in pieces]

    def encode(self, text: str) -> np.ndarray:
        """Source text -> int32 ids ending with EOS."""
        return np.asarray(self._ids(text, self._source) + [EOS_ID], np.int32)

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [self.encode(t) for t in texts]

    def encode_target(self, text: str) -> np.ndarray:
        """Target text -> int32 ids ending with EOS (for training and scoring pairs)."""
        return np.asarray(self._ids(text, self._target) + [EOS_ID], np.int32)

    def encode_target_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [self.encode_target(t) for t in texts]

    def encode_sampled_batch(self, texts: Sequence[str], rate: float, rng: random.Random, *,
                             target: bool = False) -> list[np.ndarray]:
        """Sampled segmentations of source (or target) texts, for fine-tuning with
        `DataConfig.subword_sampling`; see `Tokenizer.encode_sampled_batch`."""
        side = int(target)
        if self._samplers is None or self._samplers[side].rate != rate:
            self._samplers = [SegmentSampler(proto, rate) for proto in self.protos]
        sp, sample = (self._source, self._target)[side], functools.partial(self._samplers[side].pieces, rng=rng)
        return [np.asarray(self._ids(t, sp, sample) + [EOS_ID], np.int32) for t in texts]

    def decode(self, ids: Iterable[int]) -> str:
        """Target ids -> text, stopping at the first EOS; padding and <unk> are dropped, as with
        transformers' `decode(..., skip_special_tokens=True)`."""
        pieces = []
        for i in ids:
            i = int(i)
            if i == EOS_ID:
                break
            if i not in (PAD_ID, self.unk_id) and i in self.piece_of:
                pieces.append(self.piece_of[i])
        return self._target.decode_pieces(pieces).strip()

    def pieces(self, ids: Iterable[int]) -> list[str]:
        return [self.piece_of.get(int(i), "<unk>") for i in ids]

    def fingerprint(self) -> str:
        """A digest of both models, the vocabulary and the special ids: equal digests give equal ids."""
        h = hashlib.sha256()
        for part in (*self.protos, json.dumps(self.vocab, sort_keys=True).encode(),
                     json.dumps(self.specials, sort_keys=True).encode()):
            h.update(hashlib.sha256(part).digest())
        return h.hexdigest()

    # -- files -----------------------------------------------------------------------------------

    @classmethod
    def from_files(cls, directory: str | os.PathLike) -> "MarianTokenizer":
        """Reads source.spm, target.spm and vocab.json (a Hugging Face Marian folder, or a folder
        written by `save`); the pad and EOS ids come from specials.json, else from the vocabulary's
        <pad> and </s> entries."""
        directory = Path(directory)
        missing = [f for f in FILES if not (directory / f).is_file()]
        if missing:
            raise ConfigError(f"{directory} lacks the tokenizer files {missing}; a Marian model folder holds "
                              f"{', '.join(FILES)}")
        try:
            vocab = json.loads((directory / "vocab.json").read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{directory / 'vocab.json'} is not valid JSON ({e}); download it again") from None
        specials_path = directory / SPECIALS_FILE
        if specials_path.is_file():
            specials = json.loads(specials_path.read_text())
        else:
            if "<pad>" not in vocab or "</s>" not in vocab:
                raise ConfigError(f"{directory / 'vocab.json'} has no <pad> or </s> entry; it is not a Marian vocabulary")
            specials = {"pad": vocab["<pad>"], "eos": vocab["</s>"], "unk": "<unk>"}
        protos = []
        for name in FILES[:2]:
            data = (directory / name).read_bytes()
            try:
                spm.SentencePieceProcessor(model_proto=data)
            except Exception:
                raise ConfigError(f"{directory / name} is not a sentencepiece model (truncated?); download it again") from None
            protos.append(data)
        return cls(protos[0], protos[1], vocab, pad_id=specials["pad"], eos_id=specials["eos"], unk=specials["unk"],
                   directory=directory)

    def save(self, directory: str | os.PathLike) -> None:
        """Writes the three files and the special ids into `directory` (a workdir's tokenizer/)."""
        directory = Path(directory)
        if self.directory is not None and directory.absolute() == self.directory.absolute():
            return
        tmp = directory.with_name(directory.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        (tmp / "source.spm").write_bytes(self.protos[0])
        (tmp / "target.spm").write_bytes(self.protos[1])
        (tmp / "vocab.json").write_text(json.dumps(self.vocab, ensure_ascii=False, indent=1), encoding="utf-8")
        (tmp / SPECIALS_FILE).write_text(json.dumps(self.specials))
        shutil.rmtree(directory, ignore_errors=True)
        os.replace(tmp, directory)
        self.directory = directory
