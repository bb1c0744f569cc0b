"""Datasets prepared once into array_record by tensorflow-datasets and read with
`tfds.data_source`, so training never imports TensorFlow.

- `ParallelText`: the project's builder for local parallel files (one sentence a line, line i of
  one side translating line i of the other, named `<prefix>.<lang>`), and for the generated
  corpus of `jaxformer.data.synthetic`. Building it needs no TensorFlow.
- WMT (`wmt14_translate/de-en`, `fr-en`, `wmt17_translate/de-en`) is tfds' own builder, which
  needs TensorFlow to build once (`pip install "jaxformer[wmt]"`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow_datasets as tfds

from jaxformer.config import ConfigError
from jaxformer.data.text import decode_lines

SPLITS = ("train", "validation", "test")

# tfds' WMT builders are named by pair with German/French first; the direction is ours to choose.
WMT = {
    ("wmt14", "de", "en"): "wmt14_translate/de-en",
    ("wmt14", "fr", "en"): "wmt14_translate/fr-en",
    ("wmt17", "de", "en"): "wmt17_translate/de-en",
}


@dataclasses.dataclass(eq=False)
class ParallelTextConfig(tfds.core.BuilderConfig):
    """Which text becomes which split. `files` maps a split to file prefixes (`<prefix>.<lang>`,
    several are concatenated); `synthetic` names a generated pair ("en-de", "en-fr") instead."""

    source_lang: str = "en"
    target_lang: str = "de"
    files: tuple[tuple[str, tuple[str, ...]], ...] = ()
    synthetic: str = ""
    synthetic_seed: int = 0
    max_chars: int = 1000  # longer training lines are skipped (counted); evaluation keeps all


class ParallelText(tfds.core.GeneratorBasedBuilder):
    """Local or generated parallel text as a tfds dataset with features {src_lang, tgt_lang, index}."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self) -> tfds.core.DatasetInfo:
        cfg = self.builder_config
        return tfds.core.DatasetInfo(
            builder=self,
            description="Parallel text prepared by jaxformer.",
            features=tfds.features.FeaturesDict({
                cfg.source_lang: tfds.features.Text(),
                cfg.target_lang: tfds.features.Text(),
                "index": tfds.features.Scalar(dtype=np.int64),  # line number: eval keeps input order
            }),
            metadata=tfds.core.MetadataDict(),
        )

    def _split_generators(self, dl_manager):
        cfg = self.builder_config
        # Read and check everything before tfds writes anything: bad input fails fast and clean.
        splits = {split: _read_split(cfg, split) for split in _split_names(cfg)}
        self.info.metadata["skipped"] = {split: skipped for split, (_, skipped) in splits.items()}
        return {split: self._generate_examples(pairs) for split, (pairs, _) in splits.items()}

    def _generate_examples(self, pairs: list[tuple[int, str, str]]):
        cfg = self.builder_config
        for index, src, tgt in pairs:
            yield index, {cfg.source_lang: src, cfg.target_lang: tgt, "index": index}


def _split_names(cfg: ParallelTextConfig) -> list[str]:
    if cfg.synthetic:
        return list(SPLITS)
    return list(dict.fromkeys(split for split, _ in cfg.files))


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise ConfigError(f"missing file {path}; parallel files are named <prefix>.<lang>, check the prefix and languages")
    return decode_lines(path.read_bytes(), str(path))


def _read_split(cfg: ParallelTextConfig, split: str) -> tuple[list[tuple[int, str, str]], dict[str, int]]:
    """(index, source, target) triples of one split, and the counts of skipped training pairs."""
    if cfg.synthetic:
        from jaxformer.data import synthetic
        raw = synthetic.generate(cfg.synthetic, split, seed=cfg.synthetic_seed)
    else:
        raw = []
        for prefix in (p for s, prefixes in cfg.files if s == split for p in prefixes):
            src = _read_lines(Path(f"{prefix}.{cfg.source_lang}"))
            tgt = _read_lines(Path(f"{prefix}.{cfg.target_lang}"))
            if len(src) != len(tgt):
                raise ConfigError(f"{prefix}.{cfg.source_lang} has {len(src)} lines but {prefix}.{cfg.target_lang} "
                                  f"has {len(tgt)}; parallel files must match line for line")
            raw.extend(zip(src, tgt))
    skipped = {"empty": 0, "too_long": 0}
    pairs = []
    for index, (src, tgt) in enumerate(raw):
        src, tgt = src.strip(), tgt.strip()
        if split == "train":  # evaluation keeps every line so scores use the whole test set
            if not src or not tgt:
                skipped["empty"] += 1
                continue
            if max(len(src), len(tgt)) > cfg.max_chars:
                skipped["too_long"] += 1
                continue
        pairs.append((index, src, tgt))
    return pairs, skipped


def _fingerprint(cfg: dict[str, Any]) -> str:
    """Changes when the options or any input file changes, so a stale build is never reused."""
    h = hashlib.sha256(json.dumps(cfg, sort_keys=True).encode())
    if cfg["synthetic"]:
        from jaxformer.data import synthetic
        h.update(f"grammar {synthetic.VERSION}".encode())
    for _, prefixes in cfg["files"]:
        for prefix in prefixes:
            for lang in (cfg["source_lang"], cfg["target_lang"]):
                p = Path(f"{prefix}.{lang}")
                if p.is_file():
                    st = p.stat()
                    h.update(f"{p.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:10]


def parallel_text(name: str, data_dir: str | os.PathLike, *, source_lang: str, target_lang: str,
                  files: dict[str, list[str]] | None = None, synthetic: str = "", synthetic_seed: int = 0,
                  max_chars: int = 1000) -> tuple[dict[str, Any], dict[str, dict[str, int]]]:
    """Prepares (once) and opens a local or generated corpus: ({split: data source}, skipped counts).

    `files` maps a split to file prefixes, e.g. {"train": ["corpora/multi30k/train"]}.
    """
    options = dict(source_lang=source_lang, target_lang=target_lang, synthetic=synthetic,
                   synthetic_seed=synthetic_seed, max_chars=max_chars,
                   files=[[split, list(map(str, prefixes))] for split, prefixes in (files or {}).items()])
    if not files and not synthetic:
        raise ConfigError(f"dataset {name!r} names neither files nor a synthetic pair")
    config = ParallelTextConfig(
        name=f"{name}_{_fingerprint(options)}", source_lang=source_lang, target_lang=target_lang,
        files=tuple((s, tuple(p)) for s, p in options["files"]), synthetic=synthetic,
        synthetic_seed=synthetic_seed, max_chars=max_chars)
    builder = ParallelText(config=config, data_dir=os.fspath(data_dir), file_format="array_record")
    builder.download_and_prepare()
    skipped = dict(builder.info.metadata.get("skipped", {}))
    return {split: builder.as_data_source(split=split) for split in builder.info.splits}, skipped


def wmt(year: str, source_lang: str, target_lang: str, data_dir: str | os.PathLike, *,
        download: bool = True) -> dict[str, Any]:
    """Opens tfds' WMT dataset for a direction (the paper's: en->de, en->fr), building it first
    if needed; building needs TensorFlow and the network (or files in the tfds manual dir)."""
    pair = tuple(sorted((source_lang, target_lang), key=lambda lang: lang == "en"))
    name = WMT.get((year, *pair))
    if name is None:
        raise ConfigError(f"no WMT dataset for {year} {source_lang}-{target_lang}; available: "
                          + ", ".join(f"{y} {a}<->{b}" for y, a, b in WMT))
    try:  # a prepared dataset is read straight from its files: no TensorFlow, no builder code
        return tfds.data_source(name, split={s: s for s in SPLITS}, data_dir=os.fspath(data_dir), download=False)
    except (tfds.core.registered.DatasetNotFoundError, AssertionError, FileNotFoundError):
        pass
    if not download:
        raise ConfigError(f"{name} is not prepared under {data_dir}; run `jaxformer prepare` where the network "
                          f"and TensorFlow are available, or copy the prepared folder there")
    try:
        import tensorflow  # noqa: F401  (only to build; reading never needs it)
        import tensorflow_datasets.translate  # noqa: F401  (registers the WMT builders)
    except ImportError:
        raise ConfigError(f"building {name} needs TensorFlow: pip install 'jaxformer[wmt]' "
                          "(or copy an already prepared folder into the data dir)") from None
    builder = tfds.builder(name, data_dir=os.fspath(data_dir), file_format="array_record")
    try:
        builder.download_and_prepare()
    except Exception as e:  # network, manual-download or disk problems
        first = str(e).splitlines()[0] if str(e) else ""
        raise ConfigError(f"preparing {name} failed ({type(e).__name__}: {first}); check the network "
                          f"or put the WMT files in {builder.data_dir}/downloads/manual") from None
    return {split: builder.as_data_source(split=split) for split in SPLITS}
