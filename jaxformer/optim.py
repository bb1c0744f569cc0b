"""The paper's optimiser (section 5.3): Adam(0.9, 0.98, 1e-9) with
lrate = d_model^-0.5 * min(step^-0.5, step * warmup^-1.5), and the options around it."""

from __future__ import annotations

import jax.numpy as jnp
import optax

from jaxformer.config import TrainConfig


def learning_rate(cfg: TrainConfig, d_model: int) -> optax.Schedule:
    """The schedule as a function of the update count (0 for the first update, which the paper
    calls step 1)."""
    warmup = max(cfg.warmup_steps, 1)

    def rsqrt(count):
        step = jnp.asarray(count, jnp.float32) + 1.0
        return cfg.learning_rate_scale * d_model ** -0.5 * jnp.minimum(step ** -0.5, step * warmup ** -1.5)

    def linear_rsqrt(count):
        step = jnp.asarray(count, jnp.float32) + 1.0
        return cfg.peak_learning_rate * jnp.minimum(step / warmup, jnp.sqrt(warmup / step))

    def linear_decay(count):
        step = jnp.asarray(count, jnp.float32) + 1.0
        decay = (cfg.num_steps - step) / (cfg.num_steps - warmup)
        return cfg.peak_learning_rate * jnp.clip(jnp.minimum(step / warmup, decay), 0.0, 1.0)

    if cfg.schedule == "rsqrt":
        return rsqrt
    if cfg.schedule == "linear_rsqrt":
        return linear_rsqrt
    if cfg.schedule == "linear_decay":
        return linear_decay
    return optax.constant_schedule(cfg.peak_learning_rate)


def optimizer(cfg: TrainConfig, d_model: int) -> optax.GradientTransformation:
    """Adam with the schedule, after optional global-norm clipping."""
    adam = optax.adam(learning_rate(cfg, d_model), b1=cfg.adam_b1, b2=cfg.adam_b2, eps=cfg.adam_eps)
    if cfg.clip_grad_norm > 0:
        return optax.chain(optax.clip_by_global_norm(cfg.clip_grad_norm), adam)
    return adam
