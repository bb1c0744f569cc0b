"""Decoding: beam 1 is greedy, a wide beam finds the exhaustive optimum, the cache changes
nothing, the length rules hold, and 8 devices give the 1-device result."""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxformer as jf
from jaxformer import decode, sharding

CFG = jf.preset("tiny", vocab_size=6, d_model=32, d_ff=64, num_heads=4, dropout_rate=0.0)
PARAMS = jf.init(CFG, jax.random.key(7))
SRC = jnp.array([[3, 4, 5, 4, 1], [5, 3, 1, 0, 0]], jnp.int32)
EOS = 1


def seq_logp(tokens):
    """log P(tokens | SRC[0]) by the full (uncached) forward pass, pad masked as in decoding."""
    tgt = jnp.asarray([tokens], jnp.int32)
    logits = decode.no_pad(jf.apply(PARAMS, SRC[:1], tgt, config=CFG), CFG)
    logp = jax.nn.log_softmax(logits)[0]
    return float(sum(logp[i, t] for i, t in enumerate(tokens)))


def test_beam_of_one_is_greedy():
    g = decode.greedy(PARAMS, SRC, config=CFG, max_len=6)
    b, _ = decode.beam_search(PARAMS, SRC, config=CFG, beam_size=1, max_len=6)
    np.testing.assert_array_equal(b[:, 0], g)


def test_wide_beam_finds_the_exhaustive_optimum():
    L, alpha = 4, 0.6
    words = [2, 3, 4, 5]
    candidates = []
    for n in range(1, L + 1):  # finished: n-1 words then EOS
        for body in itertools.product(words, repeat=n - 1):
            seq = list(body) + [EOS]
            candidates.append((seq_logp(seq) / float(decode.length_penalty(jnp.asarray(n), alpha)), seq))
    for body in itertools.product(words, repeat=L):  # never finished: scored at length L
        candidates.append((seq_logp(list(body)) / float(decode.length_penalty(jnp.asarray(L), alpha)), list(body)))
    best_score, best_seq = max(candidates)
    tokens, scores = decode.beam_search(PARAMS, SRC[:1], config=CFG, beam_size=64, alpha=alpha, max_len=L)
    assert float(scores[0, 0]) == pytest.approx(best_score, abs=1e-4)
    got = [int(t) for t in tokens[0, 0]]
    assert got[:len(best_seq)] == best_seq and not any(got[len(best_seq):])
    ranked = sorted((s for s, _ in candidates), reverse=True)[:4]
    np.testing.assert_allclose(np.asarray(scores[0, :4]), ranked, atol=1e-4)


def test_cached_decoding_equals_uncached_greedy():
    out = np.asarray(decode.greedy(PARAMS, SRC, config=CFG, max_len=7))
    for b in range(SRC.shape[0]):
        prefix = []
        for _ in range(7):
            tgt = jnp.asarray([prefix + [0]], jnp.int32)
            logits = decode.no_pad(jf.apply(PARAMS, SRC[b:b + 1], tgt, config=CFG), CFG)
            token = int(jnp.argmax(logits[0, len(prefix)]))
            prefix.append(token)
            if token == EOS:
                break
        np.testing.assert_array_equal(out[b, :len(prefix)], prefix)
        assert not out[b, len(prefix):].any()


def test_length_penalty_and_the_plus_fifty_rule():
    assert float(decode.length_penalty(jnp.asarray(1), 0.6)) == pytest.approx(1.0)
    assert float(decode.length_penalty(jnp.asarray(10), 0.6)) == pytest.approx((15 / 6) ** 0.6)
    assert float(decode.length_penalty(jnp.asarray(7), 0.0)) == 1.0
    assert decode.max_output_length(17) == 67 and decode.max_output_length(17, 5) == 5
    tokens, scores = decode.beam_search(PARAMS, SRC, config=CFG, beam_size=2)
    assert tokens.shape == (2, 2, SRC.shape[1] + 50) and scores.shape == (2, 2)
    assert np.all(np.diff(np.asarray(scores), axis=1) <= 0)  # best first


def test_sharded_beam_search_equals_one_device():
    rng = np.random.default_rng(0)
    src = np.zeros((8, 6), np.int32)
    for i in range(8):
        n = rng.integers(1, 6)
        src[i, :n] = rng.integers(2, 6, n)
        src[i, n] = EOS
    ref_tokens, ref_scores = decode.beam_search(PARAMS, src, config=CFG, beam_size=3, max_len=8)
    mesh = sharding.make_mesh(data=8)
    p_shard = sharding.param_shardings(PARAMS, jf.logical_axes(CFG), mesh, "dp")
    with sharding.use_rules(mesh, "dp"):
        run = jax.jit(functools.partial(decode.beam_search, config=CFG, beam_size=3, max_len=8),
                      in_shardings=(p_shard, sharding.batch_sharding(mesh, "dp")))
        tokens, scores = run(jax.device_put(PARAMS, p_shard), src)
    np.testing.assert_array_equal(tokens, ref_tokens)
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-5)


def test_sampling_is_deterministic_in_its_key_and_respects_top_k():
    a = decode.sample(PARAMS, SRC, jax.random.key(0), config=CFG, max_len=6)
    b = decode.sample(PARAMS, SRC, jax.random.key(0), config=CFG, max_len=6)
    np.testing.assert_array_equal(a, b)
    draws = [decode.sample(PARAMS, SRC, jax.random.key(k), config=CFG, max_len=6) for k in range(8)]
    assert len({np.asarray(d).tobytes() for d in draws}) > 1
    cold = decode.sample(PARAMS, SRC, jax.random.key(3), config=CFG, temperature=1e-4, max_len=6)
    np.testing.assert_array_equal(cold, decode.greedy(PARAMS, SRC, config=CFG, max_len=6))
    top1 = decode.sample(PARAMS, SRC, jax.random.key(5), config=CFG, top_k=1, max_len=6)
    np.testing.assert_array_equal(top1, decode.greedy(PARAMS, SRC, config=CFG, max_len=6))


def test_learned_positions_cap_the_output_at_max_len_with_a_warning():
    cfg = jf.preset("tiny", vocab_size=6, d_model=32, d_ff=64, num_heads=4, dropout_rate=0.0, positional="learned",
                    max_len=8)
    params = jf.init(cfg, jax.random.key(3))
    for search in (lambda: decode.greedy(params, SRC, config=cfg, max_len=20),
                   lambda: decode.beam_search(params, SRC, config=cfg, beam_size=2, max_len=20)[0][:, 0]):
        with pytest.warns(UserWarning, match="output length 20 is past model.max_len=8 .* cut at 8 tokens"):
            out = search()
        assert out.shape == (2, 8)
    logits = jf.apply(params, SRC, out, config=cfg)  # the same positions, all inside the table
    assert bool(jnp.all(jnp.isfinite(logits)))


def test_the_cpu_fusion_setting_changes_no_output():
    """On the CPU greedy compiles with CPU_COMPILER_OPTIONS (dots not fused with the reductions
    after them; beam search keeps XLA's defaults); that must be a speed setting only: the same
    tokens, and scores equal up to the summation order of other matmul kernels."""
    cfg = jf.preset("tiny", vocab_size=300, d_model=32, d_ff=64, num_heads=4, dropout_rate=0.0)
    params = jf.init(cfg, jax.random.key(3))
    src = jnp.asarray(np.random.default_rng(0).integers(2, 300, size=(8, 9)), jnp.int32)
    for search, kw in ((decode.greedy, {}), (decode.beam_search, dict(beam_size=3))):
        tuned = search(params, src, config=cfg, max_len=10, **kw)
        plain = search.plain(params, src, config=cfg, max_len=10, **kw)
        tokens, plain_tokens = (x[0] if isinstance(x, tuple) else x for x in (tuned, plain))
        np.testing.assert_array_equal(tokens, plain_tokens)
        if isinstance(tuned, tuple):
            np.testing.assert_allclose(tuned[1], plain[1], rtol=1e-6)


@pytest.mark.parametrize("beams,vocab,n", [(4, 50, 8), (3, 5, 6), (2, 3, 4)])
def test_top_continuations_pick_what_one_top_k_over_every_continuation_picks(beams, vocab, n):
    """Per beam first, then across beams: the same candidates in the same order, ties included
    (integer log-probabilities tie everywhere; a beam far behind stands for a first step's empty ones)."""
    rng = np.random.default_rng(0)
    logp = jnp.asarray(-rng.integers(0, 4, size=(3, beams, vocab)), jnp.float32)
    alive = jnp.asarray(-rng.integers(0, 3, size=(3, beams)), jnp.float32).at[0, 1:].set(-100.0)
    flat_logp, flat_idx = jax.lax.top_k((alive[..., None] + logp).reshape(3, beams * vocab), n)
    beam_logp, beam_token = decode.vocab_top_k(logp, min(n, vocab))
    top_logp, beam, token = decode.top_continuations(alive, beam_logp, beam_token, n)
    np.testing.assert_array_equal(top_logp, flat_logp)
    np.testing.assert_array_equal(beam, flat_idx // vocab)
    np.testing.assert_array_equal(token, flat_idx % vocab)


def test_decode_step_on_layers_sliced_once_equals_slicing_each_step():
    memory, valid = jf.encode(PARAMS, SRC, config=CFG)
    cache = jf.init_cache(CFG, 2, 4, PARAMS, memory)
    layers = jf.decoder_layers(PARAMS, CFG)
    assert len(layers) == CFG.num_decoder_layers
    tokens = jnp.zeros((2,), jnp.int32)
    a, cache_a = jf.decode_step(PARAMS, cache, tokens, None, valid, config=CFG)
    b, cache_b = jf.decode_step(PARAMS, cache, tokens, None, valid, config=CFG, layers=layers)
    np.testing.assert_array_equal(a, b)
    jax.tree.map(np.testing.assert_array_equal, cache_a, cache_b)
    # The layers are the ones passed, not the stack: other weights give other logits.
    other = jf.decoder_layers(jf.init(CFG, jax.random.key(8)), CFG)
    c, _ = jf.decode_step(PARAMS, cache, tokens, None, valid, config=CFG, layers=other)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("shape,k", [((3, 5000), 8), ((2, 4, 58101), 8), ((128, 4099), 1), ((2, 300), 3)])
def test_two_stage_top_k_equals_lax_top_k_with_ties_and_infinities(shape, k):
    rng = np.random.default_rng(1)
    x = np.round(rng.normal(size=shape) * 2) / 2  # few distinct values: ties everywhere
    x[..., 0] = -np.inf  # the masked pad id
    x[..., -3:] = np.max(x) + 1  # the best entries in the last, padded chunk
    x = jnp.asarray(x, jnp.float32)
    values, index = jax.jit(decode.vocab_top_k, static_argnums=1)(x, k)
    ref_values, ref_index = jax.lax.top_k(x, k)
    np.testing.assert_array_equal(values, ref_values)
    np.testing.assert_array_equal(index, ref_index)


@pytest.mark.parametrize("search", ["greedy", "beam"])
def test_a_cache_grown_in_stages_decodes_as_one_as_wide_as_the_bound(search, monkeypatch):
    """stage_ends(40) = [32, 40]; with first=4 there are five stages, with first=64 one. No output
    ends (an EOS id outside the vocabulary), so every stage runs."""
    assert decode.stage_ends(40) == [32, 40] and decode.stage_ends(20) == [20]
    run = {"greedy": lambda: decode.greedy(PARAMS, SRC, config=CFG, max_len=40, eos_id=99),
           "beam": lambda: decode.beam_search(PARAMS, SRC, config=CFG, beam_size=3, max_len=40, eos_id=99)[0]}[search]
    stage_ends, outs = decode.stage_ends, {}
    for first in (4, 32, 64):
        monkeypatch.setattr(decode, "stage_ends", functools.partial(stage_ends, first=first))
        jax.clear_caches()  # the searches are traced again with this staging
        outs[first] = np.asarray(run())
    jax.clear_caches()
    np.testing.assert_array_equal(outs[4], outs[64])
    np.testing.assert_array_equal(outs[32], outs[64])
    assert (outs[64][..., -1] != 0).all()  # every output ran to the bound


@pytest.mark.parametrize("V,k", [(58101, 8), (5000, 6), (300, 8), (5, 5)])
@pytest.mark.parametrize("pad_in_norm", [False, True])
def test_top_log_probs_equal_the_top_k_of_the_whole_log_softmax(V, k, pad_in_norm):
    """The "t2t" (pad out of the normaliser) and "hf" (pad masked after the softmax) log-probabilities
    of the best k tokens, from logits only; a row of one finite logit stands for a forced EOS."""
    rng = np.random.default_rng(2)
    pad = V - 1 if V > 300 else 0  # opus-mt's pad is its last id, ours the first
    logits = np.round(rng.normal(size=(4, V)) * 3, 1)  # ties
    logits[1, pad] = logits[1].max() + 2  # the best logit is the pad's
    logits[2] = -np.inf
    logits[2, 2] = 0.0
    logits = jnp.asarray(logits, jnp.float32)
    is_pad = (jnp.arange(V) == pad)[None]
    if pad_in_norm:
        ref = jnp.where(is_pad, -jnp.inf, jax.nn.log_softmax(logits))
    else:
        ref = jax.nn.log_softmax(jnp.where(is_pad, -jnp.inf, logits))
    ref_logp, ref_token = jax.lax.top_k(ref, k)
    logp, token = jax.jit(decode.top_log_probs, static_argnums=1, static_argnames=("pad_id", "pad_in_norm"))(
        logits, k, pad_id=pad, pad_in_norm=pad_in_norm)
    np.testing.assert_array_equal(token, ref_token)
    np.testing.assert_allclose(logp, ref_logp, rtol=1e-6, atol=1e-6)
    assert (token[:, 0] != pad).all() and logp[2, 0] == 0.0
