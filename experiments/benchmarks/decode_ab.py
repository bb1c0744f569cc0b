"""The decoding searches of the working tree against those of an earlier commit, in one process.

    python -m experiments.benchmarks.decode_ab --ref 40dc8c5 [--batch 32] [--beam 4] [--out-len 48]

Why: the 2-core machines differ by up to 2.4x in speed from one session to the next, so a change
to `jaxformer/decode.py` is measured against its previous version in the same run: the old
file is loaded from git (`git show REF:jaxformer/decode.py`) as a module beside the current one,
both run on the current model code, their outputs are checked equal, and the calls alternate so
that a noisy neighbour hits both alike. The model: opus-mt-en-de's shape with random weights, as
in decode_fusion (every output runs to `--out-len`). Prints ms per decoding step for greedy over
batch*beam rows and beam search over `batch` sentences, and each version's first call (its
compile, mostly); writes
experiments/results/benchmarks/decode_ab.json. Needs the `marian` extra (to build the model).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import numpy as np

from experiments.benchmarks.common import ROOT, median, table, write_json
from experiments.benchmarks.decode_fusion import search_cases


def module_at(ref: str) -> ModuleType:
    """jaxformer/decode.py as it was at git `ref`, imported under another name."""
    try:
        source = subprocess.run(["git", "show", f"{ref}:jaxformer/decode.py"], cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        raise SystemExit(f"decode_ab: cannot read jaxformer/decode.py at {ref!r} from git ({e}); "
                         "pass a commit of this repository, e.g. --ref HEAD") from None
    path = Path(tempfile.mkdtemp()) / "decode_at_ref.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("decode_at_ref", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ref", required=True, help="the git commit whose decode.py is the baseline")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--beam", type=int, default=4)
    p.add_argument("--out-len", type=int, default=48)
    p.add_argument("--src-len", type=int, default=40)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--size", choices=("base", "small"), default="base", help="small: a quick check, not a result")
    p.add_argument("--folder", default=str(ROOT / "workdir" / "bench_ct2" / "base"))
    a = p.parse_args(argv)

    import time

    import jax

    from jaxformer import decode

    versions = {a.ref: module_at(a.ref), "working tree": decode}
    searches = search_cases(a)
    rows = []
    for name, (fn, args, kw) in searches.items():
        calls = {v: (lambda m=m: jax.block_until_ready(getattr(m, fn)(*args, **kw))) for v, m in versions.items()}
        outs, first_call = {}, {}
        for v, call in calls.items():  # compiles each, and gives the outputs to compare
            t = time.perf_counter()
            outs[v] = call()
            first_call[v] = time.perf_counter() - t
        first = jax.tree.leaves(outs[a.ref])[0]
        if not all(np.array_equal(jax.tree.leaves(o)[0], first) for o in outs.values()):
            raise SystemExit(f"{name}: the two versions gave different tokens; nothing timed counts")
        times = {v: [] for v in versions}
        for _ in range(a.rounds):
            for v, call in calls.items():
                t = time.perf_counter()
                call()
                times[v].append(time.perf_counter() - t)
        row = {"search": name, "rows": int(args[1].shape[0]) * (1 if name == "greedy" else a.beam)}
        for v, ts in times.items():
            row[v] = 1e3 * median(ts) / a.out_len
            row[v + " min"] = 1e3 * min(ts) / a.out_len
        row["speed-up"] = row[a.ref] / row["working tree"]
        row.update({f"{v} first call s": t for v, t in first_call.items()})  # the compile, mostly
        rows.append(row)
        print(f"  {name}: " + ", ".join(f"{v} {row[v]:.1f} ms/step (first call {first_call[v]:.1f} s)"
                                        for v in versions), flush=True)
    print(table(rows, [("search", "search", ""), ("rows", "rows", "d"),
                       *[(v, f"{v} ms/step (median)", ".1f") for v in versions],
                       ("speed-up", "speed-up", ".2f")]))
    result = {"command": "python -m experiments.benchmarks.decode_ab " + " ".join(sys.argv[1:] if argv is None
                                                                                 else argv),
              "ref": a.ref, "batch": a.batch, "beam": a.beam, "out_len": a.out_len, "src_len": a.src_len,
              "size": a.size, "cpus": os.cpu_count(), "rows": rows}
    print(f"wrote {write_json('decode_ab', result)}")
    return result


if __name__ == "__main__":
    main()
