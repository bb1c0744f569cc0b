"""The benchmarks' own arithmetic and peer: the FLOP formula equals the matmul FLOPs that
jaxformer's forward pass actually traces, and the PyTorch peer has the same shape and trains."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxformer as jf
from experiments.benchmarks.common import Shape, cpu_quota, forward_flops, table, timed, train_flops
from experiments.benchmarks.train_worker import model_config

SHAPE = Shape("t", vocab=50, d_model=16, d_ff=24, heads=2, enc_layers=2, dec_layers=3, dropout=0.0)


def dot_flops(jaxpr) -> int:
    """2 x output size x contracted size of every dot_general, nested jaxprs included (a scan body
    counted once per iteration)."""
    total = 0
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            (contract, _), _ = eqn.params["dimension_numbers"]
            lhs = eqn.invars[0].aval.shape
            total += 2 * int(np.prod(eqn.outvars[0].aval.shape)) * int(np.prod([lhs[d] for d in contract]))
        times = eqn.params["length"] if eqn.primitive.name == "scan" else 1
        for value in eqn.params.values():
            for sub in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(sub, jax.extend.core.ClosedJaxpr):
                    total += times * dot_flops(sub.jaxpr)
                elif isinstance(sub, jax.extend.core.Jaxpr):
                    total += times * dot_flops(sub)
    return total


@pytest.mark.parametrize("scan", [False, True])
def test_flop_formula_matches_traced_matmuls(scan):
    cfg = model_config(SHAPE, max_len=64, scan_layers=scan)
    params = jf.init(cfg, jax.random.key(0))
    src, tgt = jnp.ones((3, 7), jnp.int32), jnp.ones((3, 5), jnp.int32)
    jaxpr = jax.make_jaxpr(lambda p: jf.apply(p, src, tgt, config=cfg))(params)
    f = forward_flops(SHAPE, 3, 7, 5)
    assert dot_flops(jaxpr.jaxpr) == f["total"]
    assert 0 < f["attention"] < f["total"]
    assert train_flops(SHAPE, 3, 7, 5) == 3 * f["total"]


def test_timed_repeats_a_short_call_until_the_minimum_time():
    import time
    calls = []
    times = timed(lambda: (calls.append(1), time.sleep(0.01)), warmup=1, steps=2, min_seconds=0.1)
    assert len(times) >= 8 and sum(times) >= 0.1 and len(calls) == len(times) + 1
    assert len(timed(lambda: None, warmup=0, steps=3)) == 3


def test_cpu_quota_reads_the_process_group_in_cgroup_v1_and_v2(tmp_path):
    """A throttled run (a slower machine simulated) must be recognised, or its figures would pass as
    the machine's own; an unlimited group or an unreadable file is no quota."""
    fs = tmp_path / "fs"
    proc = tmp_path / "cgroup"
    group = fs / "cpu,cpuacct" / "slow"
    group.mkdir(parents=True)
    (group / "cpu.cfs_period_us").write_text("10000\n")
    (group / "cpu.cfs_quota_us").write_text("8000\n")
    proc.write_text("not a cgroup line\n4:memory:/x\n3:cpu,cpuacct:/slow\n0::/\n")
    assert cpu_quota(proc, fs) == 0.8
    (group / "cpu.cfs_quota_us").write_text("-1\n")
    assert cpu_quota(proc, fs) is None
    v2 = fs / "run"
    v2.mkdir()
    (v2 / "cpu.max").write_text("150000 100000\n")
    proc.write_text("0::/run\n")
    assert cpu_quota(proc, fs) == 1.5
    (v2 / "cpu.max").write_text("max 100000\n")
    assert cpu_quota(proc, fs) is None
    assert cpu_quota(tmp_path / "missing", fs) is None


def test_table_formats_missing_cells():
    out = table([{"a": 1.5}, {"a": None}], [("a", "A", ".1f"), ("b", "B", "d")])
    assert out.splitlines()[2:] == ["| 1.5 | - |", "| - | - |"]


def test_torch_peer_has_the_same_shape_and_learns():
    torch = pytest.importorskip("torch")
    from experiments.benchmarks.torch_peer import PeerTransformer, beam_search, greedy, make_train_step

    torch.manual_seed(0)
    model = PeerTransformer(SHAPE, max_len=64)
    ours = jf.param_count(model_config(SHAPE, max_len=64))
    # nn.Transformer adds a final LayerNorm after each stack (2 x 2D); everything else matches.
    assert sum(p.numel() for p in model.parameters()) == ours + 4 * SHAPE.d_model
    step = make_train_step(model, warmup=10)
    src = torch.randint(2, SHAPE.vocab, (8, 6))
    first = [step(src, src) for _ in range(3)][0]
    for _ in range(40):
        last = step(src, src)
    assert last < first - 0.5
    model.eval()
    assert greedy(model, src[:2], 4).shape == (2, 4)
    assert beam_search(model, src[:2], 4, beam=3).shape == (2, 4)


def test_torch_peer_micro_batches_make_the_same_update():
    torch = pytest.importorskip("torch")
    from experiments.benchmarks.torch_peer import PeerTransformer, make_train_step

    src = torch.randint(2, SHAPE.vocab, (8, 6))
    tgt = torch.randint(2, SHAPE.vocab, (8, 5))
    tgt[::3, 3:] = 0  # some padding, so that micro-batches hold unequal token counts
    grads = []
    for accum in (1, 4):
        torch.manual_seed(0)
        model = PeerTransformer(SHAPE, max_len=64)  # dropout 0: the two runs are deterministic
        loss = make_train_step(model, warmup=10, accum=accum)(src, tgt)
        # the gradients stay on the parameters until the next step (Adam's first step is sign-like,
        # so the updated values would amplify float rounding of near-zero gradients)
        grads.append((loss, torch.cat([p.grad.flatten() for p in model.parameters()])))
    assert grads[0][0] == pytest.approx(grads[1][0], rel=1e-5)
    torch.testing.assert_close(grads[0][1], grads[1][1], rtol=1e-4, atol=1e-6)


def test_gpu_attention_check_passes_a_correct_kernel_and_fails_a_wrong_one(monkeypatch):
    """The GPU correctness check (run with cuDNN on a GPU) on CPU with XLA: it passes the real
    attention and catches one that forgets the 1/sqrt(d_k) scale."""
    from experiments.benchmarks import gpu
    import jaxformer.attention as attention

    rows = gpu.attention_checks(7, impls=("xla",))
    assert len(rows) == 2 and all(r["pass"] for r in rows), rows
    assert all(1e-4 < r["out_rel_err"] < gpu.TOL_BF16 for r in rows)  # bf16 rounding, not float32 by mistake

    real = attention.dot_product_attention

    def unscaled(q, k, v, mask=None, *, implementation="xla", **kw):
        if implementation == "reference":
            return real(q, k, v, mask, implementation=implementation, **kw)
        return real(q * q.shape[-1] ** 0.5, k, v, mask, implementation=implementation, **kw)

    monkeypatch.setattr(attention, "dot_product_attention", unscaled)
    rows = gpu.attention_checks(8, impls=("xla",))
    assert not any(r["pass"] for r in rows), rows


def test_trace_summary_groups_device_ops_per_step(tmp_path):
    import gzip
    import json

    from experiments.benchmarks import trace_summary

    events = [{"ph": "M", "pid": 1, "name": "process_name", "args": {"name": "/host:CPU"}},
              {"ph": "M", "pid": 2, "name": "process_name", "args": {"name": "/device:GPU:0"}},
              {"ph": "M", "pid": 2, "tid": 7, "name": "thread_name", "args": {"name": "Stream #13(compute)"}},
              {"ph": "M", "pid": 2, "tid": 8, "name": "thread_name", "args": {"name": "XLA Ops"}}]
    for _ in range(2):  # two steps
        events += [{"ph": "X", "pid": 2, "tid": 7, "name": "nvjet_sm90_tst_128x128", "ts": 0, "dur": 30},
                   {"ph": "X", "pid": 2, "tid": 7, "name": "cudnn_generated_sdpa_flash_fprop", "ts": 0, "dur": 10},
                   {"ph": "X", "pid": 2, "tid": 7, "name": "loop_add_fusion", "ts": 0, "dur": 20},
                   {"ph": "X", "pid": 2, "tid": 8, "name": "dot.1", "ts": 0, "dur": 30},  # the same time, op row
                   {"ph": "X", "pid": 1, "tid": 1, "name": "PjitFunction", "ts": 0, "dur": 500}]
    path = tmp_path / "t.json.gz"
    with gzip.open(path, "wt") as f:
        json.dump({"traceEvents": events}, f)
    s = trace_summary.summarize(str(path), steps=2)
    assert s["total_us_per_step"] == 60
    assert dict(s["by_kind"]) == {"matmul": 30, "attention (cuDNN)": 10, "fusion (elementwise)": 20}


@pytest.mark.slow
def test_decode_fusion_benchmark_runs_in_a_reduced_size(tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    from experiments.benchmarks import common, decode_fusion
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    out = decode_fusion.main(["--size", "small", "--folder", str(tmp_path), "--rounds", "1", "--out-len", "4",
                              "--batch", "2"])
    assert [r["search"] for r in out["rows"]] == ["greedy", "beam 4"]
    assert all(r["defaults"] > 0 and r["individual dots"] > 0 for r in out["rows"])
    assert (tmp_path / "results" / "decode_fusion.json").is_file()


@pytest.mark.slow
def test_decode_ab_benchmark_runs_in_a_reduced_size(tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    from experiments.benchmarks import common, decode_ab
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    out = decode_ab.main(["--ref", "HEAD", "--size", "small", "--folder", str(tmp_path), "--rounds", "1",
                          "--out-len", "4", "--batch", "2"])
    assert [r["search"] for r in out["rows"]] == ["greedy", "beam 4"]
    assert all(r["HEAD"] > 0 and r["working tree"] > 0 for r in out["rows"])
    assert (tmp_path / "results" / "decode_ab.json").is_file()


def test_decode_ab_names_a_ref_git_does_not_know():
    from experiments.benchmarks import decode_ab
    with pytest.raises(SystemExit, match="cannot read jaxformer/decode.py at 'no-such-ref'"):
        decode_ab.module_at("no-such-ref")
