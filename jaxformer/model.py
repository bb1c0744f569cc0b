"""The encoder-decoder stack (section 3.1), and decoder-only / encoder-only models from the
same blocks. Per-layer parameters are stacked along a leading "layers" axis, so one parameter
layout serves both the unrolled loop and `lax.scan` over layers (`config.scan_layers`).

Dropout keys are named, not numbered: a site's key is the run's key folded with the path of
attribute names that leads to it (and the layer index), e.g. decoder_layers/3/cross_attention,
so adding or moving a site leaves every other site's mask as it was (`layers.named_key`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from jaxformer.attention import MultiHeadAttention, causal_mask, combine_masks, padding_mask, segment_mask
from jaxformer.config import ConfigError, ModelConfig
from jaxformer.layers import (Embed, FeedForward, LayerNorm, PositionalEncoding, Residual, dropout, dtype_of, named_key,
                              param, xavier)
from jaxformer.sharding import constrain

Array = jax.Array


class EncoderLayer(nnx.Module):
    """Self-attention then feed-forward, each wrapped in a residual + LayerNorm."""

    def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
        self.self_attention = MultiHeadAttention(config, rngs=rngs)
        self.self_attention_residual = Residual(config, rngs=rngs)
        self.feed_forward = FeedForward(config, rngs=rngs)
        self.feed_forward_residual = Residual(config, rngs=rngs)

    def __call__(self, x: Array, mask: Array | None, key: Array | None, return_weights: bool = False):
        """x [B, S, D] -> ([B, S, D], self-attention weights [B, N, S, S] or None). `key` is this
        layer's dropout key; each site's key is named after its sub-module (`named_key`)."""
        x, (_, w) = self.self_attention_residual(
            x, lambda h: self.self_attention(h, None, mask, dropout_key=named_key(key, "self_attention"),
                                             return_weights=return_weights),
            named_key(key, "self_attention_residual"))
        x, _ = self.feed_forward_residual(
            x, lambda h: (self.feed_forward(h, dropout_key=named_key(key, "feed_forward")), None),
            named_key(key, "feed_forward_residual"))
        return x, w


class DecoderLayer(nnx.Module):
    """Masked self-attention, encoder-decoder attention (absent in decoder-only models), then
    feed-forward."""

    def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
        self.self_attention = MultiHeadAttention(config, rngs=rngs)
        self.self_attention_residual = Residual(config, rngs=rngs)
        if config.has_encoder:
            self.cross_attention = MultiHeadAttention(config, rngs=rngs)
            self.cross_attention_residual = Residual(config, rngs=rngs)
        self.feed_forward = FeedForward(config, rngs=rngs)
        self.feed_forward_residual = Residual(config, rngs=rngs)

    def __call__(self, x: Array, self_mask: Array | None, memory: Array | None, cross_mask: Array | None,
                 key: Array | None, *, cache: dict[str, Array] | None = None,
                 cache_index: Array | None = None, memory_kv: tuple[Array, Array] | None = None,
                 return_weights: bool = False):
        """x [B, T, D], memory [B, S, D] (or its projected keys and values `memory_kv`) ->
        ([B, T, D], new cache, (self weights, cross weights))."""
        x, (cache, w_self) = self.self_attention_residual(
            x, lambda h: self.self_attention(h, None, self_mask, cache=cache, cache_index=cache_index,
                                             dropout_key=named_key(key, "self_attention"),
                                             return_weights=return_weights),
            named_key(key, "self_attention_residual"))
        w_cross = None
        if memory is not None or memory_kv is not None:
            x, (_, w_cross) = self.cross_attention_residual(
                x, lambda h: self.cross_attention(h, memory, cross_mask, context_kv=memory_kv,
                                                  dropout_key=named_key(key, "cross_attention"),
                                                  return_weights=return_weights),
                named_key(key, "cross_attention_residual"))
        x, _ = self.feed_forward_residual(
            x, lambda h: (self.feed_forward(h, dropout_key=named_key(key, "feed_forward")), None),
            named_key(key, "feed_forward_residual"))
        return x, cache, (w_self, w_cross)


def _stacked(make: Callable[[nnx.Rngs], nnx.Module], num: int, rngs: nnx.Rngs) -> nnx.Module:
    """`num` layers with independent initialisations, parameters stacked on a "layers" axis."""

    @nnx.split_rngs(splits=num)
    @nnx.vmap(in_axes=(0,), out_axes=0, transform_metadata={nnx.PARTITION_NAME: "layers"})
    def build(r: nnx.Rngs) -> nnx.Module:
        return make(r)

    return build(rngs)


_REMAT_POLICIES = {
    "full": jax.checkpoint_policies.nothing_saveable,
    "dots": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}


def run_layers(layers: nnx.Module, num: int, body: Callable, x: Array, xs: Any, config: ModelConfig):
    """Runs `body(layer, x, xs_i, i) -> (x, ys_i)` over stacked `layers`.

    With `config.scan_layers` this is one `lax.scan` (one layer compiled); otherwise an unrolled
    loop over slices of the same stacked parameters. `config.remat` wraps each layer in
    `jax.checkpoint`. Returns (x, ys stacked along a leading layers axis).
    """
    graphdef, state = nnx.split(layers)

    def step(carry, inputs):
        layer_state, xs_i, i = inputs
        return body(nnx.merge(graphdef, layer_state), carry, xs_i, i)

    if config.remat != "none":
        step = jax.checkpoint(step, policy=_REMAT_POLICIES[config.remat], prevent_cse=not config.scan_layers)
    if config.scan_layers:
        return jax.lax.scan(step, x, (state, xs, jnp.arange(num)))
    ys = []
    for i in range(num):
        x, y = step(x, jax.tree.map(lambda a: a[i], (state, xs)) + (i,))
        ys.append(y)
    return x, jax.tree.map(lambda *a: jnp.stack(a), *ys) if ys and ys[0] is not None else None


def unstacked(layers: nnx.Module, sliced: Sequence[Any] | None = None) -> list[nnx.Module]:
    """The layers of a stacked module, one module each: for decoding, where every layer keeps its
    own cache. Each module holds slices of the stacked parameters, or the parameters of `sliced`
    (one pure dict per layer, see `functional.decoder_layers`) when they were sliced before."""
    graphdef, state = nnx.split(layers)
    if sliced is None:
        num = jax.tree.leaves(state)[0].shape[0]
        sliced = [jax.tree.map(lambda a, i=i: a[i], state) for i in range(num)]
    return [nnx.merge(graphdef, s) for s in sliced]


def shift_right(tokens: Array, segments: Array | None = None, start: int = 0) -> Array:
    """Teacher forcing: the decoder sees [start, y_0, ..., y_{T-2}]; in packed rows every segment
    starts again with `start`. [B, T] -> [B, T]."""
    shifted = jnp.pad(tokens, ((0, 0), (1, 0)), constant_values=start)[:, :-1]
    if segments is not None:
        prev = jnp.pad(segments, ((0, 0), (1, 0)))[:, :-1]
        shifted = jnp.where(segments == prev, shifted, start)
    return shifted


def _positions(tokens: Array, positions: Array | None) -> Array:
    if positions is not None:
        return positions
    return jnp.broadcast_to(jnp.arange(tokens.shape[1]), tokens.shape)


class Transformer(nnx.Module):
    """Encoder-decoder (the paper), decoder-only or encoder-only, by `config.kind`."""

    def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
        self.config = config
        self.embed = Embed(config, rngs=rngs)  # the target side, and the source side when shared
        if config.has_encoder:
            if config.has_decoder and not config.share_embeddings:
                self.source_embed = Embed(config, rngs=rngs)
            self.encoder_positions = PositionalEncoding(config, rngs=rngs)
            self.encoder_layers = _stacked(lambda r: EncoderLayer(config, rngs=r), config.num_encoder_layers, rngs)
            if config.norm == "pre":
                self.encoder_norm = LayerNorm(config, rngs=rngs)
        if config.has_decoder:
            self.decoder_positions = PositionalEncoding(config, rngs=rngs)
            self.decoder_layers = _stacked(lambda r: DecoderLayer(config, rngs=r), config.num_decoder_layers, rngs)
            if config.norm == "pre":
                self.decoder_norm = LayerNorm(config, rngs=rngs)
        if not config.tie_output:
            self.output = param(rngs.params(), xavier(), (config.d_model, config.vocab_size), ("embed", "vocab"))
        if config.logits_bias:
            self.logits_bias = param(rngs.params(), jax.nn.initializers.zeros, (config.vocab_size,), ("vocab",))

    # -- pieces ------------------------------------------------------------------------------

    def _embed_source(self, tokens: Array) -> Array:
        embed = getattr(self, "source_embed", self.embed)
        return embed(tokens)

    def _logits(self, x: Array) -> Array:
        if self.config.tie_output:
            logits = self.embed.attend(x)
        else:
            logits = jnp.einsum("btd,dv->btv", x, self.output[...].astype(x.dtype))
        if self.config.logits_bias:
            logits = logits + self.logits_bias[...].astype(logits.dtype)[None, None]
        return constrain(logits, ("batch", "length", "vocab"))

    def _valid(self, tokens: Array, segments: Array | None) -> Array:
        return segments > 0 if segments is not None else tokens != self.config.pad_id

    # -- encoder -----------------------------------------------------------------------------

    def encode(self, src: Array, src_segments: Array | None = None, src_positions: Array | None = None, *,
               dropout_key: Array | None = None, return_weights: bool = False):
        """src [B, S] -> (memory [B, S, D], source validity [B, S] bool, weights [L, B, N, S, S] or None)."""
        cfg = self.config
        valid = self._valid(src, src_segments)
        mask = combine_masks(padding_mask(valid, valid),
                             segment_mask(src_segments, src_segments) if src_segments is not None else None)
        x = self.encoder_positions(self._embed_source(src).astype(dtype_of(cfg)), _positions(src, src_positions))
        x = dropout(x, cfg.dropout_rate, named_key(dropout_key, "encoder_positions"))

        def body(layer, h, _, i):
            h, w = layer(h, mask, named_key(dropout_key, "encoder_layers", i), return_weights)
            return constrain(h, ("batch", "length", "embed")), w

        x, weights = run_layers(self.encoder_layers, cfg.num_encoder_layers, body, x, None, cfg)
        if cfg.norm == "pre":
            x = self.encoder_norm(x)
        return x, valid, weights

    # -- decoder -----------------------------------------------------------------------------

    def decode(self, decoder_input: Array, memory: Array | None, memory_valid: Array | None, *,
               tgt_valid: Array, tgt_segments: Array | None = None, src_segments: Array | None = None,
               tgt_positions: Array | None = None, dropout_key: Array | None = None,
               return_weights: bool = False):
        """Teacher-forced decoder over the shifted targets [B, T] -> (logits [B, T, V], weights)."""
        cfg = self.config
        self_mask = combine_masks(padding_mask(tgt_valid, tgt_valid), causal_mask(decoder_input.shape[1]),
                                  segment_mask(tgt_segments, tgt_segments) if tgt_segments is not None else None)
        cross_mask = None
        if memory is not None:
            cross_mask = combine_masks(
                padding_mask(tgt_valid, memory_valid),
                segment_mask(tgt_segments, src_segments) if tgt_segments is not None and src_segments is not None else None)
        x = self.decoder_positions(self.embed(decoder_input).astype(dtype_of(cfg)),
                                   _positions(decoder_input, tgt_positions))
        x = dropout(x, cfg.dropout_rate, named_key(dropout_key, "decoder_positions"))

        def body(layer, h, _, i):
            h, _, w = layer(h, self_mask, memory, cross_mask, named_key(dropout_key, "decoder_layers", i),
                            return_weights=return_weights)
            return constrain(h, ("batch", "length", "embed")), w

        x, weights = run_layers(self.decoder_layers, cfg.num_decoder_layers, body, x, None, cfg)
        if cfg.norm == "pre":
            x = self.decoder_norm(x)
        return self._logits(x), weights

    def memory_kv(self, memory: Array) -> dict[str, tuple[Array, ...]]:
        """memory [B, S, D] -> {"memory_k": L x [B, N, S, d_k], "memory_v": L x [B, N, S, H]}: every
        decoder layer's encoder-decoder attention keys and values (heads-major), for the cache."""
        kv = [layer.cross_attention.key_value(memory) for layer in unstacked(self.decoder_layers)]
        return {"memory_k": tuple(constrain(k, ("batch", "heads", "length", "kv")) for k, _ in kv),
                "memory_v": tuple(constrain(v, ("batch", "heads", "length", "kv")) for _, v in kv)}

    def decode_step(self, tokens: Array, cache: dict[str, Any], memory: Array | None,
                    memory_valid: Array | None, layers: Sequence[Any] | None = None) -> tuple[Array, dict[str, Any]]:
        """One incremental step: the previous tokens [B] -> (logits [B, V], updated cache).

        `cache` = {"index": int32[], "k", "v": one [B, N, T_max, H] per layer}, plus "memory_k",
        "memory_v" (one [B, N, S, H] per layer) when the encoder-decoder keys and values were
        computed once (then `memory` is not read); the step writes position `index` and attends
        to positions <= index. One array per layer, not one stacked array: a stacked cache would
        be sliced and re-stacked (copied whole) at every step. `layers`: the decoder layers'
        parameters already sliced out of the stack (see `functional.decoder_layers`).
        """
        cfg = self.config
        index = cache["index"]
        tokens = tokens.reshape(-1, 1)
        max_len = cache["k"][0].shape[2]
        self_mask = (jnp.arange(max_len) <= index)[None, None, None, :]
        cross_mask = None if memory_valid is None else memory_valid[:, None, None, :]
        positions = jnp.full(tokens.shape, index, dtype=jnp.int32)
        x = self.decoder_positions(self.embed(tokens).astype(dtype_of(cfg)), positions)

        precomputed = "memory_k" in cache
        if cfg.has_encoder and memory is None and not precomputed:
            raise ConfigError("decode_step of an encoder-decoder model needs the encoder memory, or a cache "
                              "made by init_cache(config, B, max_len, params, memory)")
        new_k, new_v = [], []
        for i, layer in enumerate(unstacked(self.decoder_layers, layers)):
            kv = (cache["memory_k"][i], cache["memory_v"][i]) if precomputed else None
            x, c, _ = layer(x, self_mask, None if precomputed else memory, cross_mask, None,
                            cache={"k": cache["k"][i], "v": cache["v"][i]}, cache_index=index, memory_kv=kv)
            new_k.append(c["k"])
            new_v.append(c["v"])
        if cfg.norm == "pre":
            x = self.decoder_norm(x)
        return self._logits(x)[:, 0], {**cache, "index": index + 1, "k": tuple(new_k), "v": tuple(new_v)}

    # -- whole model ---------------------------------------------------------------------------

    def __call__(self, src: Array | None, tgt: Array | None, *, src_segments: Array | None = None,
                 src_positions: Array | None = None, tgt_segments: Array | None = None,
                 tgt_positions: Array | None = None, dropout_key: Array | None = None,
                 return_weights: bool = False):
        """Teacher-forced logits [B, T, V] for targets `tgt` given `src` (logits[:, t] predicts
        tgt[:, t]); encoder-only models return [B, S, V] over `src`. With `return_weights`,
        also a dict of attention weights per layer."""
        cfg = self.config
        weights: dict[str, Array] = {}
        memory = memory_valid = None
        if cfg.has_encoder:
            memory, memory_valid, w = self.encode(src, src_segments, src_positions,
                                                  dropout_key=dropout_key, return_weights=return_weights)
            weights["encoder_self"] = w
            if not cfg.has_decoder:
                return (self._logits(memory), weights) if return_weights else self._logits(memory)
        decoder_input = shift_right(tgt, tgt_segments, cfg.pad_id)
        logits, (w_self, w_cross) = self.decode(
            decoder_input, memory, memory_valid, tgt_valid=self._valid(tgt, tgt_segments),
            tgt_segments=tgt_segments, src_segments=src_segments, tgt_positions=tgt_positions,
            dropout_key=dropout_key, return_weights=return_weights)
        if return_weights:
            weights["decoder_self"] = w_self
            if w_cross is not None:
                weights["cross"] = w_cross
            return logits, weights
        return logits
