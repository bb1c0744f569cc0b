"""XLA:CPU compiler options on the train step: which library runs the matmuls and fusions.

    python -m experiments.benchmarks.xla_flags [--shape small] [--rounds 2] [--steps 6]
    python -m experiments.benchmarks.xla_flags --shape multi30k --batch 32 --length 80 --steps 20

(the second: the step of experiments/multi30k_ende.py, 32 rows of 80 tokens). XLA:CPU can hand
dots and elementwise/reduction fusions to oneDNN, XNNPACK or YNNPACK instead of its own emitters
and Eigen. Each option set below runs the same jaxformer train step (the `train` benchmark's
shape, or `--shape`, `--batch` and `--length`; no peer) in its own worker, the sets interleaved
`rounds` times so that a noisy neighbour hits all; prints the median step time of each against
the defaults, and writes experiments/results/benchmarks/xla_flags.json (xla_flags_<shape>.json
for another shape). A set that helps is a lead for jaxformer/hostmem.py's start-up settings, not
a setting by itself.
"""

from __future__ import annotations

import argparse
import sys

from experiments.benchmarks.common import median, table, write_json
from experiments.benchmarks.train import measure

OPTION_SETS = {
    "defaults": "",
    "oneDNN dots": "--xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_fusion_type=dot",
    "XNNPACK dots + eltwise": "--xla_cpu_experimental_xnn_fusion_type=dot,eltwise",
    "YNNPACK dots + eltwise + reduce": "--xla_cpu_experimental_ynn_fusion_type=dot,eltwise,reduce",
    "no YNNPACK": "--xla_cpu_experimental_ynn_fusion_type=",
    "YNNPACK individual dots": "--xla_cpu_experimental_ynn_fusion_type=individual_dot",  # what decoding uses
    "fast math": "--xla_cpu_enable_fast_math=true",
    # XLA:CPU's own emitters vectorise for 256-bit registers by default, even where AVX-512 exists.
    "512-bit vectors": "--xla_cpu_prefer_vector_width=512",
}
OPTION_SETS["512-bit vectors + oneDNN dots"] = f"{OPTION_SETS['512-bit vectors']} {OPTION_SETS['oneDNN dots']}"


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shape", default="small")
    p.add_argument("--sets", nargs="+", default=list(OPTION_SETS), choices=list(OPTION_SETS))
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=128, help="sentences a step")
    p.add_argument("--length", type=int, default=32, help="source and target tokens a sentence")
    a = p.parse_args(argv)
    times: dict[str, list[float]] = {name: [] for name in a.sets}
    peaks: dict[str, list[float]] = {name: [] for name in a.sets}
    rows: dict[str, dict] = {}
    for r in range(a.rounds):
        for name in a.sets:
            try:
                row = measure(a.shape, steps=a.steps, threads=a.threads, rounds=1, peer=False, scan_compile=False,
                              batch=a.batch, length=a.length, xla_flags=OPTION_SETS[name])
            except RuntimeError as e:  # an option this XLA rejects: say so, keep going
                rows[name] = {"set": name, "flags": OPTION_SETS[name], "error": str(e)[-300:]}
                print(f"  {name}: failed: {str(e)[-200:]}", flush=True)
                continue
            times[name] += row["jax_times"]
            peaks[name].append(row["matmul_peak"])
            rows[name] = {"set": name, "flags": OPTION_SETS[name], "compile_s": row["compile_s"],
                          "tokens_per_step": row["tokens_per_step"], "flops_per_step": row["flops_per_step"]}
            print(f"  round {r + 1} {name}: {row['jax_step_s']:.3f} s/step", flush=True)
    base = median(times["defaults"]) if times.get("defaults") else None
    for name, row in rows.items():
        if times[name]:
            row["step_s"] = median(times[name])
            row["tok_s"] = row["tokens_per_step"] / row["step_s"]
            row["util"] = row["flops_per_step"] / row["step_s"] / median(peaks[name])
            row["vs_defaults"] = base / row["step_s"] if base else None
            row["times"] = times[name]
    out = list(rows.values())
    print(table(out, [("set", "XLA:CPU options", ""), ("step_s", "s/step (median)", ".3f"),
                      ("tok_s", "tgt tok/s", ",.0f"), ("vs_defaults", "speed vs defaults", ".2f"),
                      ("util", "of jnp.dot", ".0%"), ("compile_s", "compile s", ".1f")]))
    name = "xla_flags" if a.shape == "small" else f"xla_flags_{a.shape}"  # one file a shape
    path = write_json(name, {"command": "python -m experiments.benchmarks.xla_flags " +
                                    " ".join(sys.argv[1:] if argv is None else argv),
                                    "shape": a.shape, "batch": a.batch, "length": a.length,
                                    "threads": a.threads, "rows": out})
    print(f"wrote {path}")
    return out


if __name__ == "__main__":
    main()
