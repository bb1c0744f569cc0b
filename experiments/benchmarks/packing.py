"""Batching efficiency: the share of non-pad token slots on real length distributions.

    python -m experiments.benchmarks.packing [--corpora ../shared/corpora]

For Multi30k en-de train (29,000 pairs) and newstest2008-2012 en-de (the news length
distribution, about 13,000 pairs), tokenized with an 8,000-piece shared BPE trained on the same
text, compares what one epoch costs in padded slots under four batchings:
  - fixed: every sentence padded to max_length (a static-shape loader without bucketing),
  - batch max: shuffled batches of a fixed sentence count padded to their longest member,
  - bucket: jaxformer's token-budget length buckets (data.batching=bucket),
  - pack: jaxformer's first-fit packing of several pairs per row (data.batching=pack).
The corpora are read in place; the run skips a corpus whose folder is absent. Writes
experiments/results/benchmarks/packing.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from experiments.benchmarks.common import ROOT, table, write_json

CORPORA = {
    "multi30k": ("multi30k", ["train"]),
    "newstest2008-2012": ("newstest2008-2012_en-de",
                          ["news-test2008", "newstest2009", "newstest2010", "newstest2011", "newstest2012"]),
}


def read_pairs(folder: Path, prefixes: list[str]) -> tuple[list[str], list[str]]:
    from jaxformer.data.text import decode_lines
    en, de = [], []
    for p in prefixes:
        a = decode_lines((folder / f"{p}.en").read_bytes(), f"{p}.en")
        b = decode_lines((folder / f"{p}.de").read_bytes(), f"{p}.de")
        if len(a) != len(b):
            raise SystemExit(f"{folder}/{p}: {len(a)} English lines but {len(b)} German lines")
        en += a
        de += b
    return en, de


def examples(name: str, en: list[str], de: list[str], vocab: int) -> list[dict[str, np.ndarray]]:
    from jaxformer.config import TokenizerConfig
    from jaxformer.data.tokenizer import train_or_load
    cache = Path.home() / ".cache" / "jaxformer" / "benchmarks" / name
    tok = train_or_load(cache, lambda: en + de, TokenizerConfig(vocab_size=vocab, model_type="bpe"))
    return [{"inputs": x, "targets": y} for x, y in zip(tok.encode_batch(en), tok.encode_batch(de))]


def padded_share(lengths_in: np.ndarray, lengths_out: np.ndarray, widths: np.ndarray) -> dict[str, float]:
    return {"inputs": lengths_in.sum() / widths.sum(), "targets": lengths_out.sum() / widths.sum()}


def measure(exs: list[dict[str, np.ndarray]], *, max_length: int, batch_size: int, tokens_per_batch: int,
            pack_length: int, boundaries: tuple[int, ...]) -> list[dict]:
    import grain

    from jaxformer.data import batching

    exs = [e for e in exs if len(e["inputs"]) <= max_length and len(e["targets"]) <= max_length]
    order = np.random.default_rng(0).permutation(len(exs))
    exs = [exs[i] for i in order]
    li = np.array([len(e["inputs"]) for e in exs])
    lo = np.array([len(e["targets"]) for e in exs])
    rows = []
    share = padded_share(li, lo, np.full(len(exs), max_length))
    rows.append(dict(batching=f"fixed (pad to {max_length})", **share))
    n = len(exs) // batch_size * batch_size
    widths = np.repeat(np.maximum(li[:n], lo[:n]).reshape(-1, batch_size).max(axis=1), batch_size)
    rows.append(dict(batching=f"batch max ({batch_size} sentences)", **padded_share(li[:n], lo[:n], widths)))
    ds = grain.MapDataset.source(exs)
    s = batching.non_pad_fraction(batching.bucket_by_tokens(ds, boundaries, tokens_per_batch))
    rows.append(dict(batching=f"bucket ({tokens_per_batch} tokens, {'/'.join(map(str, boundaries))})",
                     inputs=s["inputs"], targets=s["targets"]))
    packed_rows = tokens_per_batch // pack_length
    s = batching.non_pad_fraction(batching.pack_batches(ds, packed_rows, pack_length))
    rows.append(dict(batching=f"pack ({packed_rows} rows of {pack_length})", inputs=s["inputs"], targets=s["targets"]))
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpora", type=Path, default=ROOT.parent / "shared" / "corpora")
    p.add_argument("--vocab", type=int, default=8000)
    a = p.parse_args(argv)
    out = []
    for name, (folder, prefixes) in CORPORA.items():
        path = a.corpora / folder
        if not path.is_dir():
            print(f"skipping {name}: {path} is absent")
            continue
        en, de = read_pairs(path, prefixes)
        exs = examples(name, en, de, a.vocab)
        tgt = np.array([len(e["targets"]) for e in exs])
        print(f"{name}: {len(exs):,} pairs, target length mean {tgt.mean():.1f}, median {np.median(tgt):.0f}, "
              f"99th percentile {np.percentile(tgt, 99):.0f}, max {tgt.max()}")
        long = name != "multi30k"
        rows = measure(exs, max_length=256 if long else 80, batch_size=64, tokens_per_batch=4096,
                       pack_length=256 if long else 80,
                       boundaries=(16, 32, 48, 64, 96, 128, 256) if long else (16, 24, 32, 48, 80))
        for r in rows:
            r["corpus"] = name
        out += rows
    print(table(out, [("corpus", "corpus", ""), ("batching", "batching", ""), ("inputs", "source non-pad", ".1%"),
                      ("targets", "target non-pad", ".1%")]))
    path = write_json("packing", {"command": "python -m experiments.benchmarks.packing " + " ".join(sys.argv[1:] if argv is None else argv),
                                  "rows": out})
    print(f"wrote {path}")
    return out


if __name__ == "__main__":
    main()
