"""The paper's optimiser (section 5.3): Adam(0.9, 0.98, 1e-9) with
lrate = d_model^-0.5 * min(step^-0.5, step * warmup^-1.5), and the options around it."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax

from jaxformer.config import ConfigError, TrainConfig

# (update count, fraction of the time budget used) -> learning rate.
Schedule = Callable[[jax.Array, jax.Array | float], jax.Array]


def learning_rate(cfg: TrainConfig, d_model: int) -> Schedule:
    """The schedule as a function of the update count (0 for the first update, which the paper
    calls step 1) and of the fraction of `max_train_seconds` used before it, which only
    `decay_over="time"` reads."""
    warmup = max(cfg.warmup_steps, 1)

    def rsqrt(count, used=0.0):
        step = jnp.asarray(count, jnp.float32) + 1.0
        return cfg.learning_rate_scale * d_model ** -0.5 * jnp.minimum(step ** -0.5, step * warmup ** -1.5)

    def linear_rsqrt(count, used=0.0):
        step = jnp.asarray(count, jnp.float32) + 1.0
        return cfg.peak_learning_rate * jnp.minimum(step / warmup, jnp.sqrt(warmup / step))

    def linear_decay(count, used=0.0):
        step = jnp.asarray(count, jnp.float32) + 1.0
        if cfg.decay_over == "time":
            decay = 1.0 - jnp.asarray(used, jnp.float32)
        else:
            decay = (cfg.num_steps - step) / (cfg.num_steps - warmup)
        return cfg.peak_learning_rate * jnp.clip(jnp.minimum(step / warmup, decay), 0.0, 1.0)

    def constant(count, used=0.0):
        return jnp.full((), cfg.peak_learning_rate, jnp.float32)

    schedules = {"rsqrt": rsqrt, "linear_rsqrt": linear_rsqrt, "linear_decay": linear_decay, "constant": constant}
    if cfg.schedule not in schedules:  # a TrainConfig refuses it too; this guards one built around its check
        raise ConfigError(f"train.schedule={cfg.schedule!r} is not one of {', '.join(schedules)}")
    return schedules[cfg.schedule]


def optimizer(cfg: TrainConfig, d_model: int) -> optax.GradientTransformation:
    """Adam with the schedule, after optional global-norm clipping.

    With `decay_over="time"` the rate depends on the clock, which optax cannot see: the
    transformation then stops at Adam's direction (no schedule count in its state, so a workdir
    keeps the mode it was started in) and `train_step` scales it by -rate.
    """
    if cfg.decay_over == "time":
        adam = optax.scale_by_adam(b1=cfg.adam_b1, b2=cfg.adam_b2, eps=cfg.adam_eps)
    else:
        adam = optax.adam(learning_rate(cfg, d_model), b1=cfg.adam_b1, b2=cfg.adam_b2, eps=cfg.adam_eps)
    if cfg.clip_grad_norm > 0:
        return optax.chain(optax.clip_by_global_norm(cfg.clip_grad_norm), adam)
    return adam
