"""One training-throughput measurement in this process (see train.py, which runs it)."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np

from experiments.benchmarks.common import SHAPES, Shape, matmul_peak, median, timed, worker_main


def batch_arrays(s: Shape, batch: int, src_len: int, tgt_len: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random full-length sentences (no padding) of ids 2..V-1: ids 0 and 1 are PAD and EOS."""
    rng = np.random.default_rng(seed)
    return (rng.integers(2, s.vocab, (batch, src_len), dtype=np.int32),
            rng.integers(2, s.vocab, (batch, tgt_len), dtype=np.int32))


def model_config(s: Shape, **changes: Any):
    from jaxformer.config import preset
    fields = dict(vocab_size=s.vocab, d_model=s.d_model, d_ff=s.d_ff, num_heads=s.heads,
                  num_encoder_layers=s.enc_layers, num_decoder_layers=s.dec_layers, dropout_rate=s.dropout,
                  max_len=1024)
    return preset("base", **{**fields, **changes})


def jax_train(args: dict[str, Any]) -> dict[str, Any]:
    import jax
    from jaxformer import sharding, train
    from jaxformer.config import ExperimentConfig, MeshConfig, TrainConfig

    if args.get("prng"):  # before any key exists: dropout bits from this generator
        jax.config.update("jax_default_prng_impl", args["prng"])
    s = SHAPES[args["shape"]]
    model = model_config(s, **args.get("model", {}))
    exp = ExperimentConfig(model=model, train=TrainConfig(**args.get("train", {})), mesh=MeshConfig(data=1))
    mesh = sharding.make_mesh(1, devices=jax.devices()[:1])
    src, tgt = batch_arrays(s, args["batch"], args["src_len"], args["tgt_len"])
    with sharding.use_rules(mesh, exp.mesh.rules):
        step, _, shard = train.compile_steps(exp, mesh)
        state = jax.jit(train.init_state, static_argnums=0, out_shardings=shard)(exp)
        batch = jax.device_put({"inputs": src, "targets": tgt}, sharding.batch_sharding(mesh, exp.mesh.rules, 2))
        t0 = time.perf_counter()
        compiled = step.lower(state, batch, 0.0).compile()
        compile_s = time.perf_counter() - t0
        scan_compile_s = None
        if args.get("scan_compile") and not model.scan_layers:  # compile time of the scanned stack too
            scan_exp = ExperimentConfig(model=dataclasses.replace(model, scan_layers=True), train=exp.train,
                                        mesh=exp.mesh)
            scan_step, _, _ = train.compile_steps(scan_exp, mesh)
            t0 = time.perf_counter()
            scan_step.lower(state, batch, 0.0).compile()
            scan_compile_s = time.perf_counter() - t0
        mem = compiled.memory_analysis()
        holder = [state]

        def one():
            holder[0], metrics = compiled(holder[0], batch, 0.0)
            jax.block_until_ready(metrics["loss"])

        times = timed(one, warmup=args.get("warmup", 2), steps=args["steps"])
        if args.get("profile_out"):  # a trace of 3 more steps, for where the time goes
            _profile(one, args["profile_out"])
    out = {"compile_s": compile_s, "scan_compile_s": scan_compile_s, "step_s": median(times), "times": times,
           "backend": jax.default_backend()}
    stats = jax.devices()[0].memory_stats() or {}
    if "peak_bytes_in_use" in stats:  # GPU: the allocator's high-water mark
        out["gpu_peak_gib"] = stats["peak_bytes_in_use"] / 2 ** 30
    if mem is not None:
        out["xla_temp_mib"] = mem.temp_size_in_bytes / 2 ** 20
        out["xla_args_mib"] = mem.argument_size_in_bytes / 2 ** 20
    if args.get("peak"):
        out.update(matmul_peak())
    return out


def _profile(step, out: str, steps: int = 3) -> None:
    """Traces `steps` calls of `step` and copies the Perfetto (Chrome JSON) trace to `out`."""
    import glob
    import shutil
    import tempfile

    import jax
    with tempfile.TemporaryDirectory() as d:
        with jax.profiler.trace(d, create_perfetto_trace=True):
            for _ in range(steps):
                step()
        found = glob.glob(f"{d}/**/*perfetto_trace.json.gz", recursive=True)
        if found:
            shutil.copy(found[0], out)


def torch_train(args: dict[str, Any]) -> dict[str, Any]:
    import torch
    from experiments.benchmarks.torch_peer import PeerTransformer, make_train_step

    torch.set_num_threads(args.get("threads", 2))
    torch.manual_seed(0)
    s = SHAPES[args["shape"]]
    model = PeerTransformer(s)
    model.train()
    step = make_train_step(model, accum=args.get("train", {}).get("grad_accum_steps", 1))
    src, tgt = (torch.from_numpy(a).long() for a in batch_arrays(s, args["batch"], args["src_len"], args["tgt_len"]))
    times = timed(lambda: step(src, tgt), warmup=args.get("warmup", 2), steps=args["steps"])
    return {"step_s": median(times), "times": times, "torch": torch.__version__}


def main(args: dict[str, Any]) -> dict[str, Any]:
    return jax_train(args) if args["framework"] == "jaxformer" else torch_train(args)


if __name__ == "__main__":
    worker_main(main)
