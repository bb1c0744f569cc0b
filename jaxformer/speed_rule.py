"""Settings picked from the measured speed of the training step (`ExperimentConfig.speed_rule`).

A time-budgeted run makes as many updates as its machine allows, and the 2-core machines people
run the CPU configs on differ by 2.4x in speed: what serves the machine that fits 9,000 updates
in the budget need not serve the one that fits 4,000. So a config may carry a rule: a fresh run
times its own step on its first batches and, below a threshold of target tokens a second,
trains with the rule's overrides. The decision is logged, recorded in the workdir's config.json
and never taken again for that workdir: a resume, `evaluate` and `translate` read the model that
was trained. The probe's seconds count against the run's time budget.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from pathlib import Path
from typing import Callable

import jax
import numpy as np
from jax.experimental import multihost_utils

from jaxformer import checkpoint, sharding, train
from jaxformer.config import ExperimentConfig
from jaxformer.data import pipeline
from jaxformer.data.prefetch import Prefetch

WARMUP_STEPS = 2  # the first call compiles; by the third the prefetch thread keeps ahead


def decide(exp: ExperimentConfig, tokens_per_second: float) -> ExperimentConfig:
    """`exp` as a run measured at `tokens_per_second` trains it: the rule's overrides applied
    below its threshold; the measurement and what was applied recorded in the rule."""
    rule = exp.speed_rule
    slower = tokens_per_second < rule.below_tokens_per_second
    return exp.with_speed_rule(dataclasses.replace(rule, measured_tokens_per_second=float(tokens_per_second),
                                                   applied=rule.overrides if slower else ()))


def describe(exp: ExperimentConfig) -> str:
    """One log line: what was measured and what it chose."""
    rule = exp.speed_rule
    rate, limit = rule.measured_tokens_per_second, rule.below_tokens_per_second
    if rule.applied:
        return (f"speed rule: the config's step ran {rate:,.0f} target tokens/s (below {limit:,.0f}): training with "
                f"{', '.join(rule.applied)}")
    return f"speed rule: the config's step ran {rate:,.0f} target tokens/s (not below {limit:,.0f}): training it as written"


def recorded(exp: ExperimentConfig, workdir: Path) -> ExperimentConfig:
    """`exp` with what a run in `workdir` measured and applied, if that run left a checkpoint: a
    resume, even with --config and whatever the rule says now, continues what it trained."""
    if not checkpoint.has_steps(workdir) or not (workdir / checkpoint.CONFIG_FILE).is_file():
        return exp
    rule = checkpoint.read_config(workdir).speed_rule
    return exp.with_speed_rule(rule) if rule.measured_tokens_per_second > 0 else exp


def _from_process_0(value: float) -> float:
    """Process 0's `value` on every process: all must take the same decisions and budget reading."""
    if jax.process_count() == 1:
        return float(value)
    return float(multihost_utils.broadcast_one_to_all(np.float32(value)))


def probe(exp: ExperimentConfig, prep: pipeline.Prepared, mesh: jax.sharding.Mesh) -> float:
    """Target tokens a second of `exp`'s training step on its first training batches, from a
    throwaway state (the run's own batches and state are untouched); process 0's reading on all."""
    step_fn, _, shard = train.compile_steps(exp, mesh)
    state = jax.jit(lambda: train.init_state(exp), out_shardings=shard)()
    batches = Prefetch(iter(pipeline.train_batches(prep, process_index=jax.process_index(),
                                                   process_count=jax.process_count())))  # as the loop reads them
    tokens, t0 = [], 0.0
    with sharding.use_rules(mesh, exp.mesh.rules), contextlib.closing(batches):
        for i in range(WARMUP_STEPS + exp.speed_rule.probe_steps):
            if i == WARMUP_STEPS:
                jax.block_until_ready(state)
                t0 = time.perf_counter()
            state, metrics = step_fn(state, sharding.global_batch(next(batches), mesh, exp.mesh.rules), 0.0)
            if i >= WARMUP_STEPS:
                tokens.append(metrics["tokens"])
        jax.block_until_ready(state)
        seconds = time.perf_counter() - t0
    return _from_process_0(float(np.sum(jax.device_get(tokens))) / seconds)


def choose(exp: ExperimentConfig, workdir: Path, prep: pipeline.Prepared, mesh: jax.sharding.Mesh, *,
           say: Callable[..., None] = print) -> tuple[ExperimentConfig, float]:
    """(the experiment to train, seconds the probe took). Measures only where the rule is active,
    nothing is recorded yet, the run has a time budget and the workdir holds no checkpoint (no
    earlier training, no imported model)."""
    rule = exp.speed_rule
    if rule.measured_tokens_per_second > 0:  # recorded by this workdir's first run (see `recorded`)
        say(describe(exp) + " (measured when this workdir started)")
        return exp, 0.0
    if not rule.active:
        return exp, 0.0
    fresh = _from_process_0(not checkpoint.has_steps(workdir)) > 0
    if exp.train.max_train_seconds <= 0 or not fresh:
        why = "no time budget" if exp.train.max_train_seconds <= 0 else "the workdir holds a checkpoint"
        say(f"speed rule: not measured ({why}); training the config as written")
        return exp, 0.0
    t0 = time.perf_counter()
    chosen = decide(exp, probe(exp, prep, mesh))
    if jax.process_index() == 0:
        checkpoint.write_config(workdir, chosen)
    say(describe(chosen))
    return chosen, _from_process_0(time.perf_counter() - t0)
