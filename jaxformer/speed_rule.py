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
from jaxformer.config import ConfigError, ExperimentConfig
from jaxformer.data import pipeline
from jaxformer.data.prefetch import Prefetch

WARMUP_STEPS = 2  # the first call compiles; by the third the prefetch thread keeps ahead


def decide(exp: ExperimentConfig, tokens_per_second: float) -> ExperimentConfig:
    """`exp` as a run measured at `tokens_per_second` trains it: the rule's overrides applied
    below its threshold, and the measurement recorded in the rule."""
    rule = dataclasses.replace(exp.speed_rule, measured_tokens_per_second=float(tokens_per_second))
    exp = dataclasses.replace(exp, speed_rule=rule)
    return exp.for_slower_machine() if tokens_per_second < rule.below_tokens_per_second else exp


def describe(exp: ExperimentConfig) -> str:
    """One log line: what was measured and what it chose."""
    rule = exp.speed_rule
    rate, limit = rule.measured_tokens_per_second, rule.below_tokens_per_second
    if rate < limit:
        return (f"speed rule: the config's step ran {rate:,.0f} target tokens/s (below {limit:,.0f}): training with "
                f"{', '.join(rule.overrides)}")
    return f"speed rule: the config's step ran {rate:,.0f} target tokens/s (not below {limit:,.0f}): training it as written"


def recorded(exp: ExperimentConfig, workdir: Path) -> ExperimentConfig:
    """`exp` with the decision a run in `workdir` already took, if one did (so a resume, even with
    --config, continues the model it trained); otherwise `exp` unchanged."""
    if not exp.speed_rule.active or exp.speed_rule.measured_tokens_per_second > 0:
        return exp
    if not (workdir / checkpoint.CONFIG_FILE).is_file():
        return exp
    measured = checkpoint.read_config(workdir).speed_rule.measured_tokens_per_second
    return decide(exp, measured) if measured > 0 else exp


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
    rate = float(np.sum(jax.device_get(tokens))) / (time.perf_counter() - t0)
    if jax.process_count() > 1:
        rate = float(multihost_utils.broadcast_one_to_all(np.float32(rate)))
    return rate


def choose(exp: ExperimentConfig, workdir: Path, prep: pipeline.Prepared, mesh: jax.sharding.Mesh, *,
           fresh: bool, say: Callable[..., None] = print) -> tuple[ExperimentConfig, float]:
    """(the experiment to train, seconds the probe took). Measures only where the rule is active,
    not yet decided for this workdir, the run has a time budget and starts from nothing (`fresh`:
    no checkpoint, no imported model)."""
    rule = exp.speed_rule
    if not rule.active:
        return exp, 0.0
    if rule.measured_tokens_per_second > 0:
        say(describe(exp) + " (measured when this workdir started)")
        return exp, 0.0
    if exp.train.max_train_seconds <= 0 or not fresh:
        why = "no time budget" if exp.train.max_train_seconds <= 0 else "the workdir holds a checkpoint"
        say(f"speed rule: not measured ({why}); training the config as written")
        return exp, 0.0
    t0 = time.perf_counter()
    chosen = decide(exp, probe(exp, prep, mesh))
    if chosen.model.vocab_size != prep.tokenizer.vocab_size:
        raise ConfigError(f"speed_rule.overrides set model.vocab_size={chosen.model.vocab_size} but the tokenizer "
                          f"has {prep.tokenizer.vocab_size} entries; the rule cannot change the vocabulary")
    if jax.process_index() == 0:
        checkpoint.write_config(workdir, chosen)
    say(describe(chosen))
    return chosen, time.perf_counter() - t0
