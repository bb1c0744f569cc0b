"""Training throughput, jaxformer against PyTorch nn.Transformer of the same shape, in one run.

    python -m experiments.benchmarks.train [--shapes small base] [--steps 6] [--threads 2]

On a GPU (no peer; bf16 and cuDNN attention; 25000 target tokens per step as in the paper):

    python -m experiments.benchmarks.train --shapes big --no-peer --batch 782 --length 32 \
        --set dtype=bfloat16 --set attention_impl=cudnn

For each shape: 4096 target tokens per step (128 sentences of 32 source and 32 target tokens, no
padding), the median step time over `steps` timed steps after `warmup` (4) untimed ones (the
first 4 jaxformer steps still grow the glibc heap, 300,000 page faults each), each framework in
its own process pinned to `threads` cores, the frameworks interleaved `rounds` times so that a
noisy neighbour hits all. jaxformer runs with the glibc settings its CLI applies
(jaxformer/hostmem.py); PyTorch runs twice, as it comes and with those same settings, which
speed it up as much: both ratios are printed. jaxformer's layers are unrolled (the default,
faster per step); the compile time of the scanned stack (`model.scan_layers=True`) is reported
beside the unrolled one. Model FLOPs (see common.forward_flops) per second are compared with a
float32 2048x2048 jnp.dot measured in the same run. Prints a Markdown table, writes
experiments/results/benchmarks/train.json.
"""

from __future__ import annotations

import argparse
import sys

from experiments.benchmarks.common import SHAPES, median, run_worker, table, train_flops, write_json

WORKER = "experiments.benchmarks.train_worker"


def measure(shape: str, *, steps: int, threads: int, rounds: int, batch: int = 128, length: int = 32,
            model: dict | None = None, peer: bool = True, accum: int = 1, scan_compile: bool = True,
            prng: str | None = None, profile_out: str | None = None, xla_flags: str = "", warmup: int = 4) -> dict:
    args = dict(shape=shape, batch=batch, src_len=length, tgt_len=length, steps=steps, warmup=warmup, threads=threads,
                model=model or {}, train={"grad_accum_steps": accum}, prng=prng,
                profile_out=profile_out)
    jx, pt, pt0, peaks, compile_s, scan_compile_s = [], [], [], [], [], []
    j = t = t0 = {}
    for r in range(rounds):
        j = run_worker(WORKER, {**args, "framework": "jaxformer", "peak": True, "scan_compile": scan_compile and r == 0},
                       threads=threads, xla_flags=xla_flags)
        jx += j["times"]
        peaks.append(j["matmul_flops_per_s"])
        compile_s.append(j["compile_s"])
        if j.get("scan_compile_s"):
            scan_compile_s.append(j["scan_compile_s"])
        line = f"  {shape} round {r + 1}: jaxformer {j['step_s']:.3f} s/step"
        if peer:
            t = run_worker(WORKER, {**args, "framework": "torch"}, threads=threads)
            t0 = run_worker(WORKER, {**args, "framework": "torch", "default_malloc": True}, threads=threads)
            pt += t["times"]
            pt0 += t0["times"]
            line += f", PyTorch {t0['step_s']:.3f} s/step as it comes, {t['step_s']:.3f} with the same glibc settings"
        print(f"{line}, matmul peak {j['matmul_flops_per_s'] / 1e9:.1f} GFLOP/s ({j['matmul_dtype']})", flush=True)
    tokens = batch * length
    flops = train_flops(SHAPES[shape], batch, length, length)
    peak = median(peaks)
    row = dict(shape=shape, batch=batch, length=length, accum=accum, model=args["model"], tokens_per_step=tokens,
               flops_per_step=flops, matmul_peak=peak, matmul_dtype=j["matmul_dtype"], backend=j["backend"],
               jax_step_s=median(jx), compile_s=median(compile_s),
               scan_compile_s=median(scan_compile_s) if scan_compile_s else None, jax_rss_mib=j["peak_rss_mib"],
               xla_temp_mib=j.get("xla_temp_mib"), gpu_peak_gib=j.get("gpu_peak_gib"), prng=prng, xla_flags=xla_flags,
               jax_times=jx)
    row["jax_tok_s"] = tokens / row["jax_step_s"]
    row["jax_gflops"] = flops / row["jax_step_s"] / 1e9
    row["jax_util"] = flops / row["jax_step_s"] / peak
    if peer:
        row.update(torch_step_s=median(pt), torch_rss_mib=t["peak_rss_mib"], torch_version=t["torch"], torch_times=pt,
                   torch_default_step_s=median(pt0), torch_default_times=pt0)
        row["torch_tok_s"] = tokens / row["torch_step_s"]
        row["torch_default_tok_s"] = tokens / row["torch_default_step_s"]
        row["ratio"] = row["jax_tok_s"] / row["torch_tok_s"]
        row["ratio_default"] = row["jax_tok_s"] / row["torch_default_tok_s"]
        row["torch_gflops"] = flops / row["torch_step_s"] / 1e9
        row["torch_util"] = flops / row["torch_step_s"] / peak
    return row


COLUMNS = [("shape", "config", ""), ("accum", "micro-batches", "d"), ("jax_tok_s", "jaxformer tgt tok/s", ",.0f"),
           ("torch_default_tok_s", "PyTorch as it comes", ",.0f"), ("ratio_default", "ratio", ".2f"),
           ("torch_tok_s", "PyTorch, same glibc settings", ",.0f"), ("ratio", "ratio", ".2f"),
           ("jax_gflops", "jaxformer GFLOP/s", ".1f"), ("jax_util", "jaxformer of jnp.dot", ".0%"),
           ("torch_util", "PyTorch (same settings) of jnp.dot", ".0%"), ("compile_s", "compile s (unrolled)", ".1f"),
           ("scan_compile_s", "compile s (scan)", ".1f"), ("jax_rss_mib", "jaxformer RSS MiB", ",.0f"),
           ("torch_rss_mib", "PyTorch RSS MiB", ",.0f")]


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shapes", nargs="+", default=["small", "base"], choices=sorted(SHAPES))
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--warmup", type=int, default=4, help="untimed steps first, in both frameworks")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=128, help="sentences per step (default 128 x 32 = 4096 tokens)")
    p.add_argument("--length", type=int, default=32, help="source and target length")
    p.add_argument("--accum", type=int, default=1,
                   help="run each step as this many micro-batches, in both frameworks (the same update)")
    p.add_argument("--no-peer", action="store_true", help="jaxformer only (e.g. on a GPU)")
    p.add_argument("--xla-flags", default="", help="more XLA_FLAGS for the jaxformer worker (compiler options)")
    p.add_argument("--name", help="write experiments/results/benchmarks/NAME.json (default: train, or train_accumK)")
    p.add_argument("--no-scan-compile", action="store_true", help="skip compiling the scanned stack too")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="a jaxformer ModelConfig change, e.g. dtype=bfloat16 or attention_impl=cudnn")
    a = p.parse_args(argv)
    model = {}
    for item in a.set:
        key, _, value = item.partition("=")
        model[key] = {"true": True, "false": False}.get(value.lower(), value)
    rows = [measure(s, steps=a.steps if s == "small" else max(3, a.steps // 2), threads=a.threads,
                    rounds=a.rounds if s == "small" else 1, batch=a.batch, length=a.length, model=model,
                    peer=not a.no_peer, accum=a.accum, scan_compile=not a.no_scan_compile,
                    xla_flags=a.xla_flags, warmup=a.warmup)
            for s in a.shapes]
    print(table(rows, COLUMNS))
    print(f"FLOPs per step: 3 x forward matmul FLOPs (common.forward_flops); matmul peak: "
          f"{median([r['matmul_peak'] for r in rows]) / 1e9:.1f} GFLOP/s ({rows[0]['matmul_dtype']}, "
          f"{rows[0]['backend']}), same run.")
    path = write_json(a.name or ("train" if a.accum == 1 else f"train_accum{a.accum}"), {"command": "python -m experiments.benchmarks.train " + " ".join(sys.argv[1:] if argv is None else argv),
                                "threads": a.threads, "rows": rows})
    print(f"wrote {path}")
    return rows


if __name__ == "__main__":
    main()
