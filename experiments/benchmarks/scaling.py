"""Training throughput against sequence length and batch size, with the attention share of FLOPs.

    python -m experiments.benchmarks.scaling [--shape small] [--threads 2]

Lengths 64..1024 at 4096 target tokens per step (batch = 4096 / length, source length = target
length), then batch sizes at length 32. Each point is its own process (own compilation, excluded).
Prints a table, writes experiments/results/benchmarks/scaling.json and scaling.png.
"""

from __future__ import annotations

import argparse
import sys

from experiments.benchmarks.common import RESULTS, SHAPES, forward_flops, run_worker, table, train_flops, write_json
WORKER = "experiments.benchmarks.train_worker"


def point(shape: str, batch: int, length: int, threads: int, steps: int, peak: bool) -> dict:
    r = run_worker(WORKER, dict(framework="jaxformer", shape=shape, batch=batch, src_len=length, tgt_len=length,
                                steps=steps, threads=threads, peak=peak, warmup=1),
                   threads=threads)
    f = forward_flops(SHAPES[shape], batch, length, length)
    row = dict(batch=batch, length=length, step_s=r["step_s"], compile_s=r["compile_s"],
               tok_s=batch * length / r["step_s"], attention_share=f["attention"] / f["total"],
               gflops=train_flops(SHAPES[shape], batch, length, length) / r["step_s"] / 1e9,
               rss_mib=r["peak_rss_mib"], xla_temp_mib=r.get("xla_temp_mib"))
    if peak:
        row["matmul_peak"] = r["matmul_flops_per_s"]
    print(f"  batch {batch:4d} x length {length:5d}: {row['tok_s']:,.0f} tok/s, attention "
          f"{row['attention_share']:.0%} of FLOPs", flush=True)
    return row


def plot(by_length: list[dict], by_batch: list[dict], shape: str, path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    x = [r["length"] for r in by_length]
    a.plot(x, [r["tok_s"] for r in by_length], "o-", label="target tokens/s")
    a.set_xscale("log", base=2)
    a.set_xlabel("sequence length (4096 target tokens per step)")
    a.set_ylabel("target tokens/s")
    a2 = a.twinx()
    a2.plot(x, [100 * r["attention_share"] for r in by_length], "s--", color="tab:red", label="attention % of FLOPs")
    a2.set_ylabel("attention share of FLOPs (%)", color="tab:red")
    a.set_title(f"{shape}: throughput against length")
    xb = [r["batch"] for r in by_batch]
    b.plot(xb, [r["tok_s"] for r in by_batch], "o-")
    b.set_xscale("log", base=2)
    b.set_xlabel(f"batch size (length {by_batch[0]['length']})")
    b.set_ylabel("target tokens/s")
    b.set_title(f"{shape}: throughput against batch size")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shape", default="small", choices=sorted(SHAPES))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--lengths", nargs="+", type=int, default=[64, 128, 256, 512, 1024])
    p.add_argument("--batches", nargs="+", type=int, default=[16, 32, 64, 128, 256])
    a = p.parse_args(argv)
    by_length = [point(a.shape, 4096 // n, n, a.threads, a.steps, peak=(i == 0)) for i, n in enumerate(a.lengths)]
    by_batch = [point(a.shape, b, 32, a.threads, a.steps, peak=False) for b in a.batches]
    cols = [("batch", "batch", "d"), ("length", "length", "d"), ("tok_s", "tgt tok/s", ",.0f"),
            ("gflops", "GFLOP/s", ".1f"), ("attention_share", "attention FLOPs", ".1%"),
            ("compile_s", "compile s", ".1f"), ("rss_mib", "RSS MiB", ",.0f")]
    print(table(by_length, cols))
    print(table(by_batch, cols))
    RESULTS.mkdir(parents=True, exist_ok=True)
    png = RESULTS / "scaling.png"
    plot(by_length, by_batch, a.shape, png)
    path = write_json("scaling", {"command": "python -m experiments.benchmarks.scaling " + " ".join(sys.argv[1:] if argv is None else argv),
                                  "shape": a.shape, "threads": a.threads, "by_length": by_length, "by_batch": by_batch})
    print(f"wrote {path} and {png}")
    return {"by_length": by_length, "by_batch": by_batch}


if __name__ == "__main__":
    main()
