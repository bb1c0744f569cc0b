"""Frozen, hashable configuration.

`ModelConfig` is the one object that flows through every module; it is hashable so that it can be
a static argument of `jax.jit` and a cache key. Presets follow Table 3 of the paper. Experiments
`dataclasses.replace()` a preset; the command line applies dotted overrides (`model.d_model=256`).
"""

from __future__ import annotations

import ast
import dataclasses
import json
from typing import Any, Literal

__all__ = [
    "ConfigError", "ModelConfig", "PRESETS", "preset", "TokenizerConfig", "DataConfig",
    "TrainConfig", "MeshConfig", "ExperimentConfig", "apply_overrides", "to_dict", "from_dict",
]


class ConfigError(ValueError):
    """A configuration the user can fix; the message names the problem and the fix."""


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Shape and behaviour of the Transformer (the paper, section 3 and Table 3).

    Counting convention for parameter counts: every trainable array counted once (the shared
    embedding once), attention and feed-forward biases and LayerNorm scales/biases included.
    """

    vocab_size: int = 37000
    d_model: int = 512  # D
    d_ff: int = 2048  # F
    num_heads: int = 8  # N
    head_dim: int | None = None  # H = d_v (and d_k unless key_dim); None means d_model // num_heads
    key_dim: int | None = None  # d_k of queries and keys when it differs from d_v (Table 3, row B)
    num_encoder_layers: int = 6
    num_decoder_layers: int = 6
    # Section 5.4: dropout on every sub-layer output and on embeddings + positions.
    dropout_rate: float = 0.1
    attention_dropout_rate: float = 0.0
    relu_dropout_rate: float = 0.0
    # "post": LayerNorm(x + Sublayer(x)), the paper's; "pre": x + Sublayer(LayerNorm(x)).
    norm: Literal["post", "pre"] = "post"
    layer_norm_epsilon: float = 1e-6
    # "sinusoidal" (section 3.5) or "learned" (Table 3, row E).
    positional: Literal["sinusoidal", "learned"] = "sinusoidal"
    # Sinusoid columns: "interleaved" (sin at 2i, cos at 2i+1: the paper, tensor2tensor) or "halves"
    # (all sines, then all cosines: Marian / OPUS-MT).
    sinusoidal_layout: Literal["interleaved", "halves"] = "interleaved"
    max_len: int = 512  # table size for learned positions and the decoding cache bound
    share_embeddings: bool = True  # one embedding for source and target (section 3.4)
    tie_output: bool = True  # the pre-softmax projection reuses the target embedding
    scale_embedding: bool = True  # embeddings times sqrt(d_model) (section 3.4)
    logits_bias: bool = False  # a learned bias added to the output logits (Marian's final_logits_bias)
    # The feed-forward non-linearity: "relu" (the paper), "silu" (swish: Marian), "gelu" (exact erf),
    # "gelu_tanh" (tanh approximation).
    activation: Literal["relu", "silu", "gelu", "gelu_tanh"] = "relu"
    kind: Literal["encoder_decoder", "decoder_only", "encoder_only"] = "encoder_decoder"
    pad_id: int = 0  # also the decoder's start token, as in tensor2tensor and Flax's WMT example
    # Numerics and performance.
    dtype: Literal["float32", "bfloat16"] = "float32"  # computation dtype; params stay float32
    attention_impl: Literal["xla", "cudnn", "reference"] = "xla"
    scan_layers: bool = False  # lax.scan over the layer stack: one layer compiled, not N
    remat: Literal["none", "full", "dots"] = "none"  # rematerialisation policy per layer

    def __post_init__(self):
        problems = []
        if self.head_dim is None and self.d_model % self.num_heads:
            problems.append(
                f"d_model={self.d_model} is not divisible by num_heads={self.num_heads}; "
                "choose num_heads dividing d_model or set head_dim"
            )
        for name in ("dropout_rate", "attention_dropout_rate", "relu_dropout_rate"):
            if not 0.0 <= getattr(self, name) < 1.0:
                problems.append(f"{name}={getattr(self, name)} must be in [0, 1)")
        choices = {
            "norm": ("post", "pre"),
            "positional": ("sinusoidal", "learned"),
            "sinusoidal_layout": ("interleaved", "halves"),
            "activation": ("relu", "silu", "gelu", "gelu_tanh"),
            "kind": ("encoder_decoder", "decoder_only", "encoder_only"),
            "dtype": ("float32", "bfloat16"),
            "attention_impl": ("xla", "cudnn", "reference"),
            "remat": ("none", "full", "dots"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                problems.append(f"{name}={getattr(self, name)!r} is not one of {allowed}")
        for name in ("head_dim", "key_dim"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                problems.append(f"{name}={getattr(self, name)} must be positive (or None)")
        for name in ("vocab_size", "d_model", "d_ff", "num_heads", "max_len"):
            if getattr(self, name) <= 0:
                problems.append(f"{name}={getattr(self, name)} must be positive")
        if self.attention_impl == "cudnn" and self.dtype == "float32":
            problems.append("attention_impl='cudnn' needs dtype='bfloat16' (cuDNN flash attention has no "
                            "float32 kernel); set model.dtype=bfloat16 or use attention_impl='xla'")
        if problems:
            raise ConfigError("invalid ModelConfig: " + "; ".join(problems))

    @property
    def d_head(self) -> int:
        """H, the per-head width of values (d_v), and of queries and keys unless key_dim is set."""
        return self.head_dim if self.head_dim is not None else self.d_model // self.num_heads

    @property
    def d_key(self) -> int:
        """d_k, the per-head width of queries and keys."""
        return self.key_dim if self.key_dim is not None else self.d_head

    @property
    def has_encoder(self) -> bool:
        return self.kind != "decoder_only"

    @property
    def has_decoder(self) -> bool:
        return self.kind != "encoder_only"


PRESETS: dict[str, ModelConfig] = {
    # Small enough to train in minutes on two CPU cores; used by tests and the default job.
    "tiny": ModelConfig(
        vocab_size=1024, d_model=64, d_ff=256, num_heads=4,
        num_encoder_layers=2, num_decoder_layers=2, dropout_rate=0.1, max_len=256,
    ),
    # Table 3, "base": N=6, d_model=512, d_ff=2048, h=8, d_k=d_v=64, P_drop=0.1.
    "base": ModelConfig(),
    # Table 3, "big": N=6, d_model=1024, d_ff=4096, h=16, d_k=d_v=64, P_drop=0.3.
    "big": ModelConfig(d_model=1024, d_ff=4096, num_heads=16, dropout_rate=0.3),
}


def preset(name: str, **changes: Any) -> ModelConfig:
    """A named preset with `changes` applied (e.g. ``preset("base", vocab_size=32000)``)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown model preset {name!r}; choose one of {sorted(PRESETS)}")
    try:
        return dataclasses.replace(PRESETS[name], **changes)
    except TypeError as e:  # unknown field
        raise ConfigError(f"preset {name!r}: {e}") from None


@dataclasses.dataclass(frozen=True)
class TokenizerConfig:
    """The shared sentencepiece vocabulary (section 5.1: about 37000 BPE tokens for en-de,
    32000 word-pieces for en-fr); any change retrains it."""

    vocab_size: int = 8000
    model_type: str = "bpe"  # "bpe", "unigram", "word", "char"
    character_coverage: float = 1.0
    max_training_sentences: int = 2_000_000  # sentences sampled from both sides of train
    byte_fallback: bool = False  # unknown characters become bytes instead of <unk>
    # A folder holding a fixed tokenizer (source.spm, target.spm, vocab.json: an imported Marian
    # model's); when set, nothing is trained and the options above are not used.
    pretrained: str = ""

    def __post_init__(self):
        if self.model_type not in ("bpe", "unigram", "word", "char"):
            raise ConfigError(f"tokenizer model_type={self.model_type!r} is not one of bpe, unigram, word, char")
        if self.vocab_size < 8:
            raise ConfigError(f"tokenizer vocab_size={self.vocab_size} is too small; use at least 8")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the parallel text comes from and how it becomes batches."""

    # "synthetic" (the generated corpus), "files" (local <prefix>.<lang> files) or "wmt14"/"wmt17".
    dataset: str = "synthetic"
    source_lang: str = "en"
    target_lang: str = "de"
    files: tuple[tuple[str, tuple[str, ...]], ...] = ()  # for "files": (split, (prefix, ...)) pairs
    data_dir: str = "~/.cache/jaxformer"  # prepared datasets and tokenizers
    train_split: str = "train"
    eval_split: str = "validation"
    test_split: str = "test"
    tokenizer: TokenizerConfig = TokenizerConfig()
    max_length: int = 256  # training pairs longer than this in tokens (either side) are skipped, counted
    max_chars: int = 1000  # training lines longer than this in characters are skipped at preparation
    batching: str = "pack"  # "pack" (several examples per row) or "bucket" (token budget per length bucket)
    batch_size: int = 64  # packed rows per global batch
    pack_length: int = 256
    tokens_per_batch: int = 4096  # bucket mode: global tokens per side per batch (the paper: ~25000)
    bucket_boundaries: tuple[int, ...] = (16, 32, 64, 128, 256)
    eval_batch_size: int = 64
    # Packed training batches are built from this many disjoint example streams, each packing its
    # own rows, spread over the processes (0 = one per process). Fixing it makes the batches,
    # and so the whole run, independent of the number of hosts.
    shards: int = 0
    seed: int = 0

    def __post_init__(self):
        if self.dataset not in ("synthetic", "files", "wmt14", "wmt17"):
            raise ConfigError(f"data.dataset={self.dataset!r} is not one of synthetic, files, wmt14, wmt17")
        if self.batching not in ("pack", "bucket"):
            raise ConfigError(f"data.batching={self.batching!r} is not one of pack, bucket")
        if self.dataset == "files" and not self.files:
            raise ConfigError("data.dataset='files' needs data.files, e.g. (('train', ('corpus/train',)),)")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The optimiser and the loop (section 5.3 and 5.4)."""

    num_steps: int = 100_000
    # > 0: also stop after this much training time (a time budget; wall clock from the loop's start,
    # evaluations included, carried across resumes in the checkpoints).
    max_train_seconds: float = 0.0
    # "rsqrt": the paper's d_model^-0.5 * min(step^-0.5, step * warmup^-1.5), times learning_rate_scale.
    # "linear_rsqrt": linear warmup to peak_learning_rate, then peak * sqrt(warmup / step).
    # "linear_decay": linear warmup to peak_learning_rate, then linearly down to 0 at num_steps, or,
    # with decay_over="time", at the end of max_train_seconds.
    schedule: str = "rsqrt"
    # "steps": the decay is a function of the update count (exactly reproducible, resume == uninterrupted).
    # "time": peak * min(step / warmup, 1 - t / max_train_seconds), t the training time used so far, so
    # a time-budgeted run anneals to zero when its budget ends on any machine, fast or slow; num_steps is
    # then only an upper bound. The rate depends on the clock, so two runs differ in their step counts.
    decay_over: str = "steps"
    warmup_steps: int = 4000
    learning_rate_scale: float = 1.0
    peak_learning_rate: float = 1e-3
    adam_b1: float = 0.9
    adam_b2: float = 0.98
    adam_eps: float = 1e-9
    label_smoothing: float = 0.1
    grad_accum_steps: int = 1  # micro-batches per update
    clip_grad_norm: float = 0.0  # 0 = off
    ema_decay: float = 0.0  # 0 = off; else keep an exponential moving average of the parameters
    seed: int = 0
    log_every: int = 50
    eval_every: int = 1000
    eval_bleu_examples: int = 500  # validation examples decoded for BLEU at each evaluation
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    best_metric: str = "bleu"  # also keep the best checkpoint by this eval metric
    max_decode_length: int = 0  # 0 = source length + 50 (section 6.1)
    test_beam_size: int = 4  # the final test translation (section 6.1: beam 4, alpha 0.6); evals are greedy
    beam_alpha: float = 0.6
    # Beam search scoring and stopping: "t2t" (the paper, section 6.1) or "hf" (transformers' generate(),
    # for imported pretrained models; see jaxformer/decode.py). force_eos: the last allowed token is EOS.
    search_convention: str = "t2t"
    force_eos: bool = False
    profile_steps: tuple[int, ...] = ()  # e.g. (10, 15): write a profiler trace for those steps

    def __post_init__(self):
        if self.schedule not in ("rsqrt", "linear_rsqrt", "linear_decay", "constant"):
            raise ConfigError(f"train.schedule={self.schedule!r} is not one of rsqrt, linear_rsqrt, linear_decay, "
                              "constant")
        if self.decay_over not in ("steps", "time"):
            raise ConfigError(f"train.decay_over={self.decay_over!r} is not one of steps, time")
        if self.decay_over == "time" and self.schedule != "linear_decay":
            raise ConfigError(f"train.decay_over='time' needs train.schedule='linear_decay' (it is {self.schedule!r})")
        if self.decay_over == "time" and self.max_train_seconds <= 0:
            raise ConfigError("train.decay_over='time' needs a time budget: set train.max_train_seconds > 0 "
                              f"(it is {self.max_train_seconds:g})")
        if self.schedule == "linear_decay" and self.num_steps <= self.warmup_steps:
            raise ConfigError(f"train.schedule='linear_decay' needs train.num_steps ({self.num_steps}) > "
                              f"train.warmup_steps ({self.warmup_steps}); the rate reaches 0 at num_steps")
        if self.search_convention not in ("t2t", "hf"):
            raise ConfigError(f"train.search_convention={self.search_convention!r} is not one of t2t, hf")
        if self.grad_accum_steps < 1:
            raise ConfigError(f"train.grad_accum_steps={self.grad_accum_steps} must be >= 1")


@dataclasses.dataclass(frozen=True)
class MeshConfig:
    """Device mesh sizes (-1 takes the remaining devices) and the logical-axis rule set."""

    data: int = -1
    fsdp: int = 1
    tensor: int = 1
    rules: str = "dp"  # "dp", "fsdp", "fsdp_tp" (see jaxformer/sharding.py)


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """Everything a run needs; saved into the workdir so that later commands need only --workdir."""

    name: str = "default"
    model: ModelConfig = PRESETS["tiny"]
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    mesh: MeshConfig = MeshConfig()


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON-able dict of a (nested) config."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuilds a nested config dataclass from `to_dict` output; unknown keys are a ConfigError."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} keys {sorted(unknown)}; valid: {sorted(fields)}")
    kwargs = {}
    for name, value in data.items():
        default = getattr(cls(), name) if name in fields else None
        if dataclasses.is_dataclass(default):
            value = from_dict(type(default), value)
        elif isinstance(default, tuple) or (isinstance(value, list)):
            value = _to_tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def _to_tuple(value: Any) -> Any:
    return tuple(_to_tuple(v) for v in value) if isinstance(value, list) else value


def _parse_value(text: str, current: Any) -> Any:
    """Parses an override string as a Python literal, keeping strings that are not literals."""
    if isinstance(current, str):
        return text
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        value = text
    if isinstance(current, bool) and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def apply_overrides(config: Any, overrides: list[str] | dict[str, Any]) -> Any:
    """Returns `config` (a nested frozen dataclass) with dotted overrides applied.

    ``apply_overrides(cfg, ["model.d_model=256", "model.norm=pre"])``. An unknown key is a
    `ConfigError` that lists the valid keys at that level.
    """
    if isinstance(overrides, dict):
        items = list(overrides.items())
    else:
        items = []
        for item in overrides:
            if "=" not in item:
                raise ConfigError(f"override {item!r} is not of the form key=value (e.g. model.d_model=256)")
            key, _, text = item.partition("=")
            items.append((key.strip(), text.strip()))
    for key, value in items:
        config = _set_dotted(config, key.split("."), value, key)
    return config


def _set_dotted(node: Any, path: list[str], value: Any, full_key: str) -> Any:
    if not dataclasses.is_dataclass(node):
        raise ConfigError(f"override {full_key!r}: {type(node).__name__} has no fields to set")
    names = [f.name for f in dataclasses.fields(node)]
    head = path[0]
    if head not in names:
        raise ConfigError(f"unknown config key {full_key!r}: {head!r} is not one of {names}")
    current = getattr(node, head)
    if len(path) > 1:
        new = _set_dotted(current, path[1:], value, full_key)
    else:
        new = _parse_value(value, current) if isinstance(value, str) else value
    return dataclasses.replace(node, **{head: new})
