import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxformer.config import ModelConfig
from jaxformer.layers import Embed, LayerNorm, Residual, dropout, effective_dropout_rate, sinusoidal_at, sinusoidal_table, dense, tied_logits


def test_sinusoidal_encoding_is_the_papers_formula():
    d, n = 16, 50
    table = sinusoidal_table(n, d)
    for pos in (0, 1, 7, 49):
        for i in range(d // 2):
            assert table[pos, 2 * i] == pytest.approx(math.sin(pos / 10000 ** (2 * i / d)), abs=1e-6)
            assert table[pos, 2 * i + 1] == pytest.approx(math.cos(pos / 10000 ** (2 * i / d)), abs=1e-6)
    on_the_fly = sinusoidal_at(jnp.arange(n)[None], d)[0]
    np.testing.assert_allclose(on_the_fly, table, atol=2e-5)


def test_dropout_is_identity_without_key_and_scales_with_key():
    x = jnp.ones((1000, 100))
    assert dropout(x, 0.3, None) is x
    assert dropout(x, 0.001, jax.random.key(0)) is x  # rounds to a rate of 0
    rate = effective_dropout_rate(0.3)
    assert rate == 77 / 256 and effective_dropout_rate(0.9999) == 255 / 256
    y = np.asarray(dropout(x, 0.3, jax.random.key(0)))
    kept = y[y != 0]
    np.testing.assert_allclose(kept, 1 / (1 - rate), rtol=1e-6)
    assert abs((y == 0).mean() - rate) < 0.005
    assert abs(y.mean() - 1.0) < 0.01


@pytest.mark.parametrize("shape", [(4000, 128), (3, 7, 1001), (20000, 5), (100000,)])
def test_dropout_masks_take_each_byte_once_for_any_last_axis(shape):
    """Four mask bytes come from each random word: for a last axis that 4 does not divide, the
    spare bytes are cut off, and the bytes of neighbouring elements are still independent."""
    rate = effective_dropout_rate(0.1)
    y = np.asarray(dropout(jnp.ones(shape), 0.1, jax.random.key(3))).reshape(-1, shape[-1])
    dropped = y == 0
    assert y.shape[0] * y.shape[1] == np.prod(shape)
    assert abs(dropped.mean() - rate) < 5 * math.sqrt(rate * (1 - rate) / dropped.size)
    if shape[-1] > 1:  # both neighbours dropped as often as independence says, not more
        both = (dropped[:, 1:] & dropped[:, :-1]).mean()
        assert abs(both - rate ** 2) < 5 * math.sqrt(rate ** 2 / dropped[:, 1:].size) + 1e-4
    other = np.asarray(dropout(jnp.ones(shape), 0.1, jax.random.key(4))).reshape(-1, shape[-1]) == 0
    assert (other != dropped).any()  # another key, another mask


def test_embedding_is_scaled_by_sqrt_d_model():
    cfg = ModelConfig(vocab_size=10, d_model=16, d_ff=32, num_heads=2)
    emb = Embed(cfg, rngs=nnx.Rngs(0))
    out = emb(jnp.array([[3]]))
    np.testing.assert_allclose(out[0, 0], emb.embedding[...][3] * 4.0, rtol=1e-6)
    # The shared matrix is also the pre-softmax projection.
    x = jax.random.normal(jax.random.key(1), (1, 2, 16))
    np.testing.assert_allclose(emb.attend(x), x @ emb.embedding[...].T, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("x_shape,w_shape,n_in", [((3, 5, 8), (8, 6), 1), ((3, 5, 8), (8, 2, 3), 1),
                                                   ((3, 5, 2, 4), (2, 4, 7), 2)])
def test_dense_equals_tensordot_with_gradients(x_shape, w_shape, n_in):
    kx, kw, kg = jax.random.split(jax.random.key(0), 3)
    x, w = jax.random.normal(kx, x_shape), jax.random.normal(kw, w_shape)
    out_shape = x_shape[:len(x_shape) - n_in] + w_shape[n_in:]
    c = jax.random.normal(kg, out_shape)  # a cotangent that is not all ones

    def loss(f):
        return lambda x, w: jnp.sum(jnp.tanh(f(x, w)) * c)

    ref = lambda x, w: jnp.tensordot(x, w, n_in)
    np.testing.assert_allclose(dense(x, w, n_in), ref(x, w), rtol=1e-6, atol=1e-6)
    plain = jax.grad(loss(ref), argnums=(0, 1))(x, w)
    custom = jax.grad(loss(lambda x, w: dense(x, w, n_in)), argnums=(0, 1))(x, w)
    for a, b in zip(custom, plain):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_tied_logits_gradients_equal_autodiff():
    kx, kt, kw = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(kx, (3, 5, 8))
    table = jax.random.normal(kt, (11, 8))
    w = jax.random.normal(kw, (3, 5, 11))  # a cotangent that is not all ones

    def loss(f):
        return lambda x, t: jnp.sum(jnp.tanh(f(x, t)) * w)

    plain = jax.grad(loss(lambda x, t: jnp.einsum("btd,vd->btv", x, t)), argnums=(0, 1))(x, table)
    custom = jax.grad(loss(tied_logits), argnums=(0, 1))(x, table)
    np.testing.assert_allclose(tied_logits(x, table), jnp.einsum("btd,vd->btv", x, table), rtol=1e-6, atol=1e-6)
    for a, b in zip(custom, plain):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def _program(f, *args) -> str:
    """The lowered StableHLO of jit(f) without its module name and source locations (so that
    two spellings of one product compare equal)."""
    lines = jax.jit(f).lower(*args).as_text().splitlines()
    return "\n".join(l.split(" loc(")[0] for l in lines if not l.startswith(("#loc", "module @")))


def test_custom_vjp_wrappers_add_nothing_to_the_forward_program():
    # Decoding (greedy, beam search, the cache) never differentiates: there the wrappers must
    # lower to exactly the plain products, so they cannot cost anything outside training.
    x, w2, t = jnp.ones((4, 1, 16)), jnp.ones((2, 8, 16)), jnp.ones((11, 16))
    assert _program(lambda x, t: dense(x, t.T), x, t) == _program(lambda x, t: jnp.tensordot(x, t.T, 1), x, t)
    assert _program(lambda x, w: dense(x.reshape(4, 1, 2, 8), w, 2), x, w2) == \
        _program(lambda x, w: jnp.tensordot(x.reshape(4, 1, 2, 8), w, 2), x, w2)
    assert _program(tied_logits, x, t) == _program(lambda x, t: jnp.einsum("btd,vd->btv", x, t), x, t)
    assert "dot_general" in _program(tied_logits, x, t)


@pytest.mark.parametrize("norm", ["post", "pre"])
def test_residual_wrapper_places_layer_norm(norm):
    cfg = ModelConfig(vocab_size=10, d_model=16, d_ff=32, num_heads=2, norm=norm)
    res = Residual(cfg, rngs=nnx.Rngs(0))
    x = 3.0 + 2.0 * jax.random.normal(jax.random.key(0), (2, 3, 16))
    y, _ = res(x, lambda h: (h * 0.5, None), None)
    ln = LayerNorm(cfg, rngs=nnx.Rngs(0))
    expected = ln(x + 0.5 * x) if norm == "post" else x + 0.5 * ln(x)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
