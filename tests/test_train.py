"""Training: the paper's schedule, overfitting one batch, exact gradient accumulation, the bf16
path, 8 devices equal 1, and no recompilation after the first step."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxformer import sharding
from jaxformer.config import ConfigError, ExperimentConfig, MeshConfig, TrainConfig, preset
from jaxformer.optim import learning_rate
from jaxformer import train
from conftest import random_tokens


def experiment(**train_kw) -> ExperimentConfig:
    model = preset("tiny", vocab_size=64, d_model=32, d_ff=64, num_heads=4, dropout_rate=0.1)
    tcfg = TrainConfig(schedule="constant", peak_learning_rate=3e-3, **train_kw)
    return ExperimentConfig(model=model, train=tcfg, mesh=MeshConfig(data=1))


def batch_of(rows=8, seed=0):
    rng = np.random.default_rng(seed)
    return {"inputs": random_tokens(rng, rng.integers(2, 10, rows), 10, 64),
            "targets": random_tokens(rng, rng.integers(2, 8, rows), 8, 64)}


def test_schedule_is_the_papers_formula():
    cfg = TrainConfig(schedule="rsqrt", warmup_steps=4000)
    lr = learning_rate(cfg, 512)
    for step in (1, 10, 3999, 4000, 4001, 100_000):
        expected = 512 ** -0.5 * min(step ** -0.5, step * 4000 ** -1.5)
        assert float(lr(step - 1)) == pytest.approx(expected, rel=1e-5)
    peak = learning_rate(TrainConfig(schedule="linear_rsqrt", warmup_steps=10, peak_learning_rate=1e-3), 512)
    assert float(peak(9)) == pytest.approx(1e-3) and float(peak(39)) == pytest.approx(5e-4)


def test_linear_decay_reaches_zero_at_num_steps():
    lr = learning_rate(TrainConfig(schedule="linear_decay", num_steps=110, warmup_steps=10,
                                   peak_learning_rate=1e-3), 512)
    assert float(lr(4)) == pytest.approx(5e-4) and float(lr(9)) == pytest.approx(1e-3)
    assert float(lr(59)) == pytest.approx(5e-4) and float(lr(109)) == 0.0 and float(lr(500)) == 0.0
    with pytest.raises(ConfigError, match="num_steps"):
        TrainConfig(schedule="linear_decay", num_steps=10, warmup_steps=10)


def test_time_decay_anneals_with_the_budget_used():
    cfg = TrainConfig(schedule="linear_decay", decay_over="time", max_train_seconds=60.0, num_steps=10_000,
                      warmup_steps=10, peak_learning_rate=1e-3)
    lr = learning_rate(cfg, 512)
    assert float(lr(4, 0.0)) == pytest.approx(5e-4)  # warm-up in steps, as always
    assert float(lr(4, 0.6)) == pytest.approx(4e-4)  # a slow machine: the budget caps the warm-up too
    assert float(lr(500, 0.25)) == pytest.approx(7.5e-4) and float(lr(500, 1.0)) == 0.0
    assert float(lr(9_999, 0.5)) == pytest.approx(5e-4)  # num_steps is only an upper bound
    with pytest.raises(ConfigError, match="needs a time budget: set train.max_train_seconds > 0 \\(it is 0\\)"):
        TrainConfig(schedule="linear_decay", decay_over="time", num_steps=100, warmup_steps=10)
    with pytest.raises(ConfigError, match="needs train.schedule='linear_decay' \\(it is 'rsqrt'\\)"):
        TrainConfig(schedule="rsqrt", decay_over="time", max_train_seconds=60.0)
    with pytest.raises(ConfigError, match="decay_over='hours' is not one of steps, time"):
        TrainConfig(decay_over="hours")


def test_time_decay_step_is_adam_at_the_rate_of_the_budget_left():
    """An update with a quarter of the budget used equals a constant-rate update at 3/4 of the peak."""
    base = experiment()
    timed = dataclasses.replace(base, train=dataclasses.replace(
        base.train, schedule="linear_decay", decay_over="time", max_train_seconds=100.0, warmup_steps=1,
        num_steps=1000, peak_learning_rate=2e-3))
    const = dataclasses.replace(base, train=dataclasses.replace(base.train, schedule="constant",
                                                                peak_learning_rate=1.5e-3))
    mesh = sharding.make_mesh(data=1, devices=jax.devices()[:1])
    out = []
    for exp, used in ((timed, 0.25), (const, 0.0)):
        step, _, shard = train.compile_steps(exp, mesh)
        state = jax.device_put(train.init_state(exp), shard)
        with sharding.use_rules(mesh, exp.mesh.rules):
            for seed in (0, 1):
                state, m = step(state, batch_of(8, seed), used)
        out.append((jax.device_get(state.params), float(m["learning_rate"])))
    assert out[0][1] == pytest.approx(1.5e-3) and out[1][1] == pytest.approx(1.5e-3)
    moved = jax.tree.map(lambda a, b: np.abs(a - b).max(), out[0][0], jax.device_get(train.init_state(timed).params))
    assert max(jax.tree.leaves(moved)) > 1e-3  # the update did something
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), out[0][0], out[1][0])


def run(exp, batches, mesh=None):
    mesh = mesh or sharding.make_mesh(data=1, devices=jax.devices()[:1])
    step, _, shard = train.compile_steps(exp, mesh)
    state = jax.device_put(train.init_state(exp), shard)
    out = []
    with sharding.use_rules(mesh, exp.mesh.rules):
        for b in batches:
            state, m = step(state, b, 0.0)
            out.append(jax.device_get(m))
    return state, out


def test_overfitting_one_batch_drives_the_loss_near_zero():
    exp = experiment(label_smoothing=0.0)
    exp = dataclasses.replace(exp, model=dataclasses.replace(exp.model, dropout_rate=0.0))
    b = batch_of(4)
    _, metrics = run(exp, [b] * 150)
    assert metrics[0]["loss"] > 3.0
    assert metrics[-1]["loss"] < 0.05 and metrics[-1]["accuracy"] == 1.0


def test_accumulated_micro_batches_equal_one_big_batch():
    big = batch_of(8)
    # A large Adam epsilon makes the update linear in the gradient, so that float noise on
    # gradients that are zero in exact arithmetic (key biases) is not amplified to +-lr.
    exp1 = experiment(adam_eps=1.0)
    exp = dataclasses.replace(exp1, model=dataclasses.replace(exp1.model, dropout_rate=0.0))
    s1, m1 = run(exp, [big])
    s4, m4 = run(dataclasses.replace(exp, train=dataclasses.replace(exp.train, grad_accum_steps=4)), [big])
    np.testing.assert_allclose(m4[0]["loss"], m1[0]["loss"], rtol=1e-6)
    np.testing.assert_allclose(m4[0]["grad_norm"], m1[0]["grad_norm"], rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), s4.params, s1.params)


def test_weight_decay_is_decoupled_and_spares_biases_and_norms():
    """AdamW: the update with weight decay is Adam's update minus rate * wd * w on the matrices only,
    so Adam's moments are those of the run without it, and biases and layer-norm scales move alike."""
    exp = experiment()  # a constant rate of 3e-3
    exp = dataclasses.replace(exp, model=dataclasses.replace(exp.model, dropout_rate=0.0))
    wd = dataclasses.replace(exp, train=dataclasses.replace(exp.train, weight_decay=0.5))
    start = jax.device_get(train.init_state(exp).params)
    plain, _ = run(exp, [batch_of(8)])
    decayed, _ = run(wd, [batch_of(8)])
    names = []
    def check(path, w0, a, b):
        expect = a - 3e-3 * 0.5 * w0 if train.decays(path) else a
        np.testing.assert_allclose(b, expect, rtol=1e-5, atol=1e-8)
        names.append((jax.tree_util.keystr(path), train.decays(path)))
    jax.tree_util.tree_map_with_path(check, start, jax.device_get(plain.params), jax.device_get(decayed.params))
    decayed_names = {n for n, d in names if d}
    assert "['embed']['embedding']" in decayed_names and "['decoder_layers']['feed_forward']['wi']" in decayed_names
    assert not any(n.endswith(("bias']", "scale']", "['bi']", "['bo']")) for n in decayed_names)
    assert len(decayed_names) < len(names)
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(a, b), plain.opt_state, decayed.opt_state)


def test_bfloat16_path_trains():
    exp = experiment()
    exp = dataclasses.replace(exp, model=dataclasses.replace(exp.model, dtype="bfloat16"))
    b = batch_of(8)
    state, metrics = run(exp, [b] * 30)
    assert state.params["embed"]["embedding"].dtype == jnp.float32
    assert metrics[-1]["loss"] < metrics[0]["loss"] - 0.5


def test_second_step_does_not_recompile():
    exp = experiment()
    mesh = sharding.make_mesh(data=1, devices=jax.devices()[:1])
    step, _, shard = train.compile_steps(exp, mesh)
    state = jax.device_put(train.init_state(exp), shard)
    with sharding.use_rules(mesh, exp.mesh.rules):
        state, _ = step(state, batch_of(8, 0), 0.0)
        with jax.log_compiles(True):
            import logging
            records = []
            handler = logging.Handler()
            handler.emit = records.append
            logger = logging.getLogger("jax")
            logger.addHandler(handler)
            try:
                for seed, used in ((1, 0.3), (2, 0.7)):  # another batch and another share of the budget
                    state, _ = step(state, batch_of(8, seed), used)
            finally:
                logger.removeHandler(handler)
    assert not [r for r in records if "Compiling" in r.getMessage()], [r.getMessage() for r in records]
    assert step._cache_size() == 1


def test_eight_devices_equal_one_device_training():
    exp = experiment(adam_eps=1.0)  # linear updates: see the accumulation test
    exp = dataclasses.replace(exp, model=dataclasses.replace(exp.model, dropout_rate=0.0))
    batches = [batch_of(8, s) for s in range(3)]
    s1, m1 = run(exp, batches)
    exp8 = dataclasses.replace(exp, mesh=MeshConfig(data=2, fsdp=2, tensor=2, rules="fsdp_tp"))
    s8, m8 = run(exp8, batches, sharding.make_mesh(data=2, fsdp=2, tensor=2))
    for a, b in zip(m1, m8):
        np.testing.assert_allclose(b["loss"], a["loss"], rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6), s1.params, s8.params)
    assert s8.opt_state[0].mu["decoder_layers"]["feed_forward"]["wi"].sharding.spec == s8.params["decoder_layers"]["feed_forward"]["wi"].sharding.spec


def test_a_non_finite_loss_drops_the_whole_update_and_is_flagged():
    exp = experiment(ema_decay=0.9)
    good, bad = batch_of(8, 0), batch_of(8, 1)
    bad["inputs"] = np.where(bad["inputs"] > 0, 10_000, 0).astype(np.int32)  # ids past the table: NaN embeddings
    mesh = sharding.make_mesh(data=1, devices=jax.devices()[:1])
    step, _, shard = train.compile_steps(exp, mesh)
    state = jax.device_put(train.init_state(exp), shard)
    with sharding.use_rules(mesh, exp.mesh.rules):
        state, m = step(state, good, 0.0)
        assert float(m["nonfinite"]) == 0.0
        before = jax.device_get(state)
        state, m = step(state, bad, 0.0)
    assert not np.isfinite(float(m["loss"])) and float(m["nonfinite"]) == 1.0
    after = jax.device_get(state)
    assert int(after.step) == 2  # the step counts (the data moved on) ...
    for part in ("params", "opt_state", "ema"):  # ... but nothing else changed, and all stays finite
        jax.tree.map(np.testing.assert_array_equal, getattr(after, part), getattr(before, part))
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(after.params))
