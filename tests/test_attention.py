import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxformer.attention import (MultiHeadAttention, causal_mask, combine_masks, dot_product_attention,
                                 padding_mask, segment_mask)


def reference_attention(q, k, v, mask):
    """softmax(QK^T/sqrt(d_k))V in float64 NumPy, one head at a time."""
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    B, T, N, H = q.shape  # H = d_k; values may be wider or narrower (d_v)
    out = np.zeros((B, T, N, v.shape[-1]))
    weights = np.zeros((B, N, T, k.shape[1]))
    mask = np.broadcast_to(np.asarray(mask), (B, N, T, k.shape[1]))
    for b in range(B):
        for n in range(N):
            s = q[b, :, n] @ k[b, :, n].T / np.sqrt(H)
            s = np.where(mask[b, n], s, -np.inf)
            with np.errstate(invalid="ignore"):
                w = np.exp(s - s.max(-1, keepdims=True))
                w = w / w.sum(-1, keepdims=True)
            w = np.nan_to_num(w)
            weights[b, n] = w
            out[b, :, n] = w @ v[b, :, n]
    return out, weights


@pytest.fixture
def qkv():
    keys = jax.random.split(jax.random.key(0), 3)
    q = jax.random.normal(keys[0], (2, 5, 3, 8))
    k = jax.random.normal(keys[1], (2, 7, 3, 8))
    v = jax.random.normal(keys[2], (2, 7, 3, 8))
    valid_q = jnp.array([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], bool)
    valid_k = jnp.array([[1, 1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1, 0]], bool)
    return q, k, v, padding_mask(valid_q, valid_k), valid_q


def test_reference_path_equals_float64_numpy(qkv):
    q, k, v, mask, _ = qkv
    out, weights = dot_product_attention(q, k, v, mask, implementation="reference", return_weights=True)
    ref_out, ref_w = reference_attention(q, k, v, mask)
    np.testing.assert_allclose(out, ref_out, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(weights, ref_w, rtol=1e-5, atol=1e-6)


def test_keys_narrower_than_values_equal_the_formula(qkv):
    """Table 3 (B): d_k != d_v takes the explicit path; scores scale by 1/sqrt(d_k)."""
    q, k, v, mask, _ = qkv
    out = dot_product_attention(q[..., :4], k[..., :4], v, mask)
    np.testing.assert_allclose(out, reference_attention(q[..., :4], k[..., :4], v, mask)[0], rtol=1e-5, atol=1e-5)


def test_masked_positions_get_exactly_zero_weight(qkv):
    q, k, v, mask, _ = qkv
    _, weights = dot_product_attention(q, k, v, mask, return_weights=True)
    full = np.broadcast_to(np.asarray(mask), weights.shape)
    assert np.all(np.asarray(weights)[~full] == 0.0)
    rows = full.any(-1)
    np.testing.assert_allclose(np.asarray(weights).sum(-1)[rows], 1.0, rtol=1e-6)


def test_fused_dispatch_equals_reference(qkv):
    """The `jax.nn.dot_product_attention` path (cuDNN flash attention on GPU) equals the formula
    on every query that has at least one key to attend to."""
    q, k, v, mask, valid_q = qkv
    fused = dot_product_attention(q, k, v, mask, implementation="xla")
    ref = dot_product_attention(q, k, v, mask, implementation="reference")
    rows = np.asarray(valid_q)
    np.testing.assert_allclose(np.asarray(fused)[rows], np.asarray(ref)[rows], rtol=1e-5, atol=1e-6)


def test_mask_builders():
    causal = np.asarray(causal_mask(4))[0, 0]
    np.testing.assert_array_equal(causal, np.tril(np.ones((4, 4), bool)))
    seg = jnp.array([[1, 1, 2, 2, 0]])
    m = np.asarray(segment_mask(seg, seg))[0, 0]
    expected = np.array([[1, 1, 0, 0, 0], [1, 1, 0, 0, 0], [0, 0, 1, 1, 0], [0, 0, 1, 1, 0], [0] * 5], bool)
    np.testing.assert_array_equal(m, expected)
    pad = np.asarray(padding_mask(jnp.array([[True, False]]), jnp.array([[True, True, False]])))[0, 0]
    np.testing.assert_array_equal(pad, [[1, 1, 0], [0, 0, 0]])
    assert combine_masks(None, None) is None
    np.testing.assert_array_equal(np.asarray(combine_masks(causal_mask(2), None)), np.asarray(causal_mask(2)))


def test_multi_head_attention_shapes_and_weights(tiny):
    mha = MultiHeadAttention(tiny, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (2, 5, tiny.d_model))
    ctx = jax.random.normal(jax.random.key(2), (2, 7, tiny.d_model))
    y, (cache, w) = mha(x, ctx, None, return_weights=True)
    assert y.shape == x.shape and cache is None
    assert w.shape == (2, tiny.num_heads, 5, 7)
    # Separate projections: the Q, K, V and output kernels are distinct parameters.
    assert mha.query[...].shape == (tiny.d_model, tiny.num_heads, tiny.d_head)
    assert not np.allclose(mha.query[...], mha.key[...])


def test_head_dim_can_differ_from_d_model_over_h(tiny):
    """Table 3 row B varies d_k at fixed h: the projection width is N*H, not d_model."""
    import dataclasses
    cfg = dataclasses.replace(tiny, head_dim=4)
    mha = MultiHeadAttention(cfg, rngs=nnx.Rngs(0))
    y, _ = mha(jnp.ones((1, 3, cfg.d_model)))
    assert mha.query[...].shape == (cfg.d_model, cfg.num_heads, 4) and y.shape == (1, 3, cfg.d_model)


def test_cudnn_outside_gpu_is_a_clear_error(qkv):
    import jaxformer as jf
    q, k, v, mask, _ = qkv
    if jax.default_backend() == "gpu":
        pytest.skip("a GPU is present")
    with pytest.raises(jf.ConfigError, match="attention_impl='cudnn' needs a CUDA GPU"):
        dot_product_attention(q, k, v, mask, implementation="cudnn")


@pytest.mark.parametrize("per_query_row_mask", [False, True])
def test_grouped_queries_equal_repeated_keys_and_values(per_query_row_mask):
    """Beam search's memory: G = 3 adjacent query rows per key row give what repeating the keys
    and values G times gives, with the mask per key row or per query row."""
    from jaxformer.attention import cached_attention
    rng = np.random.default_rng(0)
    B, G, T, N, S, H = 2, 3, 2, 4, 5, 8
    q = jnp.asarray(rng.normal(size=(B * G, T, N, H)), jnp.float32)
    k, v = (jnp.asarray(rng.normal(size=(B, N, S, H)), jnp.float32) for _ in range(2))
    valid = jnp.asarray([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    mask = valid[:, None, None, :]
    repeated = cached_attention(q, jnp.repeat(k, G, 0), jnp.repeat(v, G, 0), jnp.repeat(mask, G, 0))
    grouped = cached_attention(q, k, v, jnp.repeat(mask, G, 0) if per_query_row_mask else mask)
    np.testing.assert_allclose(grouped, repeated, rtol=1e-5, atol=1e-6)
    # The masked keys matter: without the mask the first example's rows change.
    assert not np.allclose(cached_attention(q, k, v, None)[:G], repeated[:G], atol=1e-3)
