"""Scaled dot-product attention (pure), mask builders, and multi-head attention (section 3.2).

Layout is [B, T, N, H] for whole sequences, the layout of `jax.nn.dot_product_attention`, so the
fused path (cuDNN flash attention on GPU) needs no transposes. The decoding cache is heads-major,
[B, N, T, H]: a step's query then meets the cached keys and values in the layout a batched matmul
reads, instead of XLA transposing the whole cache at every step (on 2 CPU cores, 6 layers of a
base model at 128 rows, a step's self-attention took 83 ms in [B, T, N, H] and 11 ms so).
Masks are boolean, True = may attend, shaped to broadcast against [B, N, T, S].
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxformer.config import ConfigError, ModelConfig
from jaxformer.layers import dense, dropout, param, xavier
from jaxformer.sharding import constrain

Array = jax.Array

__all__ = [
    "dot_product_attention", "cached_attention", "padding_mask", "causal_mask", "segment_mask", "combine_masks",
    "MultiHeadAttention",
]


def padding_mask(q_valid: Array, k_valid: Array) -> Array:
    """[B, T] bool, [B, S] bool -> [B, 1, T, S]: both the query and the key are real tokens."""
    return q_valid[:, None, :, None] & k_valid[:, None, None, :]


def causal_mask(length: int) -> Array:
    """[1, 1, T, T]: position t attends to positions <= t only (no future leakage)."""
    return jnp.tril(jnp.ones((length, length), dtype=bool))[None, None]


def segment_mask(q_segments: Array, k_segments: Array) -> Array:
    """[B, T] int, [B, S] int -> [B, 1, T, S]: packed examples never attend across each other;
    segment id 0 is padding and attends to nothing."""
    same = q_segments[:, None, :, None] == k_segments[:, None, None, :]
    return same & (q_segments[:, None, :, None] > 0) & (k_segments[:, None, None, :] > 0)


def combine_masks(*masks: Array | None) -> Array | None:
    """Logical AND of the masks that are not None (None when all are)."""
    masks = [m for m in masks if m is not None]
    if not masks:
        return None
    out = masks[0]
    for m in masks[1:]:
        out = out & m
    return out


def dot_product_attention(
    q: Array, k: Array, v: Array, mask: Array | None = None, *,
    dropout_rate: float = 0.0, dropout_key: Array | None = None,
    implementation: str = "xla", return_weights: bool = False,
) -> Array | tuple[Array, Array]:
    """softmax(Q K^T / sqrt(d_k)) V. q [B, T, N, H], k and v [B, S, N, H] -> [B, T, N, H].

    Masked positions get exactly zero weight. `implementation` "xla" or "cudnn" dispatches to
    `jax.nn.dot_product_attention` (cuDNN flash attention on GPU); "reference", attention
    dropout and `return_weights` use the explicit formula, which also returns weights [B, N, T, S].
    """
    explicit = (implementation == "reference" or return_weights or (dropout_rate > 0 and dropout_key is not None)
                or q.shape[-1] != v.shape[-1])  # d_k != d_v: jax.nn.dot_product_attention wants one width
    if not explicit:
        if implementation == "cudnn" and jax.default_backend() != "gpu":
            raise ConfigError(f"attention_impl='cudnn' needs a CUDA GPU but the backend is "
                              f"{jax.default_backend()!r}; use attention_impl='xla'")
        impl = "cudnn" if implementation == "cudnn" else None
        return jax.nn.dot_product_attention(q, k, v, mask=mask, implementation=impl)
    scale = jnp.asarray(q.shape[-1] ** -0.5, q.dtype)
    logits = jnp.einsum("btnh,bsnh->bnts", q * scale, k, preferred_element_type=jnp.float32)
    if mask is not None:
        logits = jnp.where(mask, logits, jnp.finfo(jnp.float32).min)
    weights = jax.nn.softmax(logits, axis=-1)
    if mask is not None:  # exact zeros, also for rows with no valid key (padding queries)
        weights = jnp.where(mask, weights, 0.0)
    probs = dropout(weights, dropout_rate, dropout_key).astype(v.dtype)
    out = jnp.einsum("bnts,bsnh->btnh", probs, v)
    return (out, weights) if return_weights else out


def cached_attention(q: Array, k: Array, v: Array, mask: Array | None = None) -> Array:
    """softmax(Q K^T / sqrt(d_k)) V against a heads-major cache: q [B, T, N, H], k and v
    [B, N, S, H] -> [B, T, N, H]. Only the few query rows of a step are transposed.

    Keys and values may have fewer rows than the queries, [B / G, N, S, H], for G adjacent query
    rows per key row (beam search: an example's K beams share its memory): the G rows' queries
    then attend as G x T query positions of one row, so the memory is read once per example, not
    once per beam, and the products are matrix-matrix. `mask` has the queries' rows or the keys'.
    """
    rows, T = q.shape[0], q.shape[1]
    grouped = k.shape[0] != rows
    if grouped:  # [B*G, T, N, H] -> [B, G*T, N, H]; the mask the same way, unless it is per key row
        if mask is not None and mask.shape[0] == rows:
            mask = jnp.broadcast_to(mask, (rows, mask.shape[1], T, mask.shape[3]))
            mask = jnp.swapaxes(mask.reshape(k.shape[0], -1, mask.shape[1], T, mask.shape[3]), 1, 2)
            mask = mask.reshape(k.shape[0], mask.shape[1], -1, mask.shape[-1])
        q = q.reshape(k.shape[0], -1, *q.shape[2:])
    scale = jnp.asarray(q.shape[-1] ** -0.5, q.dtype)
    logits = jnp.einsum("btnh,bnsh->bnts", q * scale, k, preferred_element_type=jnp.float32)
    if mask is not None:
        logits = jnp.where(mask, logits, jnp.finfo(jnp.float32).min)
    weights = jax.nn.softmax(logits, axis=-1).astype(v.dtype)
    # [B, N, T, H] first, then the small output transposed: asked for [B, T, N, H] directly, XLA:CPU
    # computes V^T P^T per (b, n) with a transposed operand, 4x slower over the memory.
    out = jnp.swapaxes(jnp.einsum("bnts,bnsh->bnth", weights, v), 1, 2)
    return out.reshape(rows, T, *out.shape[2:]) if grouped else out


def heads_major(x: Array) -> Array:
    """[B, T, N, H] -> [B, N, T, H], the decoding cache's layout."""
    return jnp.swapaxes(x, 1, 2)


class MultiHeadAttention(nnx.Module):
    """MultiHead(Q, K, V) = Concat(head_1..head_h) W^O with separate Q, K, V projections.

    Self-attention when `context` is None, encoder-decoder attention otherwise. With `cache`
    (a dict with "k", "v" [B, N, T_max, H], heads-major) the new keys and values are written at
    `cache_index` and the query attends over the whole cache; the updated cache is returned,
    never stored. `context_kv` (keys and values of the memory) is heads-major too.
    """

    def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
        self.config = config
        d, n, h = config.d_model, config.num_heads, config.d_head
        zeros = jax.nn.initializers.zeros
        proj = xavier(in_axis=0, out_axis=(1, 2))
        for name, width in (("query", config.d_key), ("key", config.d_key), ("value", h)):
            setattr(self, name, param(rngs.params(), proj, (d, n, width), ("embed", "heads", "kv")))
            setattr(self, name + "_bias", param(rngs.params(), zeros, (n, width), ("heads", "kv")))
        self.out = param(rngs.params(), xavier(in_axis=(0, 1), out_axis=2), (n, h, d), ("heads", "kv", "embed"))
        self.out_bias = param(rngs.params(), zeros, (d,), ("embed",))

    def _project(self, x: Array, *names: str) -> list[Array]:
        """x [B, T, D] -> one [B, T, N, width] per name, from a single matmul: the weights are
        concatenated along their last axis at run time (one [D, 3 N H] product instead of three
        [D, N H] ones; the stored parameters stay separate)."""
        ws = [getattr(self, n)[...].astype(x.dtype) for n in names]
        bs = [getattr(self, n + "_bias")[...].astype(x.dtype) for n in names]
        w, b = (ws[0], bs[0]) if len(names) == 1 else (jnp.concatenate(ws, -1), jnp.concatenate(bs, -1))
        y = dense(x, w) + b[None, None]
        ends = np.cumsum([a.shape[-1] for a in ws])
        return [constrain(y[..., e - a.shape[-1]:e], ("batch", "length", "heads", "kv")) for a, e in zip(ws, ends)]

    def key_value(self, context: Array) -> tuple[Array, Array]:
        """context [B, S, D] -> keys [B, N, S, d_k], values [B, N, S, H] (heads-major): what
        encoder-decoder attention reads from the memory, the same at every decoding step, so
        computed once."""
        k, v = self._project(context, "key", "value")
        return heads_major(k), heads_major(v)

    def __call__(
        self, x: Array, context: Array | None = None, mask: Array | None = None, *,
        cache: dict[str, Array] | None = None, cache_index: Array | None = None,
        context_kv: tuple[Array, Array] | None = None,
        dropout_key: Array | None = None, return_weights: bool = False,
    ) -> tuple[Array, tuple[dict[str, Array] | None, Array | None]]:
        """x [B, T, D], context [B, S, D] -> ([B, T, D], (new cache or None, weights or None)).

        `context_kv` (from `key_value`) replaces `context` in encoder-decoder attention."""
        if context_kv is None and context is not None:
            (k, v) = self._project(context, "key", "value")
            (q,) = self._project(x, "query")
        elif context_kv is None:  # self-attention: Q, K and V from one matmul
            q, k, v = self._project(x, "query", "key", "value")
        else:
            (q,), (k, v) = self._project(x, "query"), context_kv
        if cache is not None:
            k = jax.lax.dynamic_update_slice_in_dim(cache["k"], heads_major(k).astype(cache["k"].dtype), cache_index,
                                                    axis=2)
            v = jax.lax.dynamic_update_slice_in_dim(cache["v"], heads_major(v).astype(cache["v"].dtype), cache_index,
                                                    axis=2)
            cache = {"k": k, "v": v}
        if (cache is not None or context_kv is not None) and not return_weights and not (
                self.config.attention_dropout_rate > 0 and dropout_key is not None):
            out = cached_attention(q, k, v, mask)  # a decoding step against heads-major keys/values
            y = dense(out, self.out[...].astype(out.dtype), 2) + self.out_bias[...].astype(out.dtype)[None, None]
            return constrain(y, ("batch", "length", "embed")), (cache, None)
        if cache is not None or context_kv is not None:  # weights asked for: the explicit formula's layout
            k, v = jnp.swapaxes(k, 1, 2), jnp.swapaxes(v, 1, 2)
        result = dot_product_attention(
            q, k, v, mask, dropout_rate=self.config.attention_dropout_rate, dropout_key=dropout_key,
            implementation=self.config.attention_impl, return_weights=return_weights,
        )
        out, weights = result if return_weights else (result, None)
        y = dense(out, self.out[...].astype(out.dtype), 2) + self.out_bias[...].astype(out.dtype)[None, None]
        return constrain(y, ("batch", "length", "embed")), (cache, weights)

