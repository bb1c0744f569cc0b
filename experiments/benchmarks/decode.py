"""Decoding speed: jaxformer's cached greedy and beam search against PyTorch nn.Transformer
decoding without a cache (each step re-runs the decoder over the whole prefix), in one run.

    python -m experiments.benchmarks.decode [--shapes small] [--batches 1 32] [--threads 2]

Random untrained weights, 24-token sources, exactly 32 output tokens per sentence (EOS is never
produced, so both frameworks do the same number of steps), beam 4 keeping 4 hypotheses alive.
Sentences/s and output tokens/s are medians over repeated calls (15 at batch 1, 5 at batch 32)
after one warm-up call (which includes jaxformer's compilation, reported apart); the range of
jaxformer's calls is printed too, since a 0.1-0.3 s call varies by up to 1.5x on a shared
2-core machine. Writes experiments/results/benchmarks/decode.json.
"""

from __future__ import annotations

import argparse
import sys

from experiments.benchmarks.common import SHAPES, run_worker, table, write_json

WORKER = "experiments.benchmarks.decode_worker"


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shapes", nargs="+", default=["small"], choices=sorted(SHAPES))
    p.add_argument("--batches", nargs="+", type=int, default=[1, 32])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--src-len", type=int, default=24)
    p.add_argument("--out-len", type=int, default=32)
    a = p.parse_args(argv)
    rows = []
    for shape in a.shapes:
        for batch in a.batches:
            for mode, beam in (("greedy", 1), ("beam", 4)):
                args = dict(shape=shape, batch=batch, mode=mode, beam=beam, src_len=a.src_len, out_len=a.out_len,
                            threads=a.threads, repeats=15 if batch == 1 else 5)
                j = run_worker(WORKER, {**args, "framework": "jaxformer"}, threads=a.threads)
                t = run_worker(WORKER, {**args, "framework": "torch"}, threads=a.threads)
                row = dict(shape=shape, batch=batch, search="greedy" if beam == 1 else f"beam {beam}",
                           jax_s=j["call_s"], torch_s=t["call_s"], compile_s=j["first_call_s"] - j["call_s"],
                           jax_sent_s=batch / j["call_s"], torch_sent_s=batch / t["call_s"],
                           jax_tok_s=batch * a.out_len / j["call_s"], torch_tok_s=batch * a.out_len / t["call_s"],
                           jax_times=j["times"], torch_times=t["times"],
                           jax_range=f"{batch / max(j['times']):.1f}-{batch / min(j['times']):.1f}")
                row["ratio"] = t["call_s"] / j["call_s"]
                rows.append(row)
                print(f"  {shape} batch {batch} {row['search']}: jaxformer {j['call_s']:.3f} s, "
                      f"PyTorch (no cache) {t['call_s']:.3f} s", flush=True)
    print(table(rows, [("shape", "config", ""), ("batch", "batch", "d"), ("search", "search", ""),
                       ("jax_sent_s", "jaxformer sent/s", ",.1f"),
                       ("jax_range", "jaxformer sent/s, slowest-fastest call", ""), ("jax_tok_s", "jaxformer tok/s", ",.0f"),
                       ("torch_sent_s", "PyTorch sent/s", ",.1f"), ("torch_tok_s", "PyTorch tok/s", ",.0f"),
                       ("ratio", "ratio", ".2f"), ("compile_s", "jaxformer compile s", ".1f")]))
    path = write_json("decode", {"command": "python -m experiments.benchmarks.decode " + " ".join(sys.argv[1:] if argv is None else argv),
                                 "threads": a.threads, "src_len": a.src_len, "out_len": a.out_len, "rows": rows})
    print(f"wrote {path}")
    return rows


if __name__ == "__main__":
    main()
