"""Decoding an imported Marian model: jaxformer's search against transformers' `generate()` on the
same weights, in one run, each framework in its own process held to the same CPU threads.

    python -m experiments.benchmarks.marian [--batches 1 32] [--beams 1 4] [--threads 2]

The model has opus-mt-en-de's shape (d_model 512, 6+6 layers, 8 heads, FFN 2048, SiLU, a
58,101-entry vocabulary) with random untrained weights (`marian_reference.build`, made once
under workdir/bench_marian), decoding generated English sentences of 3-9 words with generate()'s
Marian settings (forced EOS, pad banned, length penalty 1) and at most `--out-len` tokens. Before
any figure is printed, the two frameworks' outputs are compared token for token; the table says
how many of the batch's sentences agree. Sentences/s are medians over repeated calls after one
warm-up call (jaxformer's includes its compilation, reported apart). Needs the `marian` extra.
Writes experiments/results/benchmarks/marian.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from experiments.benchmarks.common import ROOT, run_worker, table, write_json

WORKER = "experiments.benchmarks.marian_worker"


def _strip(row: list[int], eos: int = 0) -> list[int]:
    return row[:row.index(eos) + 1] if eos in row else row


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", nargs="+", type=int, default=[1, 32])
    p.add_argument("--beams", nargs="+", type=int, default=[4])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out-len", type=int, default=32)
    p.add_argument("--d-model", type=int, default=512)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--vocab", type=int, default=58101)
    p.add_argument("--folder", default=str(ROOT / "workdir" / "bench_marian"))
    a = p.parse_args(argv)
    folder = Path(a.folder) / f"d{a.d_model}_l{a.layers}_v{a.vocab}"
    if not (folder / "config.json").is_file():
        from experiments.benchmarks.marian_reference import build
        build(folder, d_model=a.d_model, layers=a.layers, heads=8, ffn=4 * a.d_model, min_vocab=a.vocab,
              train_steps=0, max_length=a.out_len + 1)
    rows = []
    for batch in a.batches:
        for beam in a.beams:
            args = dict(folder=str(folder), batch=batch, beam=beam, out_len=a.out_len, threads=a.threads,
                        repeats=7 if batch == 1 else 3)
            j = run_worker(WORKER, {**args, "framework": "jaxformer"}, threads=a.threads)
            h = run_worker(WORKER, {**args, "framework": "transformers"}, threads=a.threads)
            same = sum(_strip(x) == _strip(y) for x, y in zip(j["tokens"], h["tokens"]))
            tokens = sum(len(_strip(r)) for r in h["tokens"])
            row = dict(batch=batch, search="greedy" if beam == 1 else f"beam {beam}", same=f"{same}/{batch}",
                       out_tokens=tokens / batch, jax_s=j["call_s"], hf_s=h["call_s"],
                       compile_s=j["first_call_s"] - j["call_s"], jax_sent_s=batch / j["call_s"],
                       hf_sent_s=batch / h["call_s"], ratio=h["call_s"] / j["call_s"],
                       jax_times=j["times"], hf_times=h["times"])
            rows.append(row)
            print(f"  batch {batch} {row['search']}: outputs equal for {row['same']} sentences; jaxformer "
                  f"{j['call_s']:.3f} s, transformers {h['call_s']:.3f} s", flush=True)
    print(table(rows, [("batch", "batch", "d"), ("search", "search", ""), ("same", "same output", ""),
                       ("out_tokens", "tokens/sentence", ".1f"), ("jax_sent_s", "jaxformer sent/s", ",.2f"),
                       ("hf_sent_s", "transformers sent/s", ",.2f"), ("ratio", "jaxformer / transformers", ".2f"),
                       ("compile_s", "jaxformer compile s", ".1f")]))
    path = write_json("marian", {"command": "python -m experiments.benchmarks.marian " + " ".join(
        sys.argv[1:] if argv is None else argv), "threads": a.threads, "out_len": a.out_len,
        "model": {"d_model": a.d_model, "layers": a.layers, "vocab": a.vocab}, "rows": rows})
    print(f"wrote {path}")
    return rows


if __name__ == "__main__":
    main()
