"""The pure API: plain pytrees in, plain pytrees out, no Flax knowledge needed by callers.

`params` and `cache` are nested dicts of arrays, so they compose with `jax.jit`, `jax.grad`,
`jax.vmap` and optax directly. Each function is jitted with the config static, so an eager
call compiles once; inside your own `jax.jit` it simply inlines. The NNX module is rebuilt
around the arrays at trace time only.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from jaxformer.config import ConfigError, ModelConfig
from jaxformer.layers import dtype_of
from jaxformer.model import Transformer

Array = jax.Array
Params = dict[str, Any]
Cache = dict[str, Array | tuple[Array, ...]]  # see init_cache

__all__ = ["init", "apply", "encode", "init_cache", "decode_step", "decoder_layers", "logical_axes", "param_count", "check_params"]


@functools.lru_cache(maxsize=32)
def _abstract(config: ModelConfig):
    """(graphdef, abstract state) of the model for `config`; computed once per config."""
    model = nnx.eval_shape(lambda: Transformer(config, rngs=nnx.Rngs(0)))
    return nnx.split(model)


@functools.partial(jax.jit, static_argnames=("config",))
def init(config: ModelConfig, key: Array) -> Params:
    """Fresh parameters: a nested dict of float32 arrays, deterministic in `key`.

    Per-layer parameters are stacked along a leading layers axis. Wrap it in `jax.jit` with
    `out_shardings` from `jaxformer.sharding.param_shardings` to create them already sharded.
    """
    model = Transformer(config, rngs=nnx.Rngs(params=key))
    return nnx.to_pure_dict(nnx.state(model, nnx.Param))


def logical_axes(config: ModelConfig) -> Params:
    """The logical axis names of every parameter: a pytree of tuples shaped like `params`."""
    _, state = _abstract(config)
    return nnx.to_pure_dict(state, extract_fn=lambda v: tuple(v.get_metadata()["out_sharding"]))


def param_count(config: ModelConfig) -> int:
    """Number of trainable parameters (shared matrices counted once), without allocating them."""
    _, state = _abstract(config)
    return sum(int(x.size) for x in jax.tree.leaves(nnx.to_pure_dict(state)))


def check_params(params: Params, config: ModelConfig) -> None:
    """Raises ConfigError naming the first parameter whose path or shape does not match `config`."""
    _, state = _abstract(config)
    expected = {jax.tree_util.keystr(p, simple=True, separator="/"): x.shape
                for p, x in jax.tree_util.tree_flatten_with_path(nnx.to_pure_dict(state))[0]}
    got = {jax.tree_util.keystr(p, simple=True, separator="/"): getattr(x, "shape", None)
           for p, x in jax.tree_util.tree_flatten_with_path(params)[0]}
    for name in sorted(expected.keys() | got.keys()):
        if name not in got:
            raise ConfigError(f"parameters lack {name!r} that the config expects; were they made with another config?")
        if name not in expected:
            raise ConfigError(f"parameter {name!r} is not part of this config's model; were they made with another config?")
        if tuple(got[name]) != tuple(expected[name]):
            raise ConfigError(f"parameter {name!r} has shape {tuple(got[name])} but the config expects "
                              f"{tuple(expected[name])}; load it with the config it was trained with")


def _bind(params: Params, config: ModelConfig) -> Transformer:
    graphdef, _ = _abstract(config)
    return nnx.merge(graphdef, params)


def _dropout_key(config: ModelConfig, train: bool, rng: Array | None) -> Array | None:
    if not train:
        return None
    rates = (config.dropout_rate, config.attention_dropout_rate, config.relu_dropout_rate)
    if any(rates) and rng is None:
        raise ConfigError("train=True applies dropout and needs rng=jax.random.key(...); pass one, or train=False")
    return rng


@functools.partial(jax.jit, static_argnames=("config", "train", "return_weights"))
def apply(params: Params, src: Array | None, tgt: Array | None, *, config: ModelConfig, train: bool = False,
          rng: Array | None = None, src_segments: Array | None = None, src_positions: Array | None = None,
          tgt_segments: Array | None = None, tgt_positions: Array | None = None,
          return_weights: bool = False):
    """Teacher-forced logits [B, T, V] (float32): logits[:, t] predicts tgt[:, t] from src [B, S]
    and tgt[:, :t]. Encoder-only models take `tgt=None` and return [B, S, V]; decoder-only
    models take `src=None`.

    Packed rows pass `*_segments` (segment id per position, 0 = pad) and `*_positions` (position
    within the segment). `train=True` applies dropout with `rng`. With `return_weights`, returns
    (logits, {"encoder_self", "decoder_self", "cross": [L, B, N, T, S]}).
    """
    model = _bind(params, config)
    out = model(src, tgt, src_segments=src_segments, src_positions=src_positions, tgt_segments=tgt_segments,
                tgt_positions=tgt_positions, dropout_key=_dropout_key(config, train, rng),
                return_weights=return_weights)
    if return_weights:
        return out[0].astype(jnp.float32), out[1]
    return out.astype(jnp.float32)


@functools.partial(jax.jit, static_argnames=("config",))
def encode(params: Params, src: Array, *, config: ModelConfig, src_segments: Array | None = None,
           src_positions: Array | None = None) -> tuple[Array, Array]:
    """Encoder memory [B, S, D] and the source validity mask [B, S] (bool), for `decode_step`."""
    memory, valid, _ = _bind(params, config).encode(src, src_segments, src_positions)
    return memory, valid


@functools.partial(jax.jit, static_argnames=("config", "batch_size", "max_len"))
def init_cache(config: ModelConfig, batch_size: int, max_len: int, params: Params | None = None,
               memory: Array | None = None) -> Cache:
    """An empty decoding cache: {"index": int32[], "k": L x [B, N, max_len, d_k], "v": L x [B, N, max_len, H]},
    one array per decoder layer, heads-major, so that a step neither copies a stacked cache to
    slice out its layer nor transposes it for the attention matmuls (see attention.py).

    Given `params` and the encoder `memory` [B, S, D], it also holds every decoder layer's
    encoder-decoder attention keys and values ("memory_k", "memory_v": L x [B, N, S, H]),
    projected once here instead of at every `decode_step` (for a small model and 24-token
    sources that projection is most of a step's FLOPs); `decode_step` then needs only `memory_valid`.
    `memory` may have B / G rows for G adjacent cache rows each (beam search: an example's beams
    share its memory, which is then stored and read once per example; `memory_valid` has B / G
    rows too).
    """
    shape = (batch_size, config.num_heads, max_len)
    layers = range(config.num_decoder_layers)
    cache = {"index": jnp.zeros((), jnp.int32),
             "k": tuple(jnp.zeros((*shape, config.d_key), dtype_of(config)) for _ in layers),
             "v": tuple(jnp.zeros((*shape, config.d_head), dtype_of(config)) for _ in layers)}
    if memory is not None:
        if params is None:
            raise ConfigError("init_cache(memory=...) projects the memory with the model: pass params too")
        if batch_size % memory.shape[0]:
            raise ConfigError(f"init_cache: memory has {memory.shape[0]} rows, which do not divide batch_size "
                              f"{batch_size}; pass one memory row per cache row, or per group of adjacent rows")
        cache.update(_bind(params, config).memory_kv(memory.astype(dtype_of(config))))
    return cache


# The logical axes of each array of a cache entry (every layer's array has the same).
CACHE_AXES = {"index": (), "k": ("batch", "heads", "length", "kv"), "v": ("batch", "heads", "length", "kv"),
              "memory_k": ("batch", "heads", "length", "kv"), "memory_v": ("batch", "heads", "length", "kv")}


def decoder_layers(params: Params, config: ModelConfig) -> tuple[Params, ...]:
    """Each decoder layer's parameters sliced out of the stack: L dicts of [...] from [L, ...].

    A decoding loop slices them once, before the loop, and passes them to every
    `decode_step(..., layers=...)`: XLA does not hoist a slice out of a while loop (it expects
    slices to fuse into their consumers), and on the CPU, where a dot is a library call that
    cannot take a strided operand, every step otherwise copies every decoder matrix.
    """
    stacked = params["decoder_layers"]
    return tuple(jax.tree.map(lambda a, i=i: a[i], stacked) for i in range(config.num_decoder_layers))


@functools.partial(jax.jit, static_argnames=("config",))
def decode_step(params: Params, cache: Cache, tokens: Array, memory: Array | None = None,
                memory_valid: Array | None = None, *, config: ModelConfig,
                layers: tuple[Params, ...] | None = None) -> tuple[Array, Cache]:
    """Feeds the previous tokens [B] (the start token `config.pad_id` first) and returns the
    next-token logits [B, V] (float32) and the updated cache. Decoding past the cache's
    max_len is undefined; size the cache for the longest output. `memory` may be None when the
    cache holds the memory's keys and values (`init_cache(..., params, memory)`). `layers`, from
    `decoder_layers(params, config)` outside a decoding loop, saves slicing them at every step."""
    logits, cache = _bind(params, config).decode_step(tokens, cache, memory, memory_valid, layers)
    return logits.astype(jnp.float32), cache
