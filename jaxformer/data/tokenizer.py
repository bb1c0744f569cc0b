"""One sentencepiece vocabulary shared by source and target (section 5.1 of the paper: about
37000 shared BPE tokens for en-de, 32000 word-pieces for en-fr).

Trained once from the training split and cached beside the prepared data, in a folder keyed by
the options that made it (see `pipeline.prepare`), so that two configs never overwrite each
other's tokenizer. A workdir keeps its own copy, which a resume never replaces by another.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import random
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import sentencepiece as spm

from jaxformer.config import ConfigError, TokenizerConfig
from jaxformer.data.segment_sampler import SegmentSampler

PAD_ID, EOS_ID, UNK_ID = 0, 1, 2  # pad doubles as the decoder's start token; no BOS


class Tokenizer:
    """Text <-> ids with EOS appended on encode and stripped on decode."""

    def __init__(self, model_proto: bytes):
        self._sp = spm.SentencePieceProcessor(model_proto=model_proto)
        self.model_proto = model_proto
        self._sampling: SegmentSampler | None = None  # made on first use (data.subword_sampling)

    @property
    def vocab_size(self) -> int:
        return self._sp.get_piece_size()

    def encode(self, text: str) -> np.ndarray:
        """Text -> int32 ids ending with EOS."""
        return np.asarray(self._sp.encode(text) + [EOS_ID], np.int32)

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [np.asarray(ids + [EOS_ID], np.int32) for ids in self._sp.encode(list(texts))]

    # One model for both sides (a pretrained model's tokenizer may have one per side).
    encode_target = encode
    encode_target_batch = encode_batch

    def encode_sampled_batch(self, texts: Sequence[str], rate: float, rng: random.Random, *,
                             target: bool = False) -> list[np.ndarray]:
        """Like `encode_batch`, with segmentations drawn from `rng` (`DataConfig.subword_sampling`):
        the same generator state, the same ids, in any process."""
        if self._sampling is None or self._sampling.rate != rate:
            self._sampling = SegmentSampler(self.model_proto, rate)
        return [np.asarray(self._sp.piece_to_id(self._sampling.pieces(t, rng)) + [EOS_ID], np.int32) for t in texts]

    def decode(self, ids: Iterable[int]) -> str:
        """Ids -> text, stopping at the first EOS and ignoring padding."""
        out = []
        for i in ids:
            i = int(i)
            if i == EOS_ID:
                break
            if i != PAD_ID:
                out.append(i)
        return self._sp.decode(out)

    def pieces(self, ids: Iterable[int]) -> list[str]:
        """The sentencepiece strings of `ids` (for labelling plots and debugging)."""
        return [self._sp.id_to_piece(int(i)) for i in ids]

    def fingerprint(self) -> str:
        """A digest of the model: equal digests give equal ids for every text."""
        return hashlib.sha256(self.model_proto).hexdigest()

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Tokenizer":
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"tokenizer model {path} does not exist; train it with the data pipeline first")
        return cls(path.read_bytes())

    def save(self, path: str | os.PathLike) -> None:
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(self.model_proto)
        os.replace(tmp, path)


WORKDIR_MODEL = "tokenizer.model"  # a trained sentencepiece model
WORKDIR_FOLDER = "tokenizer"  # an imported model's tokenizer files (marian_tokenizer.FILES)


def save_to_workdir(tokenizer, workdir: str | os.PathLike) -> None:
    """Puts the run's tokenizer into its workdir, where translate / evaluate find it.

    Never replaces a different tokenizer under checkpoints of training: their embeddings are
    indexed by the old one's ids. Changed tokenizer options are refused earlier, on resume
    (`checkpoint.write_config`); this catches what options cannot show, such as changed training
    files or a deleted cache that retrained differently.
    """
    workdir = Path(workdir)
    from jaxformer.checkpoint import _trained  # here: checkpoint imports JAX and Orbax
    if _trained(workdir) and ((workdir / WORKDIR_MODEL).is_file() or (workdir / WORKDIR_FOLDER).is_dir()):
        kept = load_from_workdir(workdir)
        if type(kept) is type(tokenizer) and kept.fingerprint() == tokenizer.fingerprint():
            return
        where = workdir / (WORKDIR_FOLDER if (workdir / WORKDIR_FOLDER).is_dir() else WORKDIR_MODEL)
        raise ConfigError(f"the tokenizer prepared for this run differs from {where}, which the checkpoints in "
                          f"{workdir} were trained with (the training text or the cached tokenizer under "
                          "data.data_dir changed); resume with the data it was made from, or use a new --workdir")
    if isinstance(tokenizer, Tokenizer):
        tokenizer.save(workdir / WORKDIR_MODEL)
    else:
        tokenizer.save(workdir / WORKDIR_FOLDER)


def load_from_workdir(workdir: str | os.PathLike):
    """The tokenizer of a workdir: an imported model's (tokenizer/) or a trained one (tokenizer.model)."""
    workdir = Path(workdir)
    if (workdir / WORKDIR_FOLDER).is_dir():
        from jaxformer.data.marian_tokenizer import MarianTokenizer
        return MarianTokenizer.from_files(workdir / WORKDIR_FOLDER)
    return Tokenizer.load(workdir / WORKDIR_MODEL)


def _train(texts: Iterable[str], config: TokenizerConfig) -> bytes:
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(texts), model_writer=model, vocab_size=config.vocab_size,
            model_type=config.model_type, character_coverage=config.character_coverage,
            input_sentence_size=config.max_training_sentences, shuffle_input_sentence=True,
            byte_fallback=config.byte_fallback, pad_id=PAD_ID, eos_id=EOS_ID, unk_id=UNK_ID, bos_id=-1,
            num_threads=max(1, os.cpu_count() or 1), minloglevel=2,
        )
    except RuntimeError as e:
        fits = re.search(r"Please set it to a value <= (\d+)", str(e))
        if fits:
            raise ConfigError(f"tokenizer vocab_size={config.vocab_size} is too large for this corpus; "
                              f"the largest size that fits is {fits.group(1)}") from None
        raise ConfigError(f"sentencepiece training failed: {str(e).splitlines()[-1]}") from None
    return model.getvalue()


def train_or_load(directory: str | os.PathLike, texts: Callable[[], Iterable[str]],
                  config: TokenizerConfig, name: str = "tokenizer") -> Tokenizer:
    """The cached tokenizer in `directory` if it was made with `config`, else a new one trained on
    `texts()` (both sides of the training split) and written atomically with its options."""
    directory = Path(directory)
    model_path, options_path = directory / f"{name}.model", directory / f"{name}.json"
    options = dataclasses.asdict(config)
    if model_path.is_file() and options_path.is_file():
        try:
            if json.loads(options_path.read_text()) == options:
                return Tokenizer.load(model_path)
        except json.JSONDecodeError:
            pass  # a damaged options file: retrain
    proto = _train(texts(), config)
    directory.mkdir(parents=True, exist_ok=True)
    for path, data in ((model_path, proto), (options_path, json.dumps(options, indent=2).encode())):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return Tokenizer(proto)
