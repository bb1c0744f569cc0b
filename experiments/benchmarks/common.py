"""What every benchmark shares: model shapes, the FLOP count, the machine's measured matmul peak,
one worker subprocess per measurement, and the printed table.

Each measurement runs in its own Python process so that peak memory (ru_maxrss) belongs to one
framework and one config, and so that JAX and PyTorch never share a thread pool.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "experiments" / "results" / "benchmarks"


@dataclasses.dataclass(frozen=True)
class Shape:
    """The model shape both frameworks build (post-LN, shared embeddings, tied output)."""

    name: str
    vocab: int
    d_model: int  # D
    d_ff: int  # F
    heads: int  # N
    enc_layers: int
    dec_layers: int
    dropout: float = 0.1


SHAPES = {
    "small": Shape("small", vocab=8000, d_model=256, d_ff=1024, heads=4, enc_layers=3, dec_layers=3),
    # The paper's base model with its 37000-token shared BPE vocabulary (section 5.1).
    "base": Shape("base", vocab=37000, d_model=512, d_ff=2048, heads=8, enc_layers=6, dec_layers=6),
    # experiments/multi30k_ende.py's model (Wu et al.'s Transformer-tiny with a 6000-piece vocabulary).
    "multi30k": Shape("multi30k", vocab=6000, d_model=128, d_ff=256, heads=4, enc_layers=4, dec_layers=4),
    "big": Shape("big", vocab=37000, d_model=1024, d_ff=4096, heads=16, enc_layers=6, dec_layers=6, dropout=0.3),
}


def forward_flops(s: Shape, batch: int, src_len: int, tgt_len: int) -> dict[str, float]:
    """Matmul FLOPs of one forward pass (2 per multiply-add), split into attention scores and the rest.

    Per source token and encoder layer: Q, K, V, O projections 8D^2, FFN 4DF, scores QK^T and
    AV 4SD. Per target token and decoder layer: self-attention 8D^2 + 4TD, cross-attention Q and O
    4D^2 + 4SD (its K and V, 4D^2, per source token), FFN 4DF; then the tied output projection 2DV.
    Causal masking is not discounted (the full T x T scores are computed). Embedding gathers,
    softmax, LayerNorm and dropout count 0. A training step is 3x the forward (backward = 2x).
    """
    D, F, V = s.d_model, s.d_ff, s.vocab
    S, T = src_len, tgt_len
    enc_dense = s.enc_layers * S * (8 * D * D + 4 * D * F)
    enc_attn = s.enc_layers * 4 * S * S * D
    dec_dense = s.dec_layers * (T * (8 * D * D + 4 * D * D + 4 * D * F) + S * 4 * D * D)
    dec_attn = s.dec_layers * (4 * T * T * D + 4 * T * S * D)
    logits = 2 * T * D * V
    attention = batch * (enc_attn + dec_attn)
    total = batch * (enc_dense + dec_dense + logits) + attention
    return {"total": float(total), "attention": float(attention)}


def train_flops(s: Shape, batch: int, src_len: int, tgt_len: int) -> float:
    return 3.0 * forward_flops(s, batch, src_len, tgt_len)["total"]


def timed(fn: Callable[[], Any], *, warmup: int, steps: int, min_seconds: float = 0.0) -> list[float]:
    """Seconds per call of `fn` (which must block until its work is done), after `warmup` calls:
    `steps` calls, and more until they add up to `min_seconds` (a call of a few milliseconds
    timed 5 times measures the machine's noise, not the call)."""
    for _ in range(warmup):
        fn()
    times = []
    while len(times) < steps or sum(times) < min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def median(xs: list[float]) -> float:
    return float(statistics.median(xs))


def peak_rss_mib() -> float:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def matmul_peak() -> dict[str, float]:
    """Measured float32 FLOP/s of a 2048x2048 jnp.dot on this machine now (CPU), or of a bf16
    8192^3 matmul on a GPU: the denominator of every utilisation figure in the same run."""
    import jax
    import jax.numpy as jnp
    gpu = jax.default_backend() == "gpu"
    n, dtype = (8192, jnp.bfloat16) if gpu else (2048, jnp.float32)
    a = jax.random.normal(jax.random.key(0), (n, n), dtype)
    b = jax.random.normal(jax.random.key(1), (n, n), dtype)
    f = jax.jit(jnp.dot)
    times = timed(lambda: f(a, b).block_until_ready(), warmup=3, steps=20)
    return {"matmul_n": n, "matmul_dtype": str(jnp.dtype(dtype)), "matmul_flops_per_s": 2.0 * n ** 3 / median(times)}


def thread_env(threads: int, xla_flags: str = "") -> dict[str, str]:
    """Environment that holds a worker to `threads` CPU threads, whichever framework it runs
    (`xla_flags`: more XLA flags, for trying compiler options)."""
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)  # no simulated devices: one CPU device using `threads` threads
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               XLA_FLAGS=f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={threads} {xla_flags}".strip(),
               TF_CPP_MIN_LOG_LEVEL="3")
    return env


def run_worker(module: str, args: dict[str, Any], *, threads: int, timeout: float = 1800,
               xla_flags: str = "") -> dict[str, Any]:
    """Runs `python -m module` with the JSON `args` on stdin under `threads` threads (and, on
    Linux, pinned to the first `threads` cores); returns its JSON result (last stdout line)."""
    cmd = [sys.executable, "-m", module]
    if sys.platform.startswith("linux") and threads <= (os.cpu_count() or 1) and shutil.which("taskset"):
        cmd = ["taskset", "-c", f"0-{threads - 1}", *cmd]
    proc = subprocess.run(cmd, input=json.dumps(args), capture_output=True, text=True, cwd=ROOT,
                          env=thread_env(threads, xla_flags), timeout=timeout)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-5:]
        raise RuntimeError(f"{module} {args} failed (exit {proc.returncode}): " + " | ".join(tail))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def worker_main(fn: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Entry point of a worker module: JSON args on stdin, one JSON result line on stdout."""
    from jaxformer.hostmem import keep_host_buffers

    args = json.loads(sys.stdin.read())
    # The same glibc settings for both frameworks (PyTorch's CPU allocator uses posix_memalign too).
    if not args.get("default_malloc"):
        keep_host_buffers()
    result = fn(args)
    result["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(result))


def table(rows: list[dict[str, Any]], columns: list[tuple[str, str, str]]) -> str:
    """A Markdown table of `rows` with (key, header, format) columns; missing keys print as '-'."""
    head = "| " + " | ".join(h for _, h, _ in columns) + " |"
    rule = "| " + " | ".join("---" for _ in columns) + " |"
    lines = [head, rule]
    for r in rows:
        cells = [format(r[k], f) if r.get(k) is not None else "-" for k, _, f in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    import platform
    info = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    quota = cpu_quota()
    if quota is not None:
        info["cpu_quota"] = quota
    return info


def cpu_quota(proc_cgroup: Path = Path("/proc/self/cgroup"), fs: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The CPUs this process's cgroup may use per period (a CFS quota), or None when unlimited.

    A quota is how a benchmark simulates a slower machine on a fast one (benchmarks/README.md):
    the figures it writes must then say so. Reads the process's own group (cgroup v1 `cpu`
    controller, or v2 `cpu.max`), not its parents'."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.count(":") < 2:
            continue
        _, controllers, group = line.split(":", 2)
        group = group.lstrip("/")
        if "cpu" in controllers.split(","):  # cgroup v1
            for mount in (fs / controllers, fs / "cpu", fs / "cpu,cpuacct"):
                try:
                    quota = int((mount / group / "cpu.cfs_quota_us").read_text())
                    period = int((mount / group / "cpu.cfs_period_us").read_text())
                except (OSError, ValueError):
                    continue
                return quota / period if quota > 0 and period > 0 else None
        elif controllers == "":  # cgroup v2 (alone, or the unified half of a hybrid mount)
            for mount in (fs, fs / "unified"):
                try:
                    quota, period = (mount / group / "cpu.max").read_text().split()
                    return int(quota) / int(period) if quota != "max" and int(period) > 0 else None
                except (OSError, ValueError):
                    continue
    return None


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=ROOT).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except OSError:
        return "unknown"


def write_json(name: str, payload: dict[str, Any], folder: Path | None = None) -> Path:
    folder = folder or RESULTS  # looked up at the call: tests point RESULTS at a temporary folder
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    payload = {"commit": git_commit(), "machine": machine(),
               "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), **payload}
    path.write_text(json.dumps(payload, indent=1) + "\n")
    return path
