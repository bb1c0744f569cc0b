"""Training state and the sharded, jitted train and eval steps.

Steps are plain `jax.jit` over pytrees with explicit in/out shardings from the logical rules,
the state donated, and the batch laid over the data (and FSDP) axes. Micro-batches for gradient
accumulation are scanned inside the step; losses are summed and divided by the number of target
tokens of the whole batch once, so k micro-batches give exactly the update of one big batch.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax.sharding import Mesh, NamedSharding, PartitionSpec

import jaxformer as jf
from jaxformer import losses, sharding
from jaxformer.config import ConfigError, ExperimentConfig
from jaxformer.optim import learning_rate, optimizer

Array = jax.Array
Batch = dict[str, Array]


@struct.dataclass
class TrainState:
    """Everything that changes during training (the data iterator state is saved beside it)."""

    step: Array  # int32 [], updates done
    params: Any
    opt_state: Any
    ema: Any  # EMA of params, or None
    rng: Array  # uint32 [2]: raw key data, so checkpoints hold plain arrays


def _tx(exp: ExperimentConfig) -> optax.GradientTransformation:
    return optimizer(exp.train, exp.model.d_model)


def init_state(exp: ExperimentConfig) -> TrainState:
    """A fresh state, deterministic in train.seed (parameters from key (seed, 0), dropout from (seed, 1))."""
    return state_from_params(exp, jf.init(exp.model, jax.random.fold_in(jax.random.key(exp.train.seed), 0)))


def state_from_params(exp: ExperimentConfig, params: Any) -> TrainState:
    """A state at step 0 around given parameters (an imported pretrained model's) with a fresh
    optimiser, EMA and dropout key."""
    key = jax.random.key(exp.train.seed)
    return TrainState(
        step=jnp.zeros((), jnp.int32), params=params, opt_state=_tx(exp).init(params),
        ema=jax.tree.map(jnp.copy, params) if exp.train.ema_decay > 0 else None,
        rng=jax.random.key_data(jax.random.fold_in(key, 1)))


def state_shardings(exp: ExperimentConfig, mesh: Mesh) -> TrainState:
    """NamedShardings of every state leaf: parameters (and the Adam moments and EMA that mirror
    them) by the logical rules, scalars replicated."""
    rules = exp.mesh.rules
    shapes = jax.eval_shape(functools.partial(init_state, exp))
    p_shard = sharding.param_shardings(shapes.params, jf.logical_axes(exp.model), mesh, rules)
    replicated = NamedSharding(mesh, PartitionSpec())
    opt_shard = optax.tree_map_params(_tx(exp), lambda _, s: s, shapes.opt_state, p_shard,
                                      transform_non_params=lambda _: replicated)
    return TrainState(step=replicated, params=p_shard, opt_state=opt_shard,
                      ema=p_shard if shapes.ema is not None else None, rng=replicated)


def _model_inputs(batch: Batch) -> dict[str, Array | None]:
    return dict(src_segments=batch.get("inputs_segmentation"), src_positions=batch.get("inputs_position"),
                tgt_segments=batch.get("targets_segmentation"), tgt_positions=batch.get("targets_position"))


def _weights(batch: Batch, pad_id: int) -> Array:
    """1 for real target tokens, 0 for padding (packed rows: segment 0)."""
    if "targets_segmentation" in batch:
        return batch["targets_segmentation"] > 0
    return batch["targets"] != pad_id


def loss_sums(params, batch: Batch, exp: ExperimentConfig, *, rng: Array | None = None) -> dict[str, Array]:
    """Summed label-smoothed loss statistics of one (micro-)batch."""
    logits = jf.apply(params, batch["inputs"], batch["targets"], config=exp.model, train=rng is not None,
                      rng=rng, **_model_inputs(batch))
    return losses.cross_entropy_sums(logits, batch["targets"], _weights(batch, exp.model.pad_id),
                                     exp.train.label_smoothing)


def _split_micro(batch: Batch, k: int) -> Batch:
    """[B, ...] -> [k, B/k, ...] taking rows j, j+k, ... for micro-batch j, so that each
    micro-batch stays spread over all devices of the batch axis."""
    def split(x):
        if x.shape[0] % k:
            raise ConfigError(f"a batch of {x.shape[0]} rows cannot be split into train.grad_accum_steps={k} "
                              "micro-batches; make the batch size a multiple of it")
        return jnp.swapaxes(x.reshape(x.shape[0] // k, k, *x.shape[1:]), 0, 1)
    return jax.tree.map(split, batch)


def decays(path: tuple) -> bool:
    """Whether `train.weight_decay` applies to the parameter at this tree path: the matrices
    (embeddings, projections, feed-forward kernels), not biases or layer-norm scales, whose
    pull toward zero would only shift or shrink activations (Loshchilov & Hutter 2019)."""
    name = str(getattr(path[-1], "key", getattr(path[-1], "name", path[-1])))
    return not (name.endswith("bias") or name in ("scale", "bi", "bo"))


def train_step(state: TrainState, batch: Batch, budget_used: Array | float = 0.0, *,
               exp: ExperimentConfig) -> tuple[TrainState, dict[str, Array]]:
    """One update on a global batch [B, L] (all fields int32).

    `budget_used` (float32 []) is the fraction of `train.max_train_seconds` spent before this
    step; only a schedule with `decay_over="time"` reads it.
    """
    k = exp.train.grad_accum_steps
    rng = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)

    def objective(params, mb, key):  # the summed smoothed loss, with all statistics as aux
        sums = loss_sums(params, mb, exp, rng=key)
        return sums["loss"], sums

    grad_fn = jax.grad(objective, has_aux=True)

    def micro(carry, inputs):
        grads, sums = carry
        mb, i = inputs
        g, s = grad_fn(state.params, mb, jax.random.fold_in(rng, i))
        return (jax.tree.map(jnp.add, grads, g), jax.tree.map(jnp.add, sums, s)), None

    zeros = (jax.tree.map(jnp.zeros_like, state.params),
             {n: jnp.zeros((), jnp.float32) for n in ("loss", "nll", "correct", "tokens")})
    if k == 1:
        (grads, sums), _ = micro(zeros, (batch, 0))
    else:
        (grads, sums), _ = jax.lax.scan(micro, zeros, (_split_micro(batch, k), jnp.arange(k)))
    tokens = jnp.maximum(sums["tokens"], 1.0)
    grads = jax.tree.map(lambda g: g / tokens, grads)
    tx = _tx(exp)
    lr = learning_rate(exp.train, exp.model.d_model)(state.step, budget_used)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    if exp.train.decay_over == "time":  # optax gave Adam's direction; the rate that follows the clock is ours
        updates = jax.tree.map(lambda u: -lr * u, updates)
    if exp.train.weight_decay > 0:  # decoupled: not part of the gradient, so Adam's moments never see it
        wd = exp.train.weight_decay
        updates = jax.tree_util.tree_map_with_path(
            lambda path, u, p: u - lr * wd * p if decays(path) else u, updates, state.params)
    params = optax.apply_updates(state.params, updates)
    ema = state.ema
    if ema is not None:
        d = exp.train.ema_decay
        ema = jax.tree.map(lambda e, p: d * e + (1.0 - d) * p, ema, params)
    metrics = losses.summarize(sums)
    metrics["learning_rate"] = lr
    metrics["grad_norm"] = optax.tree.norm(grads)
    # A non-finite loss or gradient drops the whole update (the step still counts), so that the
    # parameters, and so every checkpoint, stay finite; the loop counts these and stops the run.
    # The flag is known before the update, so the select fuses into it (no extra pass, in place).
    finite = jnp.isfinite(sums["loss"]) & jnp.isfinite(metrics["grad_norm"])
    params, opt_state, ema = jax.tree.map(lambda new, old: jnp.where(finite, new, old), (params, opt_state, ema),
                                          (state.params, state.opt_state, state.ema))
    metrics["nonfinite"] = 1.0 - finite.astype(jnp.float32)
    new = state.replace(step=state.step + 1, params=params, opt_state=opt_state, ema=ema)
    return new, metrics


def eval_sums(params, batch: Batch, exp: ExperimentConfig) -> dict[str, Array]:
    """Summed loss statistics without dropout (padding rows carry no target tokens)."""
    return loss_sums(params, batch, exp)


def compile_steps(exp: ExperimentConfig, mesh: Mesh) -> tuple[Callable, Callable, TrainState]:
    """(train_step, eval_step, state shardings), jitted with explicit shardings and the state donated.

    `train_step(state, batch, budget_used)`, the last a float; call them inside
    `sharding.use_rules(mesh, exp.mesh.rules)` so that activations follow the rules.
    """
    shard = state_shardings(exp, mesh)
    batch_shard = sharding.batch_sharding(mesh, exp.mesh.rules)
    replicated = NamedSharding(mesh, PartitionSpec())
    step = jax.jit(functools.partial(train_step, exp=exp), in_shardings=(shard, batch_shard, replicated),
                   out_shardings=(shard, replicated), donate_argnums=0)
    evaluate = jax.jit(functools.partial(eval_sums, exp=exp), in_shardings=(shard.params, batch_shard),
                       out_shardings=replicated)
    return step, evaluate, shard
