"""jaxformer: the Transformer of "Attention Is All You Need" in JAX / Flax NNX.

The public API is the pure functions below; modules live in `jaxformer.model`.
"""

from jaxformer.config import PRESETS, ConfigError, ModelConfig, apply_overrides, preset
from jaxformer.functional import (
    CACHE_AXES, apply, check_params, decode_step, decoder_layers, encode, init, init_cache, logical_axes, param_count,
)

__all__ = [
    "ModelConfig", "PRESETS", "preset", "apply_overrides", "ConfigError",
    "init", "apply", "encode", "init_cache", "decode_step", "decoder_layers", "logical_axes", "param_count",
    "check_params", "CACHE_AXES", "from_marian",
]


def from_marian(path):
    """(config, params, tokenizer) of a local OPUS-MT / Marian folder (Hugging Face layout), for
    the pure API; see `jaxformer.pretrained.marian`. Imported on first use."""
    from jaxformer.pretrained.marian import from_marian as load
    return load(path)
__version__ = "0.1.0"
