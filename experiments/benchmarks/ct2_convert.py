"""jaxformer parameters -> a CTranslate2 model folder, through CTranslate2's Python spec API, so
that the deployed engine and ours can be timed on the same weights.

    spec = ct2_convert.spec(config, params, tokens)   # tokens[i]: the piece of our id i
    ct2_convert.save(spec, "model_ct2")                # then ctranslate2.Translator("model_ct2")

Covered: post- and pre-norm stacks, sinusoidal (either column layout) or learned positions, shared
or separate embeddings, a tied or separate output projection, the logits bias, the four
activations. CTranslate2 starts the decoder from the token named `decoder_start_token`, our pad;
callers pass `suppress_sequences=[[tokens[pad_id]]]` to `translate_batch`, as our searches never
emit pad. Needs the `bench` extra (ctranslate2); jaxformer itself never imports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from jaxformer.config import ConfigError, ModelConfig

ACTIVATIONS = {"relu": "RELU", "silu": "SWISH", "gelu": "GELU", "gelu_tanh": "GELUTanh"}


def _positions(config: ModelConfig, params: dict[str, Any], side: str, length: int) -> np.ndarray:
    """The position table [length, D] our `side` ("encoder"/"decoder") adds (row = position)."""
    if config.positional == "learned":
        return np.asarray(params[f"{side}_positions"]["table"], np.float32)[:length]
    from jaxformer.layers import sinusoidal_at
    return np.asarray(sinusoidal_at(np.arange(length)[None], config.d_model, config.sinusoidal_layout)[0], np.float32)


def _linear(spec, w: np.ndarray, b: np.ndarray | None) -> None:
    """Ours: x @ w with w [in, out]; CTranslate2 (like torch): weight [out, in]."""
    spec.weight = np.ascontiguousarray(np.asarray(w, np.float32).T)
    if b is not None:
        spec.bias = np.asarray(b, np.float32)


def _attention(spec, p: dict[str, np.ndarray], D: int, *, fused_qkv: bool) -> None:
    """Our per-head projections [D, N, H] -> CTranslate2's fused linears (self: QKV; cross: Q, KV)."""
    w = {k: np.asarray(p[k]).reshape(D, -1) for k in ("query", "key", "value")}
    b = {k: np.asarray(p[k + "_bias"]).reshape(-1) for k in ("query", "key", "value")}
    if fused_qkv:
        _linear(spec.linear[0], np.concatenate([w["query"], w["key"], w["value"]], 1),
                np.concatenate([b["query"], b["key"], b["value"]]))
    else:
        _linear(spec.linear[0], w["query"], b["query"])
        _linear(spec.linear[1], np.concatenate([w["key"], w["value"]], 1), np.concatenate([b["key"], b["value"]]))
    _linear(spec.linear[-1], np.asarray(p["out"]).reshape(-1, D), p["out_bias"])


def _norm(spec, p: dict[str, Any]) -> None:
    spec.gamma = np.asarray(p["norm"]["scale"], np.float32)
    spec.beta = np.asarray(p["norm"]["bias"], np.float32)


def _ffn(spec, p: dict[str, np.ndarray]) -> None:
    _linear(spec.linear_0, p["wi"], p["bi"])
    _linear(spec.linear_1, p["wo"], p["bo"])


def _layer(tree: dict[str, Any], i: int) -> dict[str, Any]:
    """Layer i of a stack whose arrays carry a leading layers axis."""
    return {k: _layer(v, i) if isinstance(v, dict) else np.asarray(v)[i] for k, v in tree.items()}


def spec(config: ModelConfig, params: dict[str, Any], tokens: list[str], *, unk: str = "<unk>",
         eos: str = "</s>"):
    """A `ctranslate2.specs.TransformerSpec` holding `params` (our tree, layers stacked)."""
    from ctranslate2.specs import common_spec, transformer_spec

    if config.kind != "encoder_decoder":
        raise ConfigError(f"model.kind={config.kind!r}: only encoder-decoder models convert to CTranslate2")
    if config.key_dim not in (None, config.d_head):
        raise ConfigError("model.key_dim differs from the value head size; CTranslate2 has no such attention")
    if len(tokens) != config.vocab_size:
        raise ConfigError(f"{len(tokens)} tokens given for a vocabulary of {config.vocab_size}")
    params = {k: v for k, v in params.items()}
    D = config.d_model
    s = transformer_spec.TransformerSpec.from_config(
        (config.num_encoder_layers, config.num_decoder_layers), config.num_heads, pre_norm=config.norm == "pre",
        activation=getattr(common_spec.Activation, ACTIVATIONS[config.activation]))
    length = config.max_len
    target_embed = np.asarray(params["embed"]["embedding"], np.float32)
    source_embed = target_embed if config.share_embeddings else np.asarray(params["source_embed"]["embedding"],
                                                                               np.float32)
    for name, side, table in (("encoder", s.encoder, source_embed), ("decoder", s.decoder, target_embed)):
        (side.embeddings[0] if isinstance(side.embeddings, list) else side.embeddings).weight = table
        side.scale_embeddings = bool(config.scale_embedding)
        side.position_encodings.encodings = _positions(config, params, name, length)
        if config.norm == "pre":
            _norm(side.layer_norm, {"norm": params[f"{name}_norm"]})
    for i, layer in enumerate(s.encoder.layer):
        p = _layer(params["encoder_layers"], i)
        _attention(layer.self_attention, p["self_attention"], D, fused_qkv=True)
        _norm(layer.self_attention.layer_norm, p["self_attention_residual"])
        _ffn(layer.ffn, p["feed_forward"])
        _norm(layer.ffn.layer_norm, p["feed_forward_residual"])
    for i, layer in enumerate(s.decoder.layer):
        p = _layer(params["decoder_layers"], i)
        _attention(layer.self_attention, p["self_attention"], D, fused_qkv=True)
        _norm(layer.self_attention.layer_norm, p["self_attention_residual"])
        _attention(layer.attention, p["cross_attention"], D, fused_qkv=False)
        _norm(layer.attention.layer_norm, p["cross_attention_residual"])
        _ffn(layer.ffn, p["feed_forward"])
        _norm(layer.ffn.layer_norm, p["feed_forward_residual"])
    out = target_embed if config.tie_output else np.asarray(params["output"], np.float32).T
    s.decoder.projection.weight = np.ascontiguousarray(out)
    if config.logits_bias:
        s.decoder.projection.bias = np.asarray(params["logits_bias"], np.float32)
    s.config.layer_norm_epsilon = config.layer_norm_epsilon
    s.config.unk_token, s.config.eos_token = unk, eos
    s.config.bos_token = s.config.decoder_start_token = tokens[config.pad_id]
    s.register_source_vocabulary(tokens)
    s.register_target_vocabulary(tokens)
    return s


def save(model_spec, folder: str | Path, quantization: str | None = None) -> Path:
    """Validates, optionally quantizes ("int8", ...) and writes the model folder."""
    model_spec.validate()
    model_spec.optimize(quantization=quantization)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model_spec.save(str(folder))
    return folder
