"""Where the time goes in a profiled train step: the top ops of a Perfetto/Chrome trace.

    python -m experiments.benchmarks.trace_summary TRACE.json.gz [--top 25] [--steps 3]

Reads the trace that `experiments.benchmarks.train_worker` writes for `profile_out` (3 steps
under `jax.profiler.trace`), keeps the device's ops (a GPU's kernels; on CPU, the XLA ops of the
host threads), and prints their total time per step by name and by kind (matmul, attention,
fusion, copy, random bits, collective, other), largest first.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import re

KINDS = [  # first match wins; patterns are searched in the lowercased op name
    ("attention (cuDNN)", r"cudnn|flash|fmha|sdpa|_attn"),
    ("matmul", r"gemm|cublas|matmul|dot|sm90_xmma|nvjet|cutlass|wgmma"),
    ("random bits", r"threefry|rng|philox|random"),
    ("reduction", r"reduce"),
    ("copy/transpose", r"copy|transpose|memcpy|memset|dynamic.update.slice|concatenate"),
    ("fusion (elementwise)", r"fusion|loop_|input_"),
]


def kind(name: str) -> str:
    low = name.lower()
    return next((k for k, pattern in KINDS if re.search(pattern, low)), "other")


def load(path: str) -> list[dict]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        trace = json.load(f)
    return trace["traceEvents"] if isinstance(trace, dict) else trace


def device_ops(events: list[dict]) -> list[dict]:
    """Complete events ('X') of the GPU processes, or of the whole trace when there is no GPU."""
    names = {e["pid"]: e.get("args", {}).get("name", "") for e in events
             if e.get("ph") == "M" and e.get("name") == "process_name"}
    gpu = {pid for pid, n in names.items() if "gpu" in n.lower() or "/device:" in n.lower()}
    ops = [e for e in events if e.get("ph") == "X" and "dur" in e and (not gpu or e.get("pid") in gpu)]
    if gpu:  # kernel rows only: the "XLA Ops"/"Steps" rows of a GPU process repeat the same time
        names_t = {(e["pid"], e.get("tid")): e.get("args", {}).get("name", "") for e in events
                   if e.get("ph") == "M" and e.get("name") == "thread_name"}
        streams = [e for e in ops if "stream" in names_t.get((e["pid"], e.get("tid")), "").lower()]
        ops = streams or ops
    return ops


def summarize(path: str, steps: int = 3, top: int = 25) -> dict:
    ops = device_ops(load(path))
    by_name: dict[str, float] = collections.Counter()
    by_kind: dict[str, float] = collections.Counter()
    for e in ops:
        by_name[e["name"]] += e["dur"] / steps
        by_kind[kind(e["name"])] += e["dur"] / steps
    total = sum(by_kind.values())
    return {"total_us_per_step": total, "ops": len(ops) // max(steps, 1),
            "by_kind": sorted(by_kind.items(), key=lambda kv: -kv[1]),
            "top": sorted(by_name.items(), key=lambda kv: -kv[1])[:top]}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("trace")
    p.add_argument("--steps", type=int, default=3, help="steps the trace holds")
    p.add_argument("--top", type=int, default=25)
    a = p.parse_args(argv)
    s = summarize(a.trace, a.steps, a.top)
    total = s["total_us_per_step"]
    print(f"device op time per step: {total / 1e3:.2f} ms over {s['ops']} ops (summed; overlapping streams count twice)")
    print("\n| kind | ms/step | share |\n| --- | --- | --- |")
    for k, us in s["by_kind"]:
        print(f"| {k} | {us / 1e3:.2f} | {us / total:.1%} |")
    print("\n| op | kind | ms/step | share |\n| --- | --- | --- | --- |")
    for n, us in s["top"]:
        print(f"| `{n[:90]}` | {kind(n)} | {us / 1e3:.3f} | {us / total:.1%} |")
    return s


if __name__ == "__main__":
    main()
