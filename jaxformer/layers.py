"""Building blocks below attention: parameters with logical axes, dropout, embeddings,
positional encodings, the position-wise feed-forward network and the residual wrapper."""

from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxformer.config import DROPOUT_LEVELS, ModelConfig, effective_dropout_rate
from jaxformer.sharding import constrain

Array = jax.Array

xavier = jax.nn.initializers.xavier_uniform


def param(key: Array, init: Callable, shape: Sequence[int], axes: Sequence[str | None]) -> nnx.Param:
    """A float32 parameter that records its logical axes (placement happens in `jax.jit`)."""
    assert len(axes) == len(shape), (shape, axes)
    return nnx.Param(init(key, tuple(shape), jnp.float32), out_sharding=tuple(axes), eager_sharding=False)


def dtype_of(config: ModelConfig):
    """The compute dtype (parameters stay float32)."""
    return jnp.bfloat16 if config.dtype == "bfloat16" else jnp.float32


def keep_mask(key: Array, rate: float, shape: tuple[int, ...]) -> Array:
    """True where dropout keeps an element, with probability 1 - effective_dropout_rate(rate).

    Why bytes: one random byte per element, four cut from each 32-bit threefry word, instead of
    jax.random.bernoulli's word per element. The hashing was the cost: on two CPU cores the 22
    dropout sites of the Multi30k step (32 x 80 x 128 each) took ~30 ms of a 0.28 s step in
    bernoulli and ~9 ms in bytes. The price is a rate in steps of 1/256. The last axis gets the
    bytes of its own words, so the mask is sharded like `shape`.
    """
    *lead, last = shape
    words = jax.random.bits(key, (*lead, -(-last // 4)), jnp.uint32)
    byte = jax.lax.bitcast_convert_type(words, jnp.uint8).reshape(*lead, -1)[..., :last]
    return byte >= round(effective_dropout_rate(rate) * DROPOUT_LEVELS)


def dropout(x: Array, rate: float, key: Array | None) -> Array:
    """Inverted dropout at effective_dropout_rate(rate), the kept elements scaled so that the
    expectation is x; identity when `key` is None (evaluation) or the rate is 0."""
    rate = effective_dropout_rate(rate)
    if key is None or rate == 0.0:
        return x
    return jnp.where(keep_mask(key, rate, x.shape), x / (1.0 - rate), jnp.zeros_like(x))


def named_key(key: Array | None, *path: str | int | Array) -> Array | None:
    """The key of the dropout site at `path` below `key`: every name (a module attribute, as in
    the parameter tree) folded in as its crc32, every layer index as itself.

    Why names: a key that follows the path, not the order or number of sites visited, lets a
    site be added, removed or moved without changing any other site's mask. crc32, not
    Python's `hash()`, which changes between processes. Derived (not split), so it works inside
    `lax.scan` with a traced layer index.
    """
    if key is None:
        return None
    for part in path:
        key = jax.random.fold_in(key, zlib.crc32(part.encode()) if isinstance(part, str) else part)
    return key


class Embed(nnx.Module):
    """Token embedding scaled by sqrt(d_model) (section 3.4), reusable as the output projection."""

    def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
        self.config = config
        # N(0, d_model^-0.5): after the sqrt(d_model) scaling, embeddings have unit variance.
        init = jax.nn.initializers.normal(config.d_model ** -0.5)
        self.embedding = param(rngs.params(), init, (config.vocab_size, config.d_model), ("vocab", "embed"))

    def __call__(self, tokens: Array) -> Array:
        """[B, T] int -> [B, T, D]."""
        table = self.embedding[...].astype(dtype_of(self.config))
        x = jnp.take(table, tokens, axis=0)
        if self.config.scale_embedding:
            x = x * jnp.sqrt(jnp.asarray(self.config.d_model, table.dtype))
        return constrain(x, ("batch", "length", "embed"))

    def attend(self, x: Array) -> Array:
        """[B, T, D] -> [B, T, V] logits with the shared matrix (the tied pre-softmax projection)."""
        logits = tied_logits(x, self.embedding[...].astype(x.dtype))
        return constrain(logits, ("batch", "length", "vocab"))


def _over_tokens(a: Array, b: Array) -> Array:
    """a [M, K]^T . b [M, N] -> [K, N], contracting dimension 0 of both operands in place (the
    weight-gradient form that XLA:CPU runs without a transposed copy of either)."""
    return jax.lax.dot_general(a, b, (((0,), (0,)), ((), ())))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def dense(x: Array, w: Array, n_in: int = 1) -> Array:
    """x [..., *K] . w [*K, *N] -> [..., *N]: the last `n_in` axes of x contract with the first
    `n_in` of w (a projection: [B, T, D] . [D, F], [B, T, N, H] . [N, H, D], ...).

    The same product as `jnp.tensordot`, with the weight's gradient taken over the flattened
    tokens: dw = x2d^T g2d as one [B*T, K] x [B*T, N] product that contracts dimension 0 of both.
    Autodiff's version contracts two token axes (b, t), and XLA:CPU then copies one operand
    transposed ([B*T, N] or [B*T, K]) before every weight-gradient dot; this form reads both in
    place. Same values (`tests/test_layers.py`).
    """
    return jnp.tensordot(x, w, n_in)


def _dense_fwd(x: Array, w: Array, n_in: int):
    return dense(x, w, n_in), (x, w)


def _dense_bwd(n_in: int, residuals, g: Array):
    x, w = residuals
    n_out = w.ndim - n_in
    dx = jnp.tensordot(g, w, (tuple(range(g.ndim - n_out, g.ndim)), tuple(range(n_in, w.ndim))))
    k, n = math.prod(w.shape[:n_in]), math.prod(w.shape[n_in:])
    return dx, _over_tokens(x.reshape(-1, k), g.reshape(-1, n)).reshape(w.shape).astype(w.dtype)


dense.defvjp(_dense_fwd, _dense_bwd)


@jax.custom_vjp
def tied_logits(x: Array, table: Array) -> Array:
    """x [B, T, D] . table [V, D] -> logits [B, T, V], with the table's gradient taken over the
    flattened tokens: dlogits2d^T x2d, contracting dimension 0 of both.

    Autodiff's version makes XLA:CPU write the [B*T, V] gradient of the logits a second time,
    transposed, for that product (0.15 s of a 2.3 s small step); this form reads it in place.
    Same values (`tests/test_layers.py`).
    """
    return jnp.einsum("btd,vd->btv", x, table)


def _tied_fwd(x: Array, table: Array):
    return tied_logits(x, table), (x, table)


def _tied_bwd(residuals, g: Array):
    x, table = residuals
    dx = jnp.einsum("btv,vd->btd", g, table)
    v, d = table.shape
    return dx, _over_tokens(g.reshape(-1, v), x.reshape(-1, d)).astype(table.dtype)


tied_logits.defvjp(_tied_fwd, _tied_bwd)


def sinusoidal_table(max_len: int, d_model: int) -> np.ndarray:
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d)), section 3.5."""
    pos = np.arange(max_len, dtype=np.float64)[:, None]
    two_i = np.arange(0, d_model, 2, dtype=np.float64)[None, :]
    angle = pos / np.power(10000.0, two_i / d_model)
    table = np.zeros((max_len, d_model), dtype=np.float64)
    table[:, 0::2] = np.sin(angle)
    table[:, 1::2] = np.cos(angle[:, : d_model // 2])
    return table.astype(np.float32)


def sinusoidal_at(positions: Array, d_model: int, layout: str = "interleaved") -> Array:
    """The sinusoidal encoding at integer `positions` [B, T] -> [B, T, D], computed on the fly
    so that it has no length limit and follows packed-segment positions.

    "interleaved" puts sin(pos / 10000^(2i/D)) at column 2i and the cosine at 2i+1 (the paper);
    "halves" puts the D/2 sines first and the cosines after them (Marian's table)."""
    two_i = jnp.arange(0, d_model, 2, dtype=jnp.float32)
    angle = positions[..., None].astype(jnp.float32) / jnp.power(10000.0, two_i / d_model)[None, None]
    if layout == "halves":
        return jnp.concatenate([jnp.sin(angle), jnp.cos(angle[..., : d_model // 2])], axis=-1)
    pe = jnp.stack([jnp.sin(angle), jnp.cos(angle)], axis=-1)  # interleave: sin at 2i, cos at 2i+1
    return pe.reshape(*positions.shape, -1)[..., :d_model]


class PositionalEncoding(nnx.Module):
    """Adds sinusoidal (default) or learned (Table 3, row E) positions; positions restart at every
    packed segment because they are passed in, not derived from the row index."""

    def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
        self.config = config
        if config.positional == "learned":
            init = jax.nn.initializers.normal(config.d_model ** -0.5)
            self.table = param(rngs.params(), init, (config.max_len, config.d_model), (None, "embed"))

    def __call__(self, x: Array, positions: Array) -> Array:
        """x [B, T, D], positions [B, T] int -> [B, T, D]."""
        if self.config.positional == "learned":
            pe = jnp.take(self.table[...], positions, axis=0)
        else:
            pe = sinusoidal_at(positions, self.config.d_model, self.config.sinusoidal_layout)
        return x + pe.astype(x.dtype)  # same rank: pe is [B, T, D]


class LayerNorm(nnx.Module):
    """LayerNorm over d_model with a float32 statistic whatever the compute dtype."""

    def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
        self.epsilon = config.layer_norm_epsilon
        self.scale = param(rngs.params(), jax.nn.initializers.ones, (config.d_model,), ("embed",))
        self.bias = param(rngs.params(), jax.nn.initializers.zeros, (config.d_model,), ("embed",))

    def __call__(self, x: Array) -> Array:
        x32 = x.astype(jnp.float32)
        mean = x32.mean(-1, keepdims=True)
        var = jnp.square(x32 - mean).mean(-1, keepdims=True)
        y = (x32 - mean) * jax.lax.rsqrt(var + self.epsilon)
        return (y * self.scale[...][None, None] + self.bias[...][None, None]).astype(x.dtype)


ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "relu": jax.nn.relu,
    "silu": jax.nn.silu,
    "gelu": functools.partial(jax.nn.gelu, approximate=False),
    "gelu_tanh": functools.partial(jax.nn.gelu, approximate=True),
}


class FeedForward(nnx.Module):
    """FFN(x) = max(0, x W1 + b1) W2 + b2 (section 3.3), with optional dropout after the
    non-linearity; `config.activation` swaps ReLU for SiLU or GELU (pretrained models)."""

    def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
        self.config = config
        d, f = config.d_model, config.d_ff
        self.wi = param(rngs.params(), xavier(), (d, f), ("embed", "mlp"))
        self.bi = param(rngs.params(), jax.nn.initializers.zeros, (f,), ("mlp",))
        self.wo = param(rngs.params(), xavier(), (f, d), ("mlp", "embed"))
        self.bo = param(rngs.params(), jax.nn.initializers.zeros, (d,), ("embed",))

    def __call__(self, x: Array, *, dropout_key: Array | None = None) -> Array:
        """[B, T, D] -> [B, T, D]."""
        h = dense(x, self.wi[...].astype(x.dtype)) + self.bi[...].astype(x.dtype)[None, None]
        h = constrain(ACTIVATIONS[self.config.activation](h), ("batch", "length", "mlp"))
        h = dropout(h, self.config.relu_dropout_rate, dropout_key)
        y = dense(h, self.wo[...].astype(x.dtype)) + self.bo[...].astype(x.dtype)[None, None]
        return constrain(y, ("batch", "length", "embed"))


class Residual(nnx.Module):
    """Wraps a sub-layer: LayerNorm(x + Dropout(Sublayer(x))) (post-LN, the paper's), or
    x + Dropout(Sublayer(LayerNorm(x))) (pre-LN)."""

    def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
        self.config = config
        self.norm = LayerNorm(config, rngs=rngs)

    def __call__(self, x: Array, sublayer: Callable[[Array], tuple[Array, object]],
                 dropout_key: Array | None) -> tuple[Array, object]:
        """Returns the new residual stream and whatever else the sub-layer returned (cache, weights)."""
        if self.config.norm == "pre":
            y, extra = sublayer(self.norm(x))
            return x + dropout(y, self.config.dropout_rate, dropout_key), extra
        y, extra = sublayer(x)
        return self.norm(x + dropout(y, self.config.dropout_rate, dropout_key)), extra
