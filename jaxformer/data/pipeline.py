"""The input pipeline: a prepared tfds data source -> tokenize -> length filter -> pack or bucket
-> fixed-shape batches, on Grain, sharded per process, with checkpointable iterator state.

Training reads a seeded, per-epoch reshuffled stream; each process reads only its own disjoint
slice of it. Evaluation keeps every example (no length filter, no dropped remainder) with its
raw reference text, sorted by length into a few padded widths for fast decoding.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import grain
import numpy as np

from jaxformer.config import ConfigError, DataConfig, TokenizerConfig
from jaxformer.data import batching, builders
from jaxformer.data.subword_sampling import SampledPairs
from jaxformer.data.text import feature_text as text
from jaxformer.data.tokenizer import Tokenizer, train_or_load


@dataclasses.dataclass
class Prepared:
    """A prepared corpus: random-access sources per split, the shared tokenizer, and what was
    skipped on the way (counted, never silent)."""

    config: DataConfig
    sources: dict[str, Any]
    tokenizer: Tokenizer
    directory: Path  # tokenizer and length caches
    skipped: dict[str, dict[str, int]]
    train_keep: np.ndarray  # indices of training pairs within max_length tokens

    def source(self, split: str):
        if split not in self.sources:
            raise ConfigError(f"split {split!r} is not in this dataset (it has {sorted(self.sources)}); "
                              f"set data.{'eval' if split != self.config.train_split else 'train'}_split")
        return self.sources[split]

    def pair(self, split: str, i: int) -> tuple[str, str, int]:
        """(source text, target text, original index) of example i of `split`."""
        ex = self.source(split)[i]
        return text(ex[self.config.source_lang]), text(ex[self.config.target_lang]), int(ex.get("index", i))


def _open(cfg: DataConfig) -> tuple[dict[str, Any], dict[str, dict[str, int]], str]:
    data_dir = Path(os.path.expanduser(cfg.data_dir))
    pair = f"{cfg.source_lang}-{cfg.target_lang}"
    if cfg.dataset == "synthetic":
        sources, skipped = builders.parallel_text(f"synthetic_{pair.replace('-', '_')}", data_dir,
                                                  source_lang=cfg.source_lang, target_lang=cfg.target_lang,
                                                  synthetic=pair, synthetic_seed=cfg.seed, max_chars=cfg.max_chars)
    elif cfg.dataset == "files":
        files: dict[str, list[str]] = {}
        for split, prefixes in cfg.files:
            files.setdefault(split, []).extend(prefixes)
        sources, skipped = builders.parallel_text("files", data_dir, source_lang=cfg.source_lang,
                                                  target_lang=cfg.target_lang, files=files, max_chars=cfg.max_chars)
    else:
        sources, skipped = builders.wmt(cfg.dataset, cfg.source_lang, cfg.target_lang, data_dir), {}
    first = next(iter(sources.values()))
    info = getattr(first, "dataset_info", None)
    name = info.full_name.replace("/", "_") if info is not None else f"{cfg.dataset}_{pair}"
    return sources, skipped, name


def prepare(cfg: DataConfig, *, log=print) -> Prepared:
    """Builds the dataset (once), trains or loads the tokenizer, and scans training lengths."""
    sources, skipped, name = _open(cfg)
    tok_cfg = cfg.tokenizer
    base = Path(os.path.expanduser(cfg.data_dir)) / "tokenizers" / f"{name}_{cfg.source_lang}-{cfg.target_lang}"
    train = sources.get(cfg.train_split)
    if train is None:
        raise ConfigError(f"the dataset has no split {cfg.train_split!r} (it has {sorted(sources)}); set data.train_split")

    def texts():
        n = len(train)
        per_side = max(1, tok_cfg.max_training_sentences // 2)
        order = np.random.default_rng(0).permutation(n)[:per_side] if n > per_side else range(n)
        for i in order:
            ex = train[int(i)]
            yield text(ex[cfg.source_lang])
            yield text(ex[cfg.target_lang])

    if tok_cfg.pretrained:
        from jaxformer.data.marian_tokenizer import MarianTokenizer
        tokenizer = MarianTokenizer.from_files(os.path.expanduser(tok_cfg.pretrained))
        directory = base / f"pretrained_{_key(tokenizer.fingerprint(), cfg.train_split)}"  # the length cache only
        directory.mkdir(parents=True, exist_ok=True)
    else:
        directory = base / tokenizer_folder(tok_cfg, cfg.train_split)
        tokenizer = train_or_load(directory, texts, tok_cfg)
    lengths = _train_lengths(directory / f"train_lengths_{tokenizer.fingerprint()[:12]}.npy", train, tokenizer, cfg)
    keep = np.flatnonzero(lengths.max(axis=1) <= cfg.max_length)
    skipped = {split: dict(v) for split, v in skipped.items()}
    skipped.setdefault(cfg.train_split, {})["longer_than_max_length"] = int(len(lengths) - len(keep))
    if len(keep) == 0:
        raise ConfigError(f"no training pair is within data.max_length={cfg.max_length} tokens; raise it")
    for split, counts in skipped.items():
        if any(counts.values()):
            log(f"data: {split}: skipped " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items() if v))
    return Prepared(cfg, sources, tokenizer, directory, skipped, keep)


def tokenizer_folder(tok_cfg: TokenizerConfig, train_split: str) -> str:
    """The cache folder of a trained tokenizer within its dataset's folder: keyed by every option
    that shapes it and by the split it learns from (the dataset and the language pair key the
    folder above), so that two configs sharing a data_dir keep two tokenizers and switching back
    reuses the first instead of retraining it over the other."""
    return f"{tok_cfg.model_type}{tok_cfg.vocab_size}_{_key(dataclasses.asdict(tok_cfg), train_split)}"


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:10]


def _train_lengths(path: Path, train, tokenizer: Tokenizer, cfg: DataConfig) -> np.ndarray:
    """[N, 2] token lengths (source, target) of every training pair, cached beside the tokenizer
    under a name keyed by its digest (lengths depend on nothing else in this folder)."""
    if path.is_file():
        lengths = np.load(path)
        if len(lengths) == len(train):
            return lengths
    lengths = np.zeros((len(train), 2), np.int32)
    chunk = 4096
    for start in range(0, len(train), chunk):
        exs = [train[i] for i in range(start, min(start + chunk, len(train)))]
        for side, (lang, encode) in enumerate(((cfg.source_lang, tokenizer.encode_batch),
                                               (cfg.target_lang, tokenizer.encode_target_batch))):
            ids = encode([text(ex[lang]) for ex in exs])
            lengths[start:start + len(exs), side] = [len(x) for x in ids]
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, lengths)
    os.replace(tmp, path)
    return lengths


def _check_divisible(global_size: int, process_count: int, what: str) -> int:
    if global_size % process_count:
        raise ConfigError(f"data.{what}={global_size} is not divisible by the {process_count} processes; "
                          f"use a multiple of {process_count}")
    return global_size // process_count


def train_examples(prep: Prepared, *, process_index: int = 0, process_count: int = 1) -> grain.MapDataset:
    """This process's endless stream of tokenized training pairs, before batching.

    Epoch e is a fresh permutation seeded by (data.seed, e); process p takes every
    process_count-th element of that stream starting at p, so shards are disjoint and cover it.
    With data.subword_sampling the pairs are segmented by sampling (`subword_sampling.SampledPairs`).
    """
    cfg, tok = prep.config, prep.tokenizer
    source, keep = prep.source(cfg.train_split), prep.train_keep
    src_lang, tgt_lang = cfg.source_lang, cfg.target_lang

    def load(i: int) -> dict[str, np.ndarray]:
        ex = source[int(keep[i])]
        return {"inputs": tok.encode(text(ex[src_lang])), "targets": tok.encode_target(text(ex[tgt_lang]))}

    order = grain.MapDataset.range(len(keep)).shuffle(seed=cfg.seed).repeat(None)[process_index::process_count]
    if cfg.subword_sampling > 0:
        return order.map_with_index(SampledPairs(prep, order, (process_index, process_count)))
    return order.map(load)


def train_batches(prep: Prepared, *, process_index: int = 0, process_count: int = 1) -> grain.IterDataset:
    """This process's share of each global training batch, packed or bucketed; its iterator
    state (`get_state` / `set_state`) resumes at exactly the next batch.

    Packed batches are the concatenation of `data.shards` shard streams (default: one per
    process), each packing its own rows; process p builds the shards s with s % P == p. So a
    single process with shards=2 yields exactly the global batches of a 2-process run.
    """
    cfg = prep.config
    if cfg.batching == "pack":
        shards = cfg.shards or process_count
        if shards % process_count:
            raise ConfigError(f"data.shards={shards} is not a multiple of the {process_count} processes")
        rows = _check_divisible(cfg.batch_size, shards, "batch_size")
        if cfg.pack_length < cfg.max_length:
            raise ConfigError(f"data.pack_length={cfg.pack_length} is shorter than data.max_length={cfg.max_length}; "
                              "a kept example would not fit a row")
        mine = [batching.pack_batches(_read(train_examples(prep, process_index=s, process_count=shards)),
                                      rows, cfg.pack_length)
                for s in range(process_index, shards, process_count)]
        return mine[0] if len(mine) == 1 else _Concat(mine)
    if process_count > 1:
        raise ConfigError("data.batching='bucket' runs in a single process for now (every process would need the "
                          "same bucket shape at each step); use data.batching=pack for multi-host training")
    tokens = _check_divisible(cfg.tokens_per_batch, process_count, "tokens_per_batch")
    if cfg.bucket_boundaries[-1] < cfg.max_length:
        raise ConfigError(f"the last data.bucket_boundaries entry {cfg.bucket_boundaries[-1]} is below "
                          f"data.max_length={cfg.max_length}; extend the boundaries or lower max_length")
    return batching.bucket_by_tokens(_read(train_examples(prep)), cfg.bucket_boundaries, tokens)


def _read(ds: grain.MapDataset) -> grain.IterDataset:
    return ds.to_iter_dataset(grain.ReadOptions(num_threads=2, prefetch_buffer_size=256))


class _ConcatIterator(grain.DatasetIterator):
    """Row-concatenates one batch from each parent; its state is the list of parent states."""

    def __init__(self, parents: list[grain.DatasetIterator]):
        super().__init__()
        self._parents = parents

    def __next__(self) -> dict[str, np.ndarray]:
        parts = [next(p) for p in self._parents]
        return {k: np.concatenate([b[k] for b in parts]) for k in parts[0]}

    def get_state(self) -> dict[str, Any]:
        return {"shards": [p.get_state() for p in self._parents]}

    def set_state(self, state: dict[str, Any]) -> None:
        for p, s in zip(self._parents, state["shards"]):
            p.set_state(s)


class _Concat(grain.IterDataset):
    def __init__(self, parents: list[grain.IterDataset]):
        super().__init__(parents)
        self._shards = parents

    def __iter__(self) -> _ConcatIterator:
        return _ConcatIterator([iter(p) for p in self._shards])


@dataclasses.dataclass
class EvalSet:
    """Every example of a split in input order, with raw texts, and fixed-shape batches of them."""

    sources: list[str]
    references: list[str]
    batches: list[dict[str, np.ndarray]]  # each: inputs [B, S], targets [B, T], index [B], valid [B]


def split_texts(prep: Prepared, split: str, limit: int | None = None) -> tuple[list[str], list[str]]:
    """(sources, references) of `split` in original line order (its first `limit` lines)."""
    rows = sorted((prep.pair(split, i) for i in range(len(prep.source(split)))), key=lambda r: r[2])[:limit]
    return [r[0] for r in rows], [r[1] for r in rows]


def eval_set(prep: Prepared, split: str, *, batch_size: int | None = None, limit: int | None = None,
             process_index: int = 0, process_count: int = 1) -> EvalSet:
    """All of `split` (or its first `limit` examples, by original line order): nothing filtered.

    Batches hold examples sorted by source length, padded to a few widths (`batching.bucket_width`),
    so that the evaluation step compiles a handful of programs and wastes little on padding.
    With several processes, each gets the same number of batches holding its own rows.
    """
    cfg, tok = prep.config, prep.tokenizer
    srcs, refs = split_texts(prep, split, limit)
    batch_size = _check_divisible(batch_size or cfg.eval_batch_size, process_count, "eval_batch_size")
    ids_src, ids_tgt = tok.encode_batch(srcs), tok.encode_target_batch(refs)
    order = sorted(range(len(srcs)), key=lambda i: (len(ids_src[i]), i))
    per_batch = batch_size * process_count
    batches = []
    for start in range(0, len(order), per_batch):
        chunk = order[start:start + per_batch]
        mine = chunk[process_index::process_count]
        width_s = batching.bucket_width(max(len(ids_src[i]) for i in chunk))
        width_t = batching.bucket_width(max(len(ids_tgt[i]) for i in chunk))
        b = {"inputs": np.zeros((batch_size, width_s), np.int32), "targets": np.zeros((batch_size, width_t), np.int32),
             "index": np.full((batch_size,), -1, np.int32), "valid": np.zeros((batch_size,), bool)}
        for r, i in enumerate(mine):
            b["inputs"][r, :len(ids_src[i])] = ids_src[i]
            b["targets"][r, :len(ids_tgt[i])] = ids_tgt[i]
            b["index"][r], b["valid"][r] = i, True
        batches.append(b)
    return EvalSet(srcs, refs, batches)
