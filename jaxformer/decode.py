"""Decoding over `decode_step` with the explicit cache: greedy now; beam search beside it.

Each search is a pure function of (params, src) that jit-compiles once per input shape; the
output length bound is static: input width + 50 (section 6.1) unless given.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

import jaxformer as jf
from jaxformer.config import ModelConfig
from jaxformer.data.tokenizer import EOS_ID

Array = jax.Array


def max_output_length(src_width: int, max_len: int = 0) -> int:
    """The paper's bound: input length + 50 (or an explicit `max_len`)."""
    return max_len if max_len > 0 else src_width + 50


@functools.partial(jax.jit, static_argnames=("config", "max_len", "eos_id"))
def greedy(params, src: Array, *, config: ModelConfig, max_len: int = 0, eos_id: int = EOS_ID) -> Array:
    """Greedy decoding: src [B, S] -> tokens [B, L] (EOS included, then padding), L = S + 50."""
    length = max_output_length(src.shape[1], max_len)
    batch = src.shape[0]
    memory, valid = jf.encode(params, src, config=config)
    cache = jf.init_cache(config, batch, length)
    out = jnp.zeros((batch, length), jnp.int32)
    start = jnp.full((batch,), config.pad_id, jnp.int32)

    def cond(carry):
        i, _, _, _, done = carry
        return (i < length) & ~jnp.all(done)

    def body(carry):
        i, cache, prev, out, done = carry
        logits, cache = jf.decode_step(params, cache, prev, memory, valid, config=config)
        token = jnp.where(done, config.pad_id, jnp.argmax(logits, axis=-1).astype(jnp.int32))
        out = out.at[:, i].set(token)
        return i + 1, cache, token, out, done | (token == eos_id)

    carry = (jnp.zeros((), jnp.int32), cache, start, out, jnp.zeros((batch,), bool))
    return jax.lax.while_loop(cond, body, carry)[3]
