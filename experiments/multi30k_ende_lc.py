"""Multi30k English->German on lowercased text: the task of the Multi30k papers.

The papers that report tokenized BLEU on Multi30k (Wu et al. 2021's Transformer-tiny among them:
41.02 on test_2016_flickr) train and score on the task's lowercased files (`*.lc.norm.tok.*`),
so their model never has to choose a letter's case. This is experiments/multi30k_ende.py on that
task: the same model, budget and schedule, on lowercased copies of ../shared/corpora/multi30k
written once to ~/.cache/jaxformer/multi30k_lc (the corpus itself is read in place, never changed).
Its sacreBLEU is against lowercased references, so it is a lowercased score, not comparable with
multi30k_ende.py's cased one; the lowercased tokenized BLEU of the two is comparable.

    jaxformer train --config experiments/multi30k_ende_lc.py --workdir workdir/multi30k_lc
"""

import dataclasses
import os
from pathlib import Path

import multi30k_ende  # the neighbouring config (the loader puts this folder on sys.path)

from jaxformer.config import ExperimentConfig

SPLITS = ("train", "val", "test_2016_flickr")
LANGS = ("en", "de")


def lowercased_copies(corpus: Path, out: Path) -> Path:
    """`out` holding corpus/{split}.{lang} lowercased, written atomically if missing or older;
    `corpus` itself where it lacks a file (training then names the missing file)."""
    if not all((corpus / f"{split}.{lang}").is_file() for split in SPLITS for lang in LANGS):
        return corpus
    out.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        for lang in LANGS:
            src, dst = corpus / f"{split}.{lang}", out / f"{split}.{lang}"
            if dst.is_file() and dst.stat().st_mtime >= src.stat().st_mtime:
                continue
            tmp = dst.with_suffix(dst.suffix + ".tmp")
            tmp.write_text(src.read_text(encoding="utf-8").lower(), encoding="utf-8")
            os.replace(tmp, dst)
    return out


def get_config() -> ExperimentConfig:
    base = multi30k_ende.get_config()
    d = lowercased_copies(multi30k_ende.CORPUS, Path.home() / ".cache" / "jaxformer" / "multi30k_lc")
    files = (("train", (f"{d}/train",)), ("validation", (f"{d}/val",)), ("test", (f"{d}/test_2016_flickr",)))
    return dataclasses.replace(base, name="multi30k_ende_lc", data=dataclasses.replace(base.data, files=files))
