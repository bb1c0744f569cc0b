"""Shared test setup: 8 simulated CPU devices and strict rank promotion, set before JAX starts."""

import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# No persistent compilation cache in tests (and their subprocesses) unless a test asks for one:
# it would follow the first workdir a test translates in for the rest of the process.
os.environ["JAXFORMER_COMPILE_CACHE"] = "off"

import dataclasses  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import jaxformer as jf  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture(scope="session")
def tiny() -> jf.ModelConfig:
    """The tiny preset without dropout, small vocab: fast, deterministic."""
    return jf.preset("tiny", vocab_size=64, d_model=32, d_ff=64, num_heads=4, dropout_rate=0.0, max_len=64)


@pytest.fixture(scope="session")
def tiny_params(tiny):
    return jf.init(tiny, jax.random.key(0))


def random_tokens(rng: np.random.Generator, lengths, width: int, vocab: int) -> np.ndarray:
    """[B, width] int32 rows of real tokens (1..vocab-1) followed by padding (0)."""
    out = np.zeros((len(lengths), width), np.int32)
    for i, n in enumerate(lengths):
        out[i, :n] = rng.integers(1, vocab, size=n)
    return out


@pytest.fixture
def np_rng():
    return np.random.default_rng(1234)


def replace(cfg, **kw):
    return dataclasses.replace(cfg, **kw)
