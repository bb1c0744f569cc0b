"""OPUS-MT / Marian checkpoints in the Hugging Face layout (config.json, model.safetensors or
pytorch_model.bin, source.spm, target.spm, vocab.json) as a jaxformer config, parameters and
tokenizer.

Marian's Transformer is the paper's post-LN encoder-decoder with four differences, each an
ordinary `ModelConfig` option: a SiLU feed-forward (`activation`), a bias on the output logits
(`logits_bias`), sine and cosine in two halves of the position table (`sinusoidal_layout`), and
LayerNorm epsilon 1e-5. Its ids are renumbered to jaxformer's (pad/start 0, EOS 1; see
`data.marian_tokenizer`), so the embedding rows and the logits bias are permuted here once.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from jaxformer.config import ConfigError, ModelConfig
from jaxformer.data.marian_tokenizer import MarianTokenizer
from jaxformer.pretrained.weights import read_weights

ACTIVATIONS = {"relu": "relu", "swish": "silu", "silu": "silu", "gelu": "gelu", "gelu_new": "gelu_tanh",
               "gelu_pytorch_tanh": "gelu_tanh"}
# Options of older or related configs that change the computation, with the value Marian uses.
_FIXED = {"normalize_before": False, "normalize_embedding": False, "add_final_layer_norm": False,
          "static_position_embeddings": True, "add_bias_logits": False, "scale_attention": True,
          "do_blenderbot_90_layernorm": False, "layernorm_embedding": False}


@dataclasses.dataclass(frozen=True)
class Generation:
    """The checkpoint's `generate()` defaults, as jaxformer's decoding options."""

    num_beams: int = 4
    max_length: int = 512  # counts the decoder start token, as in transformers
    length_penalty: float = 1.0
    force_eos: bool = True


@dataclasses.dataclass
class MarianModel:
    config: ModelConfig
    params: dict[str, Any]  # jaxformer's parameter tree, float32 NumPy arrays
    tokenizer: MarianTokenizer
    generation: Generation
    source_lang: str | None
    target_lang: str | None
    weights_file: str


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path} is not valid JSON ({e}); download the {what} again") from None


def model_config(hf: dict[str, Any], *, pad_id: int, eos_id: int) -> ModelConfig:
    """The ModelConfig of a Marian config.json; an option jaxformer does not implement is a
    ConfigError that names it."""
    if hf.get("model_type") != "marian":
        raise ConfigError(f"config.json has model_type={hf.get('model_type')!r}, not 'marian'; only Marian (OPUS-MT) "
                          "checkpoints can be imported")
    unsupported = []
    for key, value in _FIXED.items():
        if key in hf and hf[key] != value:
            unsupported.append(f"{key}={hf[key]!r}")
    pairs = (("encoder_attention_heads", "decoder_attention_heads"), ("encoder_ffn_dim", "decoder_ffn_dim"))
    for a, b in pairs:
        if hf.get(a) != hf.get(b):
            unsupported.append(f"{a}={hf.get(a)} with {b}={hf.get(b)} (jaxformer uses one value for both)")
    if hf.get("activation_function", "swish") not in ACTIVATIONS:
        unsupported.append(f"activation_function={hf.get('activation_function')!r} (supported: {sorted(ACTIVATIONS)})")
    if not hf.get("share_encoder_decoder_embeddings", True):
        unsupported.append("share_encoder_decoder_embeddings=false (separate source and target vocabularies)")
    vocab = hf["vocab_size"]
    if hf.get("decoder_vocab_size") not in (None, vocab):
        unsupported.append(f"decoder_vocab_size={hf['decoder_vocab_size']} differs from vocab_size={vocab}")
    start = hf.get("decoder_start_token_id", pad_id)
    if start != pad_id:
        unsupported.append(f"decoder_start_token_id={start} is not the pad id {pad_id}")
    if hf.get("pad_token_id", pad_id) != pad_id or hf.get("eos_token_id", eos_id) != eos_id:
        unsupported.append(f"pad_token_id={hf.get('pad_token_id')} / eos_token_id={hf.get('eos_token_id')} differ from "
                           f"vocab.json's <pad>={pad_id} / </s>={eos_id}")
    if unsupported:
        raise ConfigError("this Marian checkpoint uses options jaxformer does not support: " + "; ".join(unsupported))
    try:
        return ModelConfig(
            vocab_size=vocab, d_model=hf["d_model"], d_ff=hf["encoder_ffn_dim"], num_heads=hf["encoder_attention_heads"],
            num_encoder_layers=hf["encoder_layers"], num_decoder_layers=hf["decoder_layers"],
            dropout_rate=float(hf.get("dropout", 0.1)), attention_dropout_rate=float(hf.get("attention_dropout", 0.0)),
            relu_dropout_rate=float(hf.get("activation_dropout", 0.0)), norm="post", layer_norm_epsilon=1e-5,
            positional="sinusoidal", sinusoidal_layout="halves", max_len=hf.get("max_position_embeddings", 512),
            share_embeddings=True, tie_output=hf.get("tie_word_embeddings", True),
            scale_embedding=hf.get("scale_embedding", True), logits_bias=True,
            activation=ACTIVATIONS[hf.get("activation_function", "swish")], pad_id=0)
    except KeyError as e:
        raise ConfigError(f"config.json lacks {e.args[0]!r}; it is not a complete Marian config") from None


def generation_defaults(folder: Path, hf: dict[str, Any], eos_id: int) -> Generation:
    """generation_config.json (or the generation keys of config.json) as jaxformer's options;
    settings jaxformer's searches do not implement are refused by name."""
    gen = dict(hf)
    if (folder / "generation_config.json").is_file():
        gen.update(_read_json(folder / "generation_config.json", "generation config"))
    unsupported = [f"{k}={gen[k]!r}" for k, off in (("no_repeat_ngram_size", 0), ("min_length", 0), ("do_sample", False),
                                                    ("repetition_penalty", 1.0), ("renormalize_logits", False))
                   if gen.get(k, off) not in (off, None)]
    if gen.get("early_stopping", False) not in (False, None):
        unsupported.append(f"early_stopping={gen['early_stopping']!r}")
    bad = gen.get("bad_words_ids") or []
    if any(list(b) != [hf.get("pad_token_id")] for b in bad):
        unsupported.append(f"bad_words_ids={bad} (only the pad token is banned, as jaxformer always does)")
    forced = gen.get("forced_eos_token_id")
    if forced not in (None, eos_id):
        unsupported.append(f"forced_eos_token_id={forced} is not EOS")
    if unsupported:
        raise ConfigError("this Marian checkpoint's generation settings are not supported: " + "; ".join(unsupported))
    return Generation(num_beams=int(gen.get("num_beams") or 1), max_length=int(gen.get("max_length") or 512),
                      length_penalty=float(gen.get("length_penalty", 1.0)), force_eos=forced is not None)


def _linear(w: np.ndarray) -> np.ndarray:
    """torch Linear weight [out, in] -> jaxformer's [in, out]."""
    return np.ascontiguousarray(w.T)


def convert_params(tensors: dict[str, np.ndarray], config: ModelConfig, order: np.ndarray) -> dict[str, Any]:
    """Marian's state dict -> jaxformer's parameter tree (per-layer arrays stacked on a leading
    layers axis); `order[our id]` = the checkpoint's id of each vocabulary row."""
    D, N, H, V = config.d_model, config.num_heads, config.d_head, config.vocab_size

    def get(name: str, shape: tuple[int, ...]) -> np.ndarray:
        if name not in tensors:
            raise ConfigError(f"the weights lack {name}; the file is incomplete or from another architecture")
        x = np.asarray(tensors[name], np.float32)
        if x.shape != shape:
            raise ConfigError(f"weight {name} has shape {x.shape} but config.json implies {shape}; the weights and "
                              "config.json do not belong together")
        return x

    def attention(prefix: str) -> dict[str, np.ndarray]:
        out = {}
        for ours, theirs in (("query", "q_proj"), ("key", "k_proj"), ("value", "v_proj")):
            out[ours] = _linear(get(f"{prefix}.{theirs}.weight", (N * H, D))).reshape(D, N, H)
            out[ours + "_bias"] = get(f"{prefix}.{theirs}.bias", (N * H,)).reshape(N, H)
        out["out"] = _linear(get(f"{prefix}.out_proj.weight", (D, N * H))).reshape(N, H, D)
        out["out_bias"] = get(f"{prefix}.out_proj.bias", (D,))
        return out

    def norm(prefix: str) -> dict[str, Any]:
        return {"norm": {"scale": get(f"{prefix}.weight", (D,)), "bias": get(f"{prefix}.bias", (D,))}}

    def ffn(prefix: str) -> dict[str, np.ndarray]:
        F = config.d_ff
        return {"wi": _linear(get(f"{prefix}.fc1.weight", (F, D))), "bi": get(f"{prefix}.fc1.bias", (F,)),
                "wo": _linear(get(f"{prefix}.fc2.weight", (D, F))), "bo": get(f"{prefix}.fc2.bias", (D,))}

    def stack(layers: list[dict[str, Any]]) -> dict[str, Any]:
        if isinstance(layers[0], dict):
            return {k: stack([layer[k] for layer in layers]) for k in layers[0]}
        return np.stack(layers)

    encoder = [{"self_attention": attention(f"model.encoder.layers.{i}.self_attn"),
                "self_attention_residual": norm(f"model.encoder.layers.{i}.self_attn_layer_norm"),
                "feed_forward": ffn(f"model.encoder.layers.{i}"),
                "feed_forward_residual": norm(f"model.encoder.layers.{i}.final_layer_norm")}
               for i in range(config.num_encoder_layers)]
    decoder = [{"self_attention": attention(f"model.decoder.layers.{i}.self_attn"),
                "self_attention_residual": norm(f"model.decoder.layers.{i}.self_attn_layer_norm"),
                "cross_attention": attention(f"model.decoder.layers.{i}.encoder_attn"),
                "cross_attention_residual": norm(f"model.decoder.layers.{i}.encoder_attn_layer_norm"),
                "feed_forward": ffn(f"model.decoder.layers.{i}"),
                "feed_forward_residual": norm(f"model.decoder.layers.{i}.final_layer_norm")}
               for i in range(config.num_decoder_layers)]
    shared = next((n for n in ("model.shared.weight", "model.encoder.embed_tokens.weight",
                               "model.decoder.embed_tokens.weight") if n in tensors), "model.shared.weight")
    params: dict[str, Any] = {
        "embed": {"embedding": get(shared, (V, D))[order]},
        "encoder_layers": stack(encoder), "decoder_layers": stack(decoder),
        "logits_bias": get("final_logits_bias", (1, V))[0][order] if "final_logits_bias" in tensors
        else np.zeros((V,), np.float32),
    }
    if not config.tie_output:
        params["output"] = _linear(get("lm_head.weight", (V, D)))[:, order]
    return params


def read_marian(path: str | Path) -> MarianModel:
    """Everything jaxformer needs from a local Hugging Face Marian folder."""
    folder = Path(path)
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder; give the local folder of a Marian model (config.json, "
                          "model.safetensors or pytorch_model.bin, source.spm, target.spm, vocab.json)")
    if not (folder / "config.json").is_file():
        raise ConfigError(f"{folder} has no config.json; it is not a Hugging Face model folder")
    hf = _read_json(folder / "config.json", "model config")
    if hf.get("model_type") != "marian":
        model_config(hf, pad_id=0, eos_id=0)  # raises the model_type error
    tokenizer = MarianTokenizer.from_files(folder)
    pad_id, eos_id = tokenizer.specials["pad"], tokenizer.specials["eos"]
    config = model_config(hf, pad_id=pad_id, eos_id=eos_id)
    if tokenizer.vocab_size != config.vocab_size:
        raise ConfigError(f"vocab.json has {tokenizer.vocab_size} entries but config.json says vocab_size="
                          f"{config.vocab_size}; the files do not belong together")
    generation = generation_defaults(folder, hf, eos_id)
    tensors, weights_file = read_weights(folder)
    params = convert_params(tensors, config, tokenizer.order)
    tok_cfg = folder / "tokenizer_config.json"
    langs = _read_json(tok_cfg, "tokenizer config") if tok_cfg.is_file() else {}
    return MarianModel(config, params, tokenizer, generation, langs.get("source_lang"), langs.get("target_lang"),
                       weights_file)


def from_marian(path: str | Path) -> tuple[ModelConfig, dict[str, Any], MarianTokenizer]:
    """(config, params, tokenizer) of a local Marian folder, for the pure API: params are jax
    arrays; ids are jaxformer's (`tokenizer.to_marian` gives the checkpoint's)."""
    import jax
    import jax.numpy as jnp

    model = read_marian(path)
    return model.config, jax.tree.map(jnp.asarray, model.params), model.tokenizer
