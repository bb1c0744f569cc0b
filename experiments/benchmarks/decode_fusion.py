"""XLA:CPU's YNNPACK fusions in decoding: the searches compiled with each fusion setting, timed
interleaved in one process (so a noisy neighbour hits all alike), outputs checked equal.

    python -m experiments.benchmarks.decode_fusion [--batch 32] [--beam 4] [--out-len 48] [--rounds 5]

Why: by default XLA:CPU fuses the vocabulary projection with the reductions over the vocabulary
that follow it (log_softmax's max and sum, or a max alone) into one YNNPACK fusion, which runs
far slower than the projection and the reductions apart (see `--micro`). The model: opus-mt-en-de's
shape (d_model 512, 6+6 layers, 58,101-entry vocabulary, random weights: every output runs to
`--out-len`), as in the ct2 benchmark. Prints ms per decoding step (a step = one token for every
row) for greedy over batch*beam rows and beam search over `batch` sentences. Writes
experiments/results/benchmarks/decode_fusion.json. Needs the `marian` extra (to build the model).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from experiments.benchmarks.common import ROOT, median, table, write_json

# compiler_options values (the enum names of xla.cpu YnnFusionOptions' fusion types)
SETTINGS = {
    "defaults": {},
    "individual dots": {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"},
}


def _micro(rounds: int) -> list[dict]:
    """The projection [128, 512] x [512, 58101] alone, with the bias and log_softmax after it, and
    log_softmax of a ready [128, 58101] array: ms each, per setting."""
    import jax
    import jax.numpy as jnp

    k = jax.random.key(0)
    w, x, b = jax.random.normal(k, (512, 58101)), jax.random.normal(k, (128, 512)), jnp.zeros((58101,))
    logits = x @ w
    cases = {"projection": (lambda x, w: x @ w, (x, w)),
             "projection + bias + log_softmax": (lambda x, w: jax.nn.log_softmax(x @ w + b), (x, w)),
             "log_softmax alone": (lambda l: jax.nn.log_softmax(l), (logits,))}
    rows = []
    for name, (fn, args) in cases.items():
        low = jax.jit(fn).lower(*args)
        compiled = {s: low.compile(compiler_options=opts) for s, opts in SETTINGS.items()}
        times = {s: [] for s in SETTINGS}
        for _ in range(rounds * 3):
            for s, f in compiled.items():
                t = time.perf_counter()
                jax.block_until_ready(f(*args))
                times[s].append(time.perf_counter() - t)
        rows.append({"case": name, **{s: 1e3 * min(v) for s, v in times.items()}})
    return rows


def search_cases(a: argparse.Namespace) -> dict[str, tuple[str, tuple, dict]]:
    """The model (opus-mt-en-de's shape, or a small one; built once in `a.folder`) and the two
    searches timed on it: name -> (decode function's name, args, kwargs). Greedy decodes as many
    rows as the beam search: `a.batch` * `a.beam`."""
    import jax.numpy as jnp

    import jaxformer as jf
    from experiments.benchmarks.marian_reference import build

    hf = Path(a.folder) / "hf"
    if not (hf / "config.json").is_file():
        shape = (dict(d_model=512, layers=6, heads=8, ffn=2048, min_vocab=58101) if a.size == "base"
                 else dict(d_model=32, layers=2, heads=4, ffn=64, min_vocab=0))
        build(hf, **shape, train_steps=0, max_length=a.out_len + 1)
    config, params, _ = jf.from_marian(hf)
    rng = np.random.default_rng(0)
    src = jnp.asarray(rng.integers(3, min(1000, config.vocab_size), size=(a.batch, a.src_len)), jnp.int32)
    rows_src = jnp.tile(src, (a.beam, 1))
    return {
        "greedy": ("greedy", (params, rows_src), dict(config=config, max_len=a.out_len, force_eos=True)),
        f"beam {a.beam}": ("beam_search", (params, src), dict(config=config, beam_size=a.beam, max_len=a.out_len,
                                                              convention="hf", force_eos=True)),
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--beam", type=int, default=4)
    p.add_argument("--out-len", type=int, default=48)
    p.add_argument("--src-len", type=int, default=40)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--micro", action="store_true", help="also time the projection and log_softmax alone")
    p.add_argument("--size", choices=("base", "small"), default="base", help="small: a quick check, not a result")
    p.add_argument("--folder", default=str(ROOT / "workdir" / "bench_ct2" / "base"))
    a = p.parse_args(argv)

    import jax

    from jaxformer import decode

    searches = search_cases(a)
    rows = []
    for name, (fn, args, kw) in searches.items():
        low = getattr(decode, fn).plain.lower(*args, **kw)  # XLA's defaults; each setting adds its options
        compiled = {s: low.compile(compiler_options=opts) for s, opts in SETTINGS.items()}
        times, outs = {s: [] for s in SETTINGS}, {}
        for _ in range(a.rounds):
            for s, f in compiled.items():
                t = time.perf_counter()
                outs[s] = jax.block_until_ready(f(*args))
                times[s].append(time.perf_counter() - t)
        first = jax.tree.leaves(outs["defaults"])[0]
        same = all(np.array_equal(jax.tree.leaves(o)[0], first) for o in outs.values())
        if not same:
            raise SystemExit(f"{name}: the settings gave different tokens; nothing timed counts")
        row = {"search": name, "rows": int(args[1].shape[0]) * (1 if name == "greedy" else a.beam)}
        for s, v in times.items():
            row[s] = 1e3 * median(v) / a.out_len
            row[s + " min"] = 1e3 * min(v) / a.out_len
        row["speed-up"] = row["defaults"] / row["individual dots"]
        rows.append(row)
        print(f"  {name}: " + ", ".join(f"{s} {row[s]:.1f} ms/step" for s in SETTINGS), flush=True)
    print(table(rows, [("search", "search", ""), ("rows", "rows", "d"),
                       *[(s, f"{s} ms/step (median)", ".1f") for s in SETTINGS],
                       ("speed-up", "individual dots speed-up", ".2f")]))
    micro = _micro(a.rounds) if a.micro else []
    if micro:
        print(table(micro, [("case", "[128, 512] x [512, 58101]", ""), *[(s, f"{s} ms (min)", ".1f") for s in SETTINGS]]))
    result = {"command": "python -m experiments.benchmarks.decode_fusion " + " ".join(sys.argv[1:] if argv is None
                                                                                     else argv),
              "batch": a.batch, "beam": a.beam, "out_len": a.out_len, "src_len": a.src_len, "size": a.size,
              "cpus": os.cpu_count(), "rows": rows, "micro": micro}
    print(f"wrote {write_json('decode_fusion', result)}")
    return result


if __name__ == "__main__":
    main()
