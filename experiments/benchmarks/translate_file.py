"""Translating a file end to end: `jaxformer translate` against CTranslate2's `translate_batch` on
the same weights and the same file, in one run, wall-clock from each command's start to its exit
(the output file is complete then), each pinned to the same cores and threads.

    python -m experiments.benchmarks.translate_file [--lines 3003] [--beam 4] [--max-len 48] [--threads 2] [--size base] [--warm-only]

The file: newstest2014 en-de's English side (3,003 lines, ../shared/corpora). The model: a
base-size Marian folder (opus-mt-en-de's shape: d_model 512, 6+6 layers, 58,101-entry vocabulary)
with random untrained weights and sentencepiece models trained on newstest2008-2012, so that lines
split into realistically many pieces; imported once with `jaxformer import-marian` and converted
once with CTranslate2's converter (neither timed). Untrained weights never emit EOS, so every line
gets `--max-len` - 1 output tokens and EOS in both engines: the same work.

jaxformer runs twice with its persistent compilation cache: "cold" (the cache folder emptied
first) and "warm" (a second command, same shapes), so the compile share of a cold run is
(cold - warm) / cold. CTranslate2 runs twice too (its second run has the model file in the page
cache). A warm run that compiled anything (the code changed between the runs, or the cache
missed) is flagged, its time is not a warm one. `--warm-only` keeps an earlier run's cache and
times only the two second runs. Outputs are compared line by line. Needs the `marian` and `bench` extras and
../shared/corpora. Writes experiments/results/benchmarks/translate_file.json.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from experiments.benchmarks.common import ROOT, table, thread_env, write_json

CORPORA = ROOT.parent / "shared" / "corpora"
NEWS = CORPORA / "newstest2014_en-de" / "newstest2014.en"
TRAIN_TEXT = CORPORA / "newstest2008-2012_en-de"


def _timed(cmd: list[str], threads: int) -> tuple[float, str]:
    """(wall-clock seconds, stderr) of one command pinned to `threads` cores; its stderr tail on failure."""
    if sys.platform.startswith("linux") and shutil.which("taskset") and threads <= (os.cpu_count() or 1):
        cmd = ["taskset", "-c", f"0-{threads - 1}", *cmd]
    env = thread_env(threads)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    seconds = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd[:6])} ... failed (exit {proc.returncode}): "
                         + " | ".join(proc.stderr.strip().splitlines()[-5:]))
    return seconds, proc.stderr


SIZES = {"base": dict(d_model=512, layers=6, heads=8, ffn=2048, pieces=8000, min_vocab=58101),
         "small": dict(d_model=64, layers=2, heads=4, ffn=128, pieces=1000, min_vocab=0)}  # for the test


def prepare(folder: Path, max_len: int, size: str = "base") -> tuple[Path, Path, Path]:
    """(Marian folder, CTranslate2 folder, jaxformer workdir), made once per folder."""
    hf, ct2, wd = folder / "hf", folder / "ct2", folder / "workdir"
    if not (hf / "config.json").is_file():
        from experiments.benchmarks.marian_reference import build
        text = [sorted(TRAIN_TEXT.glob(f"*.{lang}")) for lang in ("en", "de")]
        corpus = tuple([line for p in paths for line in p.read_text(encoding="utf-8").splitlines()][:20000]
                       for paths in text)
        build(hf, **SIZES[size], train_steps=0, max_length=max_len + 1, corpus=corpus)
    if not (ct2 / "model.bin").is_file():
        import ctranslate2
        ctranslate2.converters.TransformersConverter(str(hf)).convert(str(ct2), force=True)
    if not (wd / "config.json").is_file():
        subprocess.run([sys.executable, "-m", "jaxformer.cli", "import-marian", "--model-dir", str(hf),
                        "--workdir", str(wd)], check=True, cwd=ROOT, capture_output=True)
    return hf, ct2, wd


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lines", type=int, default=3003)
    p.add_argument("--beam", type=int, default=4)
    p.add_argument("--max-len", type=int, default=48, help="output tokens per line, the forced EOS included")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--size", choices=tuple(SIZES), default="base", help="small: a quick check, not a result")
    p.add_argument("--folder", default=str(ROOT / "workdir" / "bench_translate_file"))
    p.add_argument("--warm-only", action="store_true",
                   help="keep the compilation cache of an earlier run and time only the second runs of each")
    a = p.parse_args(argv)
    if not NEWS.is_file():
        raise SystemExit(f"{NEWS} is missing; this benchmark reads newstest2014 from ../shared/corpora")
    folder = Path(a.folder)
    hf, ct2, wd = prepare(folder, a.max_len, a.size)
    source = folder / "input.en"
    lines = NEWS.read_text(encoding="utf-8").splitlines()[:a.lines]
    source.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    ours = [sys.executable, "-m", "jaxformer.cli", "translate", "--workdir", str(wd), "--input", str(source),
            "--beam-size", str(a.beam)]
    theirs = [sys.executable, "-m", "experiments.benchmarks.ct2_translate_file", str(ct2), str(hf), str(source)]
    ct2_len = str(a.max_len - 1)  # CTranslate2 counts the tokens before EOS; ours the EOS too
    cache = wd / "compile_cache"
    if not a.warm_only:
        shutil.rmtree(cache, ignore_errors=True)
    runs, caching = {}, {}
    plan = (("jaxformer cold", ours + ["--output", str(folder / "jax.de")]),
            ("ct2 first", theirs + [str(folder / "ct2.de"), str(a.beam), ct2_len, str(a.threads)]),
            ("jaxformer warm", ours + ["--output", str(folder / "jax.de")]),
            ("ct2 second", theirs + [str(folder / "ct2.de"), str(a.beam), ct2_len, str(a.threads)]))
    for name, cmd in plan[2:] if a.warm_only else plan:
        runs[name], err = _timed(cmd, a.threads)
        cache_line = next((x for x in err.splitlines() if "compilation cache" in x), "")
        if cache_line:
            caching[name] = cache_line.split(": ", 2)[-1]
        print(f"  {name}: {runs[name]:.1f} s {cache_line}", flush=True)
    mine = (folder / "jax.de").read_text(encoding="utf-8").splitlines()
    other = (folder / "ct2.de").read_text(encoding="utf-8").splitlines()
    same = sum(x == y for x, y in zip(mine, other))
    cache_files = sum(1 for f in cache.rglob("*") if f.is_file()) if cache.is_dir() else 0
    rows = [dict(run=k, seconds=v, lines_s=len(lines) / v, vs_ct2=v / runs["ct2 second"]) for k, v in runs.items()]
    print(table(rows, [("run", "run", ""), ("seconds", "wall s", ".1f"), ("lines_s", "lines/s", ".1f"),
                       ("vs_ct2", "/ ct2 second", ".2f")]))
    compile_share = (None if a.warm_only else
                     (runs["jaxformer cold"] - runs["jaxformer warm"]) / runs["jaxformer cold"])
    ratio = runs["jaxformer warm"] / runs["ct2 second"]
    print(f"same output on {same}/{len(lines)} lines; compile cache: {cache_files} files"
          + ("" if compile_share is None else f"; cold run's compile share {compile_share:.0%}"))
    compiled = re.search(r"(\d+) compiled", caching.get("jaxformer warm", ""))
    warm_compiled = int(compiled.group(1)) if compiled else None
    if warm_compiled:  # e.g. the code changed between the runs: its figure is not a warm one
        print(f"WARNING: the warm run compiled {warm_compiled} executable(s) instead of loading them; "
              "its time is not a warm-cache time")
    print(f"target: warm-cache wall time within 1.5x of CTranslate2's: {'met' if ratio <= 1.5 else 'not met'} "
          f"({ratio:.2f}x)")
    result = {"command": "python -m experiments.benchmarks.translate_file " + " ".join(
        sys.argv[1:] if argv is None else argv), "lines": len(lines), "size": a.size, "beam": a.beam, "max_len": a.max_len,
        "threads": a.threads, "runs": runs, "same_lines": same, "compile_cache_files": cache_files, "compile_cache": caching,
        "compile_share": compile_share, "warm_vs_ct2": ratio, "warm_compiled": warm_compiled,
        "warm_only": a.warm_only}
    print(f"wrote {write_json('translate_file', result)}")
    return result


if __name__ == "__main__":
    main()
