"""Model behaviour: causality, padding and packing invariance, incremental decoding, layer
stacking options, and the model variants, all through the pure API."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxformer as jf
from conftest import random_tokens

TOL = dict(rtol=2e-5, atol=2e-5)


def test_no_future_leakage(tiny, tiny_params, np_rng):
    src = random_tokens(np_rng, [6, 4], 6, tiny.vocab_size)
    tgt = random_tokens(np_rng, [7, 7], 7, tiny.vocab_size)
    base = jf.apply(tiny_params, src, tgt, config=tiny)
    for t in range(7):
        changed = tgt.copy()
        changed[:, t:] = np_rng.integers(1, tiny.vocab_size, size=changed[:, t:].shape)
        out = jf.apply(tiny_params, src, changed, config=tiny)
        # logits[:, s] predicts tgt[:, s] from tgt[:, :s]: positions s <= t see only unchanged tokens.
        np.testing.assert_allclose(out[:, : t + 1], base[:, : t + 1], **TOL)
        if t < 6:
            assert not np.allclose(out[:, t + 1:], base[:, t + 1:])


def test_padding_invariance(tiny, tiny_params, np_rng):
    src = random_tokens(np_rng, [5, 3], 5, tiny.vocab_size)
    tgt = random_tokens(np_rng, [4, 2], 4, tiny.vocab_size)
    base = jf.apply(tiny_params, src, tgt, config=tiny)
    padded = jf.apply(tiny_params, np.pad(src, ((0, 0), (0, 6))), np.pad(tgt, ((0, 0), (0, 5))), config=tiny)
    for b, n in enumerate([4, 2]):
        np.testing.assert_allclose(padded[b, :n], base[b, :n], **TOL)


def pack(examples, width):
    """Packs (src, tgt) pairs into one row with segment ids and per-segment positions."""
    row = {k: np.zeros((1, width), np.int32) for k in ("src", "tgt", "src_seg", "tgt_seg", "src_pos", "tgt_pos")}
    offs = {"src": 0, "tgt": 0}
    for seg, ex in enumerate(examples, start=1):
        for side, toks in zip(("src", "tgt"), ex):
            o, n = offs[side], len(toks)
            row[side][0, o:o + n] = toks
            row[side + "_seg"][0, o:o + n] = seg
            row[side + "_pos"][0, o:o + n] = np.arange(n)
            offs[side] += n
    return row


@pytest.mark.parametrize("positional", ["sinusoidal", "learned"])
def test_packed_batch_equals_examples_one_by_one(tiny, np_rng, positional):
    cfg = dataclasses.replace(tiny, positional=positional)
    params = jf.init(cfg, jax.random.key(3))
    examples = [(np_rng.integers(1, cfg.vocab_size, size=s), np_rng.integers(1, cfg.vocab_size, size=t))
                for s, t in [(4, 3), (2, 5), (5, 2)]]
    row = pack(examples, 16)
    packed = jf.apply(params, row["src"], row["tgt"], config=cfg, src_segments=row["src_seg"],
                      src_positions=row["src_pos"], tgt_segments=row["tgt_seg"], tgt_positions=row["tgt_pos"])
    o = 0
    for src, tgt in examples:
        alone = jf.apply(params, src[None], tgt[None], config=cfg)
        np.testing.assert_allclose(packed[0, o:o + len(tgt)], alone[0], **TOL)
        o += len(tgt)


VARIANTS = {
    "post_ln": {},
    "pre_ln": {"norm": "pre"},
    "learned_positions": {"positional": "learned"},
    "scan_remat": {"scan_layers": True, "remat": "dots"},
    "untied": {"share_embeddings": False, "tie_output": False},
    "narrow_keys": {"key_dim": 4},  # Table 3 (B): d_k < d_v, so the cache's k and v differ in width
}


# Every variant with the memory's keys and values in the cache (what decoding uses), and two with
# decode_step projecting the memory itself (the plain init_cache of the pure API; narrow keys there
# a slow test, ~18 s on 2 cores).
@pytest.mark.parametrize("variant,memory_in_cache", [(v, True) for v in sorted(VARIANTS)]
                         + [("post_ln", False), pytest.param("narrow_keys", False, marks=pytest.mark.slow)])
def test_incremental_decoding_equals_full_forward(tiny, np_rng, variant, memory_in_cache):
    cfg = dataclasses.replace(tiny, **VARIANTS[variant])
    params = jf.init(cfg, jax.random.key(1))
    src = random_tokens(np_rng, [5, 3], 5, cfg.vocab_size)
    tgt = random_tokens(np_rng, [6, 6], 6, cfg.vocab_size)
    full = jf.apply(params, src, tgt, config=cfg)
    memory, valid = jf.encode(params, src, config=cfg)
    if memory_in_cache:  # the memory's keys and values projected once; decode_step never sees memory
        cache = jf.init_cache(cfg, batch_size=2, max_len=8, params=params, memory=memory)
        assert len(cache["memory_k"]) == cfg.num_decoder_layers
        assert cache["memory_k"][0].shape == (2, cfg.num_heads, 5, cfg.d_key)
        memory = None
    else:
        cache = jf.init_cache(cfg, batch_size=2, max_len=8)
    step = jax.jit(lambda c, tok: jf.decode_step(params, c, tok, memory, valid, config=cfg))
    prev = np.full((2,), cfg.pad_id, np.int32)
    for t in range(6):
        logits, cache = step(cache, prev)
        np.testing.assert_allclose(logits, full[:, t], **TOL)
        prev = tgt[:, t]
    assert int(cache["index"]) == 6


def test_scan_and_remat_match_unrolled_loop_with_gradients(tiny, tiny_params, np_rng):
    src = random_tokens(np_rng, [5, 3], 5, tiny.vocab_size)
    tgt = random_tokens(np_rng, [4, 4], 4, tiny.vocab_size)

    def loss(p, cfg):
        return jnp.mean(jf.apply(p, src, tgt, config=cfg) ** 2)

    ref_l, ref_g = jax.value_and_grad(loss)(tiny_params, tiny)
    for kw in ({"scan_layers": True}, {"remat": "full"}, {"scan_layers": True, "remat": "dots"}):
        cfg = dataclasses.replace(tiny, **kw)
        l, g = jax.jit(jax.value_and_grad(loss), static_argnums=1)(tiny_params, cfg)
        np.testing.assert_allclose(l, ref_l, **TOL)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), g, ref_g)


def test_decoder_only_model_is_causal_and_has_no_cross_attention(tiny, np_rng):
    cfg = dataclasses.replace(tiny, kind="decoder_only")
    params = jf.init(cfg, jax.random.key(0))
    assert "encoder_layers" not in params and "cross_attention" not in params["decoder_layers"]
    tgt = random_tokens(np_rng, [6], 6, cfg.vocab_size)
    out = jf.apply(params, None, tgt, config=cfg)
    changed = tgt.copy()
    changed[0, 3:] = 1
    np.testing.assert_allclose(jf.apply(params, None, changed, config=cfg)[:, :4], out[:, :4], **TOL)
    cache = jf.init_cache(cfg, 1, 6)
    prev = np.zeros((1,), np.int32)
    for t in range(6):
        logits, cache = jf.decode_step(params, cache, prev, config=cfg)
        np.testing.assert_allclose(logits, out[:, t], **TOL)
        prev = tgt[:, t]


def test_encoder_only_model_is_bidirectional(tiny, np_rng):
    cfg = dataclasses.replace(tiny, kind="encoder_only")
    params = jf.init(cfg, jax.random.key(0))
    assert "decoder_layers" not in params
    src = random_tokens(np_rng, [5], 5, cfg.vocab_size)
    out = jf.apply(params, src, None, config=cfg)
    assert out.shape == (1, 5, cfg.vocab_size)
    changed = src.copy()
    changed[0, 4] = (src[0, 4] % (cfg.vocab_size - 1)) + 1
    assert not np.allclose(jf.apply(params, changed, None, config=cfg)[:, 0], out[:, 0])


def test_attention_weights_are_returned_per_layer(tiny, tiny_params, np_rng):
    src = random_tokens(np_rng, [5, 3], 5, tiny.vocab_size)
    tgt = random_tokens(np_rng, [4, 2], 4, tiny.vocab_size)
    logits, w = jf.apply(tiny_params, src, tgt, config=tiny, return_weights=True)
    L, N = tiny.num_encoder_layers, tiny.num_heads
    assert w["encoder_self"].shape == (L, 2, N, 5, 5)
    assert w["decoder_self"].shape == (L, 2, N, 4, 4)
    assert w["cross"].shape == (L, 2, N, 4, 5)
    plain = jf.apply(tiny_params, src, tgt, config=tiny)
    for b, n in enumerate([4, 2]):  # padding queries attend to nothing; their logits are unused
        np.testing.assert_allclose(logits[b, :n], plain[b, :n], **TOL)
    assert np.all(np.asarray(w["cross"])[:, 1, :, :, 3:] == 0)  # padding of example 1's source
    assert np.all(np.triu(np.asarray(w["decoder_self"]), k=1) == 0)  # the future


def test_bfloat16_computation_is_close_to_float32(tiny, tiny_params, np_rng):
    src = random_tokens(np_rng, [5, 3], 5, tiny.vocab_size)
    tgt = random_tokens(np_rng, [4, 4], 4, tiny.vocab_size)
    cfg = dataclasses.replace(tiny, dtype="bfloat16")
    out16 = jf.apply(tiny_params, src, tgt, config=cfg)
    out32 = jf.apply(tiny_params, src, tgt, config=tiny)
    assert out16.dtype == jnp.float32
    np.testing.assert_allclose(out16, out32, rtol=0.1, atol=0.15)
    assert (np.argmax(out16, -1) == np.argmax(out32, -1)).mean() > 0.9


def test_dropout_needs_rng_and_is_deterministic_in_it(np_rng):
    cfg = jf.preset("tiny", vocab_size=64, d_model=32, d_ff=64, dropout_rate=0.3, attention_dropout_rate=0.1,
                    relu_dropout_rate=0.1)
    params = jf.init(cfg, jax.random.key(0))
    src = random_tokens(np_rng, [5], 5, cfg.vocab_size)
    tgt = random_tokens(np_rng, [4], 4, cfg.vocab_size)
    with pytest.raises(jf.ConfigError, match="needs rng"):
        jf.apply(params, src, tgt, config=cfg, train=True)
    a = jf.apply(params, src, tgt, config=cfg, train=True, rng=jax.random.key(1))
    b = jf.apply(params, src, tgt, config=cfg, train=True, rng=jax.random.key(1))
    c = jf.apply(params, src, tgt, config=cfg, train=True, rng=jax.random.key(2))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    evaluation = jf.apply(params, src, tgt, config=cfg)
    assert not np.allclose(a, evaluation)


def test_init_cache_with_memory_names_what_is_missing(tiny, tiny_params):
    memory = jnp.zeros((3, 5, tiny.d_model))
    with pytest.raises(jf.ConfigError, match="pass params"):
        jf.init_cache(tiny, 3, 8, memory=memory)
    with pytest.raises(jf.ConfigError, match="3 rows, which do not divide batch_size 2"):
        jf.init_cache(tiny, 2, 8, tiny_params, memory)
    assert jf.init_cache(tiny, 6, 8, tiny_params, memory)["memory_k"][0].shape[0] == 3  # 2 rows per memory row
    memory, valid = jf.encode(tiny_params, np.ones((2, 5), np.int32), config=tiny)
    with pytest.raises(jf.ConfigError, match="needs the encoder memory"):
        jf.decode_step(tiny_params, jf.init_cache(tiny, 2, 8), np.zeros((2,), np.int32), None, valid, config=tiny)


def test_a_dropout_key_is_named_by_its_path_with_a_stable_hash():
    import zlib
    from jaxformer.layers import named_key
    key = jax.random.key(7)
    want = jax.random.fold_in(jax.random.fold_in(key, zlib.crc32(b"decoder_layers")), 3)
    np.testing.assert_array_equal(jax.random.key_data(named_key(key, "decoder_layers", 3)), jax.random.key_data(want))
    assert named_key(None, "anything") is None
    names = ["encoder_layers", "decoder_layers", "self_attention", "cross_attention", "feed_forward"]
    datas = {tuple(np.asarray(jax.random.key_data(named_key(key, n))).tolist()) for n in names}
    assert len(datas) == len(names)


def test_adding_a_dropout_site_leaves_every_other_sites_mask_unchanged(np_rng, monkeypatch):
    """Masks follow names, not the order of the sites: a new site at the start of every encoder
    layer (where a counter of sites would shift everything after it) changes no other mask."""
    from jaxformer import layers, model
    cfg = jf.preset("tiny", vocab_size=64, d_model=32, d_ff=64, num_heads=4, dropout_rate=0.3,
                    attention_dropout_rate=0.1, relu_dropout_rate=0.1)
    params = jf.init(cfg, jax.random.key(0))
    src = random_tokens(np_rng, [5, 3], 5, cfg.vocab_size)
    tgt = random_tokens(np_rng, [4, 2], 4, cfg.vocab_size)
    masks, keep_mask = [], layers.keep_mask

    def recorded(key, rate, shape):
        masks.append(np.asarray(keep_mask(key, rate, shape)))
        return masks[-1]

    def sites() -> list[np.ndarray]:
        masks.clear()
        with jax.disable_jit():  # concrete masks, recorded in call order
            jf.apply(params, src, tgt, config=cfg, train=True, rng=jax.random.key(1))
        return list(masks)

    monkeypatch.setattr(layers, "keep_mask", recorded)
    before = sites()
    assert len(before) == 1 + 4 * 2 + 1 + 6 * 2  # embeddings, 4 sites per encoder layer, 6 per decoder layer
    assert len({m.tobytes() + bytes(str(m.shape), "ascii") for m in before}) == len(before)  # a key per site

    added, layer_call = [], model.EncoderLayer.__call__

    def with_a_new_site(self, x, mask, key, return_weights=False):
        x = layers.dropout(x, 0.5, layers.named_key(key, "new_site"))
        added.append(masks.pop())
        return layer_call(self, x, mask, key, return_weights)

    monkeypatch.setattr(model.EncoderLayer, "__call__", with_a_new_site)
    after = sites()
    assert len(added) == cfg.num_encoder_layers and len(after) == len(before)
    for a, b in zip(after, before):
        np.testing.assert_array_equal(a, b)
