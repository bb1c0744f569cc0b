"""GPU checks and figures in one call: the machine's ceilings, bf16/cuDNN correctness, and
training throughput with model FLOPs utilisation (MFU) of the paper's big model.

    python -m experiments.benchmarks.gpu [--quick] [--variants big-cudnn big-xla ...]

Run on a CUDA machine (the `device` tool here). In order, each part printing as it finishes:

1. Ceilings measured in this run: a bf16 8192^3 matmul on random data (common.matmul_peak,
   median of 20) and a device-to-device pass over 2 GiB (bytes read + written).
2. Correctness, fresh random inputs per check: `dot_product_attention` with cuDNN and with XLA,
   bf16, padding and causal masks, against a float64 reference (outputs) and a float32 one
   (gradients), on the query rows that have a key to attend to; then a bf16 + cuDNN model
   against the float32 + XLA model on the same parameters and padded batch (loss and gradients).
   NaN fails; bf16 passes under 2e-2 relative error.
3. Throughput (experiments.benchmarks.train.measure, one worker process per variant): target
   tokens/s, model TFLOP/s (3 x common.forward_flops) and MFU against the measured matmul and the
   datasheet's 989 TFLOP/s dense bf16 (H100/H200 SXM), compile time, peak GPU memory.

Writes experiments/results/benchmarks/gpu.json (`--name`) after every part, so a failure or a
time limit keeps what was done. On an H200 the whole default run takes about 15 minutes (each
big-model variant compiles for about 2 minutes); `--variants` picks a subset.
"""

from __future__ import annotations

import argparse
import sys
import os
import time
import traceback

import numpy as np

from experiments.benchmarks.common import SHAPES, matmul_peak, median, table, timed, write_json

DATASHEET_BF16 = 989e12  # dense bf16 FLOP/s of an H100/H200 SXM, NVIDIA's datasheet
TOL_BF16 = 2e-2

# name -> (shape, batch, length, ModelConfig changes, PRNG implementation)
VARIANTS = {
    # The paper's big model on ~25000 target tokens a step (section 5.1), sentences of 32 tokens.
    "big-cudnn": ("big", 782, 32, dict(dtype="bfloat16", attention_impl="cudnn"), None),
    "big-xla": ("big", 782, 32, dict(dtype="bfloat16", attention_impl="xla"), None),
    # Dropout masks from the rbg generator instead of threefry (cheaper bits on a GPU).
    "big-cudnn-rbg": ("big", 782, 32, dict(dtype="bfloat16", attention_impl="cudnn"), "rbg"),
    # What dropout costs at all.
    "big-cudnn-nodrop": ("big", 782, 32, dict(dtype="bfloat16", attention_impl="cudnn", dropout_rate=0.0), None),
    # Longer sentences, the same tokens per step: attention's share grows.
    "big-cudnn-len128": ("big", 196, 128, dict(dtype="bfloat16", attention_impl="cudnn"), None),
    "base-cudnn": ("base", 782, 32, dict(dtype="bfloat16", attention_impl="cudnn"), None),
}
DEFAULT = ["big-cudnn", "big-xla", "big-cudnn-rbg", "big-cudnn-nodrop", "big-cudnn-len128", "base-cudnn"]


def rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if not np.all(np.isfinite(a)):
        return float("nan")
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def ceilings() -> dict:
    """Measured bf16 matmul FLOP/s (common.matmul_peak) and copy bandwidth of this device, now."""
    import jax
    import jax.numpy as jnp
    x = jax.random.normal(jax.random.key(1), (2 ** 30,), jnp.bfloat16)  # 2 GiB, ~40x the L2
    g = jax.jit(lambda x: x * 2)  # one read, one write
    cp_s = median(timed(lambda: g(x).block_until_ready(), warmup=2, steps=10))
    return {**matmul_peak(), "copy_bytes_per_s": 2.0 * x.size * 2 / cp_s}


def attention_checks(seed: int, impls: tuple[str, ...] = ("cudnn", "xla")) -> list[dict]:
    """cuDNN and XLA attention in bf16 against float64 (outputs) and float32 (gradients)."""
    import jax
    import jax.numpy as jnp
    from jaxformer.attention import causal_mask, combine_masks, dot_product_attention, padding_mask

    rows = []
    for case, (B, T, S, N, H, causal) in {"self, causal, padded": (4, 96, 96, 8, 64, True),
                                         "cross, padded": (4, 72, 130, 16, 64, False)}.items():
        rng = np.random.default_rng(seed)
        seed += 1
        q, k, v = (rng.standard_normal((B, L, N, H)).astype(np.float32) for L in (T, S, S))
        q, k, v = (np.asarray(jnp.asarray(a, jnp.bfloat16).astype(jnp.float32)) for a in (q, k, v))  # bf16-exact
        q_len = rng.integers(T // 2, T + 1, B)
        k_len = q_len if causal else rng.integers(S // 2, S + 1, B)
        q_valid = np.arange(T)[None] < q_len[:, None]
        k_valid = np.arange(S)[None] < k_len[:, None]
        mask = np.asarray(combine_masks(padding_mask(jnp.asarray(q_valid), jnp.asarray(k_valid)),
                                        causal_mask(T) if causal else None))
        # float64 reference
        logits = np.einsum("btnh,bsnh->bnts", q.astype(np.float64), k.astype(np.float64)) / np.sqrt(H)
        logits = np.where(mask, logits, -np.inf)
        live = mask.any(-1)  # [B, 1, T]: query rows with a key
        logits = np.where(live[..., None], logits, 0.0)
        w = np.exp(logits - logits.max(-1, keepdims=True))
        w = np.where(mask, w, 0.0)
        w = w / np.maximum(w.sum(-1, keepdims=True), 1e-300)
        ref = np.einsum("bnts,bsnh->btnh", w, v.astype(np.float64))
        rows_live = live[:, 0, :]  # [B, T]
        cot = rng.standard_normal(ref.shape).astype(np.float32) * rows_live[:, :, None, None]

        def loss(q, k, v, impl):
            out = dot_product_attention(q, k, v, jnp.asarray(mask), implementation=impl)
            return jnp.sum(out.astype(jnp.float32) * cot), out

        ref_grads = jax.grad(lambda *a: loss(*a, "reference")[0], argnums=(0, 1, 2))(q, k, v)  # float32
        for impl in impls:
            args = [jnp.asarray(a, jnp.bfloat16) for a in (q, k, v)]
            (_, out), grads = jax.value_and_grad(lambda *a: loss(*a, impl), argnums=(0, 1, 2), has_aux=True)(*args)
            out = np.asarray(out.astype(jnp.float32))
            row = {"check": f"attention {case}", "impl": impl, "dtype": "bfloat16",
                   "out_rel_err": rel(out[rows_live], ref[rows_live]),
                   "grad_rel_err": max(rel(g.astype(jnp.float32), r) for g, r in zip(grads, ref_grads))}
            row["pass"] = bool(row["out_rel_err"] < TOL_BF16 and row["grad_rel_err"] < TOL_BF16)
            rows.append(row)
    return rows


def model_check(seed: int, impl: str = "cudnn") -> dict:
    """The same parameters and padded batch through bf16 + `impl` attention and float32 + XLA."""
    import dataclasses

    import jax
    import jax.numpy as jnp
    import jaxformer as jf
    from jaxformer.losses import cross_entropy_sums

    cfg32 = jf.preset("base", vocab_size=8000, num_encoder_layers=2, num_decoder_layers=2, dropout_rate=0.0,
                      attention_impl="xla")
    cfg16 = dataclasses.replace(cfg32, dtype="bfloat16", attention_impl=impl)
    params = jf.init(cfg32, jax.random.key(seed))
    rng = np.random.default_rng(seed)
    B, S, T = 16, 48, 40
    src = rng.integers(2, 8000, (B, S)).astype(np.int32)
    tgt = rng.integers(2, 8000, (B, T)).astype(np.int32)
    for a, L in ((src, S), (tgt, T)):
        for b, n in enumerate(rng.integers(L // 3, L + 1, B)):
            a[b, n:] = 0

    def loss(p, cfg):
        logits = jf.apply(p, src, tgt, config=cfg)
        sums = cross_entropy_sums(logits, jnp.asarray(tgt), jnp.asarray(tgt > 0, jnp.float32), 0.1)
        return sums["loss"] / sums["tokens"]

    l32, g32 = jax.value_and_grad(loss)(params, cfg32)
    l16, g16 = jax.value_and_grad(loss)(params, cfg16)
    flat32 = np.concatenate([np.ravel(x) for x in jax.tree.leaves(g32)])
    flat16 = np.concatenate([np.ravel(x) for x in jax.tree.leaves(g16)])
    row = {"check": "model (base, 2+2 layers), padded batch", "impl": f"{impl} bf16 vs xla float32", "dtype": "bfloat16",
           "out_rel_err": abs(float(l16) - float(l32)) / abs(float(l32)), "grad_rel_err": rel(flat16, flat32),
           "loss_f32": float(l32), "loss_bf16": float(l16)}
    row["pass"] = bool(row["out_rel_err"] < TOL_BF16 and row["grad_rel_err"] < 5 * TOL_BF16)
    return row


def throughput(name: str, steps: int, profile_out: str | None = None) -> dict:
    from experiments.benchmarks.train import measure

    shape, batch, length, model, prng = VARIANTS[name]
    row = measure(shape, steps=steps, threads=min(16, os.cpu_count() or 1), rounds=1, batch=batch, length=length,
                  model=model, peer=False, scan_compile=False, prng=prng, profile_out=profile_out)
    row["variant"] = name
    row["tflops"] = row["jax_gflops"] / 1e3
    row["mfu_datasheet"] = row["flops_per_step"] / row["jax_step_s"] / DATASHEET_BF16
    row["attention_share"] = _attention_share(shape, batch, length)
    return row


def _attention_share(shape: str, batch: int, length: int) -> float:
    from experiments.benchmarks.common import forward_flops
    f = forward_flops(SHAPES[shape], batch, length, length)
    return f["attention"] / f["total"]


CHECK_COLUMNS = [("check", "check", ""), ("impl", "implementation", ""), ("out_rel_err", "output (loss) rel. err", ".1e"),
                 ("grad_rel_err", "gradient rel. err", ".1e"), ("pass", "pass", "")]
TP_COLUMNS = [("variant", "variant", ""), ("batch", "sentences", "d"), ("length", "length", "d"),
              ("tokens_per_step", "tgt tokens/step", ",d"), ("jax_step_s", "step s", ".4f"),
              ("jax_tok_s", "tgt tok/s", ",.0f"), ("tflops", "model TFLOP/s", ".1f"),
              ("jax_util", "MFU (measured matmul)", ".1%"), ("mfu_datasheet", "MFU (989 TF/s)", ".1%"),
              ("attention_share", "attention FLOPs", ".1%"), ("compile_s", "compile s", ".1f"),
              ("gpu_peak_gib", "GPU peak GiB", ".1f")]


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", nargs="+", default=DEFAULT, choices=sorted(VARIANTS))
    p.add_argument("--steps", type=int, default=10, help="timed steps per variant (after 2 warm-up steps)")
    p.add_argument("--seed", type=int, default=int(time.time()) % 10000, help="seed of the correctness inputs")
    p.add_argument("--skip-checks", action="store_true")
    p.add_argument("--name", default="gpu", help="write experiments/results/benchmarks/NAME.json")
    p.add_argument("--profile", metavar="PATH", help="write a trace of the first variant's step here (.json.gz); "
                   "summarize it with experiments.benchmarks.trace_summary")
    a = p.parse_args(argv)

    # Allocate on demand, in this process and the workers it starts (they inherit the
    # environment): a preallocating parent would leave a worker a quarter of the memory.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    import jax
    out: dict = {"command": "python -m experiments.benchmarks.gpu " + " ".join(sys.argv[1:] if argv is None else argv), "seed": a.seed,
                 "devices": [str(d) for d in jax.devices()], "jax": jax.__version__}
    try:
        import flax
        out["flax"] = flax.__version__
    except ImportError:
        pass
    print(f"devices {out['devices']}, jax {out['jax']}, flax {out.get('flax')}, seed {a.seed}", flush=True)
    if jax.default_backend() != "gpu":
        raise SystemExit("experiments.benchmarks.gpu needs a CUDA GPU (jax.default_backend() is "
                         f"{jax.default_backend()!r}); on CPU use experiments.benchmarks.train")
    out["ceilings"] = ceilings()
    c = out["ceilings"]
    print(f"ceilings: bf16 matmul {c['matmul_flops_per_s'] / 1e12:.0f} TFLOP/s, copy {c['copy_bytes_per_s'] / 1e12:.2f} TB/s",
          flush=True)
    write_json(a.name, out)
    if not a.skip_checks:
        checks = []
        for fn in (attention_checks, model_check):
            try:
                r = fn(a.seed)
                checks += r if isinstance(r, list) else [r]
            except Exception as e:  # keep going: the throughput figures are still worth having
                checks.append({"check": fn.__name__, "impl": "-", "pass": False, "error": repr(e)[:500]})
                traceback.print_exc()
        out["checks"] = checks
        print(table(checks, CHECK_COLUMNS), flush=True)
        write_json(a.name, out)
    rows = []
    for name in a.variants:
        try:
            rows.append(throughput(name, a.steps, a.profile if name == a.variants[0] else None))
            r = rows[-1]
            print(f"  {name}: {r['jax_step_s'] * 1e3:.1f} ms/step, {r['jax_tok_s']:,.0f} tok/s, "
                  f"MFU {r['jax_util']:.1%} of measured matmul", flush=True)
        except Exception as e:
            rows.append({"variant": name, "error": repr(e)[:800]})
            print(f"  {name}: FAILED {e!r}"[:1000], flush=True)
        out["rows"] = rows
        write_json(a.name, out)
    print(table(rows, TP_COLUMNS))
    print("model FLOPs per step: 3 x common.forward_flops (matmuls incl. full T x S attention scores, "
          f"2 per multiply-add); measured matmul {c['matmul_flops_per_s'] / 1e12:.0f} TFLOP/s bf16 8192^3, same run.")
    return out


if __name__ == "__main__":
    main()
