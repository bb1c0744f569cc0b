"""Frozen, hashable configuration.

`ModelConfig` is the one object that flows through every module; it is hashable so that it can be
a static argument of `jax.jit` and a cache key. Presets follow Table 3 of the paper. Experiments
`dataclasses.replace()` a preset; the command line applies dotted overrides (`model.d_model=256`).
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import json
import types
import typing
from typing import Any, Literal

__all__ = [
    "ConfigError", "ModelConfig", "PRESETS", "preset", "TokenizerConfig", "DataConfig",
    "TrainConfig", "MeshConfig", "SpeedRule", "ExperimentConfig", "apply_overrides", "to_dict", "from_dict",
]


class ConfigError(ValueError):
    """A configuration the user can fix; the message names the problem and the fix."""


# The logical-axis rule sets of jaxformer/sharding.py (kept here so that a config is checked
# without importing JAX; tests/test_config.py checks that they agree).
RULE_SETS = ("dp", "fsdp", "fsdp_tp")
BEST_METRICS = ("bleu", "chrf", "loss", "nll", "perplexity", "accuracy")
DROPOUT_LEVELS = 256  # dropout masks are random bytes: rates apply in steps of 1/256 (layers.keep_mask)


def effective_dropout_rate(rate: float) -> float:
    """The rate dropout applies: `rate` rounded to the nearest 1/256 (0.1 -> 26/256 = 0.1016),
    at most 255/256 (layers.keep_mask draws one random byte per element)."""
    return min(round(rate * DROPOUT_LEVELS), DROPOUT_LEVELS - 1) / DROPOUT_LEVELS


def _check_ranges(cfg: Any, where: str, minimums: dict[str, float], fractions: tuple[str, ...] = ()) -> None:
    """One ConfigError naming every count, cadence or size of `cfg` below its minimum and every
    fraction outside [0, 1): caught when the config is made, before any data is prepared."""
    problems = []
    for name, low in minimums.items():
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            problems.append(f"{where}.{name}={v!r} must be a number >= {low}")
        elif not v >= low:
            problems.append(f"{where}.{name}={v!r} must be >= {low}")
    for name in fractions:
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1:
            problems.append(f"{where}.{name}={v!r} must be in [0, 1)")
    if problems:
        raise ConfigError("; ".join(problems))


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
        if self.head_dim is None and self.num_heads > 0 and self.d_model % self.num_heads:
            problems.append(
                f"d_model={self.d_model} is not divisible by num_heads={self.num_heads}; "
                "choose num_heads dividing d_model or set head_dim"
            )
        for name in ("dropout_rate", "attention_dropout_rate", "relu_dropout_rate"):
            if not 0.0 <= getattr(self, name) < 1.0:
                problems.append(f"{name}={getattr(self, name)} must be in [0, 1)")
            elif getattr(self, name) > 0.0 and effective_dropout_rate(getattr(self, name)) == 0.0:
                problems.append(f"{name}={getattr(self, name)} rounds to no dropout (rates apply in steps of "
                                f"1/{DROPOUT_LEVELS}); use 0 or at least {1 / DROPOUT_LEVELS:.4f}")
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
    # > 0: training pairs are segmented by sampling, afresh each epoch: for a BPE vocabulary each
    # merge is skipped with this probability (BPE-dropout, Provilkov et al. 2020; they use 0.1),
    # for a unigram one it is the smoothing alpha of subword regularisation (Kudo 2018), which
    # runs the other way: the smaller, the more random (0.1 is a common choice). A regulariser
    # for small corpora; evaluation, decoding and the length filter keep the one deterministic
    # segmentation. The draws depend only on (seed, position in the stream), in any process.
    subword_sampling: float = 0.0

    def __post_init__(self):
        _check_ranges(self, "data", {"batch_size": 1, "eval_batch_size": 1, "tokens_per_batch": 1, "pack_length": 1,
                                     "max_length": 1, "max_chars": 1, "shards": 0}, ("subword_sampling",))
        _check_data_shapes(self)
        if self.dataset not in ("synthetic", "files", "wmt14", "wmt17"):
            raise ConfigError(f"data.dataset={self.dataset!r} is not one of synthetic, files, wmt14, wmt17")
        if self.batching not in ("pack", "bucket"):
            raise ConfigError(f"data.batching={self.batching!r} is not one of pack, bucket")
        if self.dataset == "files" and not self.files:
            raise ConfigError("data.dataset='files' needs data.files, e.g. (('train', ('corpus/train',)),)")
        if self.subword_sampling > 0 and not self.tokenizer.pretrained and self.tokenizer.model_type not in ("bpe",
                                                                                                     "unigram"):
            raise ConfigError(f"data.subword_sampling={self.subword_sampling:g} needs a bpe or unigram vocabulary "
                              f"(data.tokenizer.model_type is {self.tokenizer.model_type!r}): set one, or "
                              "data.subword_sampling=0")


def _check_data_shapes(cfg: DataConfig) -> None:
    """Every kept example (up to max_length tokens) must fit a row of the chosen batching."""
    bounds = cfg.bucket_boundaries
    if not bounds or any(not isinstance(b, int) or b < 1 for b in bounds) or list(bounds) != sorted(set(bounds)):
        raise ConfigError(f"data.bucket_boundaries={bounds!r} must be positive and strictly increasing")
    if cfg.batching == "pack" and cfg.pack_length < cfg.max_length:
        raise ConfigError(f"data.pack_length={cfg.pack_length} is shorter than data.max_length={cfg.max_length}; "
                          "a kept example would not fit a row")
    if cfg.batching == "bucket" and bounds[-1] < cfg.max_length:
        raise ConfigError(f"the last data.bucket_boundaries entry {bounds[-1]} is below "
                          f"data.max_length={cfg.max_length}; extend the boundaries or lower max_length")
    if cfg.batching == "bucket" and cfg.tokens_per_batch < bounds[-1]:
        raise ConfigError(f"data.tokens_per_batch={cfg.tokens_per_batch} is below the last data.bucket_boundaries "
                          f"entry {bounds[-1]}: not even one row of that bucket fits; raise tokens_per_batch")


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
    # Decoupled weight decay (AdamW, Loshchilov & Hutter 2019): each update also takes
    # rate * weight_decay * w off every matrix w (embeddings and kernels; biases and layer-norm
    # scales are left alone). 0 = off, the paper's Adam. Stateless, so a run may switch it on resume.
    weight_decay: float = 0.0
    grad_accum_steps: int = 1  # micro-batches per update
    clip_grad_norm: float = 0.0  # 0 = off
    # An update whose loss or gradient is NaN or infinite is always dropped (parameters and
    # checkpoints stay finite); the run stops once more than this many were dropped.
    skip_nonfinite: int = 0
    # A checkpoint the disk refuses (full, read-only, no permission): "stop" ends the run with one
    # line naming the step and the last good checkpoint; "continue" says so and trains on, saving
    # again at the next checkpoint (a failed last save still ends the run with that line).
    on_save_error: str = "stop"
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
        _check_ranges(self, "train", {"num_steps": 1, "log_every": 1, "eval_every": 1, "checkpoint_every": 1,
                                      "keep_checkpoints": 1, "test_beam_size": 1, "warmup_steps": 0,
                                      "eval_bleu_examples": 0, "max_decode_length": 0, "max_train_seconds": 0,
                                      "clip_grad_norm": 0, "beam_alpha": 0, "skip_nonfinite": 0,
                                      "weight_decay": 0},
                      ("label_smoothing", "ema_decay"))
        if self.best_metric and self.best_metric not in BEST_METRICS:
            raise ConfigError(f"train.best_metric={self.best_metric!r} is not one of {', '.join(BEST_METRICS)} "
                              "(or '' for none)")
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
        if self.on_save_error not in ("stop", "continue"):
            raise ConfigError(f"train.on_save_error={self.on_save_error!r} is not one of stop, continue")
        if self.grad_accum_steps < 1:
            raise ConfigError(f"train.grad_accum_steps={self.grad_accum_steps} must be >= 1")


@dataclasses.dataclass(frozen=True)
class MeshConfig:
    """Device mesh sizes (-1 takes the remaining devices) and the logical-axis rule set."""

    data: int = -1
    fsdp: int = 1
    tensor: int = 1
    rules: str = "dp"  # "dp", "fsdp", "fsdp_tp" (see jaxformer/sharding.py)

    def __post_init__(self):
        sizes = {"data": self.data, "fsdp": self.fsdp, "tensor": self.tensor}
        bad = [f"mesh.{k}={v!r}" for k, v in sizes.items() if isinstance(v, bool) or not isinstance(v, int)
               or not (v == -1 or v >= 1)]
        if bad:
            raise ConfigError(f"{', '.join(bad)}: a mesh size is -1 (the remaining devices) or a count >= 1")
        if list(sizes.values()).count(-1) > 1:
            raise ConfigError(f"mesh {sizes}: at most one axis may be -1 (fill the remaining devices)")
        if self.rules not in RULE_SETS:
            raise ConfigError(f"mesh.rules={self.rules!r} is not one of {', '.join(RULE_SETS)} "
                              "(see jaxformer/sharding.py)")


@dataclasses.dataclass(frozen=True)
class SpeedRule:
    """Other settings for a slower machine, picked by a fresh run from the measured speed of the
    config's own training step (`jaxformer/speed_rule.py`).

    A time-budgeted config makes as many updates as the machine allows, and what serves a machine
    that fits 9,000 updates in the budget need not serve one that fits 4,000. A run with a budget
    and no checkpoint yet times `probe_steps` steps of the config as written on its first batches;
    below `below_tokens_per_second` target tokens a second it trains with `overrides` applied. The
    measurement and the overrides applied are logged and recorded in the workdir's config.json, so
    that a resume (whatever the rule says by then), evaluate and translate read what was trained.
    """

    below_tokens_per_second: float = 0.0  # 0 = off
    # Dotted overrides as on the command line (e.g. "model.num_encoder_layers=3"), of model.* and
    # train.* settings only (not model.vocab_size): the data is prepared before the step is timed.
    overrides: tuple[str, ...] = ()
    probe_steps: int = 20
    # Written by the run that measured (0 = not measured) and what it applied: `overrides` or ().
    measured_tokens_per_second: float = 0.0
    applied: tuple[str, ...] = ()

    def __post_init__(self):
        _check_ranges(self, "speed_rule", {"below_tokens_per_second": 0, "probe_steps": 1,
                                           "measured_tokens_per_second": 0})
        for item in (*self.overrides, *self.applied):
            key = item.partition("=")[0].strip() if isinstance(item, str) else ""
            if not isinstance(item, str) or "=" not in item or key.split(".")[0] not in ("model", "train") \
                    or key == "model.vocab_size":
                raise ConfigError(f"speed_rule.overrides entry {item!r} is not a model.* or train.* override of "
                                  "the form key=value (e.g. 'model.num_encoder_layers=3'; not model.vocab_size: "
                                  "the tokenizer is built before the step is timed)")

    @property
    def active(self) -> bool:
        return self.below_tokens_per_second > 0 and bool(self.overrides)


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """Everything a run needs; saved into the workdir so that later commands need only --workdir."""

    name: str = "default"
    model: ModelConfig = PRESETS["tiny"]
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    mesh: MeshConfig = MeshConfig()
    speed_rule: SpeedRule = SpeedRule()

    def __post_init__(self):
        if self.speed_rule.active and self.data.batching != "pack":
            raise ConfigError("speed_rule needs data.batching='pack': it times steps of one shape (bucketed batches "
                              "compile a step per shape); set speed_rule.below_tokens_per_second=0 to turn it off")
        if self.speed_rule.overrides:  # checked now, not after the data and the probe: one line
            try:
                self._overridden()
            except ConfigError as e:
                raise ConfigError(f"speed_rule.overrides: {e}") from None

    def _overridden(self, overrides: tuple[str, ...] | None = None) -> ExperimentConfig:
        plain = dataclasses.replace(self, speed_rule=SpeedRule())
        return apply_overrides(plain, list(self.speed_rule.overrides if overrides is None else overrides))

    def with_speed_rule(self, rule: SpeedRule) -> ExperimentConfig:
        """This experiment with `rule` in place and the overrides it records as applied."""
        return dataclasses.replace(self._overridden(rule.applied), speed_rule=rule)


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


@functools.lru_cache(maxsize=None)
def _field_types(cls: type) -> dict[str, Any]:
    """The resolved field annotations of a config class, or {} where they cannot be resolved (a
    class defined inside a function): the current values then stand for the types."""
    try:
        return typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - any failure to resolve means: fall back to the values
        return {}


def _kind_of(value: Any) -> Any:
    return Any if value is None else tuple[Any, ...] if isinstance(value, tuple) else type(value)


def _describe(kind: Any) -> str:
    """A type as a user reads it: int, float, true/false, text, one of (...), tuple of int, ..."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is tuple:
        inner = args[0] if len(args) == 2 and args[1] is Ellipsis else Any
        plural = {int: "ints", float: "numbers", str: "strings", bool: "bools"}
        return "a tuple" + ("" if inner is Any else f" of {plural.get(inner, 'tuples')}")
    return {int: "an int", float: "a number", bool: "true or false", str: "text", type(None): "None",
            Any: "any value"}.get(kind, getattr(kind, "__name__", str(kind)))


_NO = object()  # "does not conform"


def _conform(value: Any, kind: Any) -> Any:
    """`value` as an instance of `kind` (an int for a float field becomes a float), or _NO."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is Any:
        return value
    if origin is Literal:
        return value if any(value == a and type(value) is type(a) for a in args) else _NO
    if origin in (typing.Union, types.UnionType):
        for arm in args:
            if (out := _conform(value, arm)) is not _NO:
                return out
        return _NO
    if origin is tuple or kind is tuple:
        if not isinstance(value, (tuple, list)):
            return _NO
        if len(args) == 2 and args[1] is Ellipsis:
            args = (args[0],) * len(value)
        elif not args:
            args = (Any,) * len(value)
        if len(args) != len(value):
            return _NO
        out = tuple(_conform(v, a) for v, a in zip(value, args))
        return _NO if any(v is _NO for v in out) else out
    if kind is float:
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else _NO
    if kind is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _NO
    if kind is type(None):
        return value if value is None else _NO
    return value if isinstance(kind, type) and isinstance(value, kind) else _NO


def _takes_text(kind: Any) -> bool:
    """Whether a field of this type takes the override text verbatim (str, or a choice of strings)."""
    if kind is str:
        return True
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    return origin is Literal and all(isinstance(a, str) for a in args)


def _parse_value(text: str, kind: Any) -> Any:
    """Parses an override string for a field of type `kind`: text for text fields, else a Python
    literal, with true/false and none/null in any case; what does not parse stays text."""
    if _takes_text(kind):
        return text
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if text.lower() in ("none", "null"):
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return text


def _checked(node: Any, name: str, value: Any, full_key: str) -> Any:
    """The override `value` (override text or a Python value) for field `name` of `node`, type-checked;
    a wrong type is a ConfigError naming the key, the value and the type it takes."""
    current = getattr(node, name)
    kind = _field_types(type(node)).get(name, _kind_of(current))
    if dataclasses.is_dataclass(kind) or dataclasses.is_dataclass(current):
        if dataclasses.is_dataclass(current) and isinstance(value, type(current)):
            return value
        example = dataclasses.fields(current)[0].name
        raise ConfigError(f"{full_key} is a group of settings, not a value; set one of its fields, e.g. "
                          f"{full_key}.{example}={getattr(current, example)!r}")
    parsed = _parse_value(value, kind) if isinstance(value, str) else value
    out = _conform(parsed, kind)
    if out is _NO:
        raise ConfigError(f"{full_key}={value!r} is not {_describe(kind)} "
                          f"(e.g. {full_key}={current!r}, its value now)")
    return out


def apply_overrides(config: Any, overrides: list[str] | dict[str, Any]) -> Any:
    """Returns `config` (a nested frozen dataclass) with dotted overrides applied.

    ``apply_overrides(cfg, ["model.d_model=256", "model.norm=pre"])``. Each value is checked
    against its field's type, and the changes to one config class are applied together, so that
    settings checked against each other can be changed in any order. An unknown key, a value of
    the wrong type and an invalid result are each a one-line `ConfigError`.
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
    return _set_dotted(config, [(key.split("."), value, key) for key, value in items])


def _set_dotted(node: Any, items: list[tuple[list[str], Any, str]]) -> Any:
    """`node` with every (path, value, full key) of `items` applied, in one replace per dataclass."""
    if not items:
        return node
    changes: dict[str, Any] = {}
    nested: dict[str, list[tuple[list[str], Any, str]]] = {}
    for path, value, full_key in items:
        if not dataclasses.is_dataclass(node):
            raise ConfigError(f"override {full_key!r}: {type(node).__name__} has no fields to set")
        names = [f.name for f in dataclasses.fields(node)]
        head = path[0]
        if head not in names:
            raise ConfigError(f"unknown config key {full_key!r}: {head!r} is not one of {names}")
        if len(path) > 1:
            nested.setdefault(head, []).append((path[1:], value, full_key))
        else:
            changes[head] = _checked(node, head, value, full_key)
            nested.pop(head, None)  # a whole group set after its fields replaces them
    for head, sub in nested.items():
        changes[head] = _set_dotted(changes.get(head, getattr(node, head)), sub)
    return dataclasses.replace(node, **changes)
