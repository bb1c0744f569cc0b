"""CTranslate2 holds the same model as jaxformer: our params written through its spec API, and an
imported Marian folder converted by its own converter, score and decode as ours do."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxformer as jf
from jaxformer import decode
from jaxformer.config import ConfigError, preset

ctranslate2 = pytest.importorskip("ctranslate2")

from experiments.benchmarks import ct2_convert  # noqa: E402

VARIANTS = {
    "paper": {},
    "pre_norm_learned_gelu": dict(norm="pre", positional="learned", activation="gelu", max_len=64),
    "separate_embeddings_silu_bias": dict(share_embeddings=False, tie_output=False, activation="silu",
                                          logits_bias=True, sinusoidal_layout="halves", scale_embedding=False),
}


def _model(variant):
    config = dataclasses.replace(preset("tiny"), vocab_size=96, num_encoder_layers=2, num_decoder_layers=2,
                                 dropout_rate=0.0, **VARIANTS[variant])
    params = jax.tree_util.tree_map(np.asarray, jf.init(config, jax.random.key(3)))
    if config.logits_bias:  # a non-zero bias, so that its conversion is tested
        params["logits_bias"] = np.random.default_rng(0).normal(0, 0.5, config.vocab_size).astype(np.float32)
    tokens = ["<pad>", "</s>", "<unk>"] + [f"w{i}" for i in range(3, config.vocab_size)]
    return config, params, tokens


def _sources(config, n=12, seed=0):
    rng = np.random.default_rng(seed)
    lens = rng.integers(2, 10, n)
    src = np.zeros((n, lens.max() + 1), np.int32)
    for i, length in enumerate(lens):
        src[i, :length] = rng.integers(3, config.vocab_size, length)
        src[i, length] = 1
    return src


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_ct2_scores_and_decodes_as_jaxformer(variant, tmp_path):
    config, params, tokens = _model(variant)
    folder = ct2_convert.save(ct2_convert.spec(config, params, tokens), tmp_path / "ct2")
    tr = ctranslate2.Translator(str(folder), device="cpu", compute_type="float32")
    src = _sources(config)
    pieces = [[tokens[t] for t in row if t] for row in src]

    # Teacher-forced log-probabilities of a target, EOS included: equal to 1e-4.
    tgt = _sources(config, seed=1)
    ours = np.asarray(jax.nn.log_softmax(jf.apply(params, jnp.asarray(src), jnp.asarray(tgt), config=config)))
    scored = tr.score_batch(pieces, [[tokens[t] for t in row if t > 1] for row in tgt])
    for i, result in enumerate(scored):
        n = int((tgt[i] > 0).sum())
        np.testing.assert_allclose(result.log_probs, ours[i, np.arange(n), tgt[i, :n]], atol=1e-4)

    # Greedy output token for token (pad banned in both, 12 steps at most).
    g = np.asarray(decode.greedy(params, jnp.asarray(src), config=config, max_len=12))
    theirs = tr.translate_batch(pieces, beam_size=1, max_decoding_length=12, suppress_sequences=[["<pad>"]])
    for row, result in zip(g.tolist(), theirs):
        row = row[:row.index(1)] if 1 in row else row
        assert [tokens[t] for t in row if t] == result.hypotheses[0]


@pytest.mark.slow  # transformers builds the folder, CTranslate2 converts it: ~110 s on 2 cores; the
# default suite checks CTranslate2 against jaxformer on three model variants above
def test_marian_folder_converted_by_ct2_decodes_as_the_import(tmp_path):
    pytest.importorskip("transformers")
    from experiments.benchmarks.marian_reference import build, sentences
    from jaxformer.pretrained import from_marian

    folder = build(tmp_path / "marian")
    ctranslate2.converters.TransformersConverter(str(folder)).convert(str(tmp_path / "ct2"))
    config, params, tok = from_marian(folder)
    ids = [tok.encode(t) for t in sentences(24, seed=5)[0]]
    src = np.zeros((len(ids), max(map(len, ids))), np.int32)
    for i, x in enumerate(ids):
        src[i, :len(x)] = x
    L = 20  # ours: L tokens, the last a forced EOS; CTranslate2: L - 1 tokens, EOS not shown
    ours = np.asarray(decode.greedy(params, jnp.asarray(src), config=config, max_len=L, force_eos=True))
    tr = ctranslate2.Translator(str(tmp_path / "ct2"), device="cpu", compute_type="float32")
    theirs = tr.translate_batch([tok.pieces(x) for x in ids], beam_size=1, max_decoding_length=L - 1)
    mine = [tok.pieces(r[:r.index(1)] if 1 in r else r) for r in ours.tolist()]
    assert mine == [r.hypotheses[0] for r in theirs]
    assert len({len(m) for m in mine}) > 3  # outputs of several lengths: most ended by EOS


def test_unsupported_models_are_refused_in_one_line():
    config, params, tokens = _model("paper")
    with pytest.raises(ConfigError, match="tokens given"):
        ct2_convert.spec(config, params, tokens[:-1])
    with pytest.raises(ConfigError, match="key_dim"):
        ct2_convert.spec(dataclasses.replace(config, key_dim=8), params, tokens)


@pytest.mark.slow
def test_the_benchmark_runs_end_to_end_in_a_reduced_size(tmp_path, monkeypatch):
    from experiments.benchmarks import ct2, common
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(ct2, "MIN_SECONDS", 0.05)
    rows = ct2.main(["--models", "multi30k", "--batches", "1", "2", "--out-len", "6", "--folder", str(tmp_path)])
    assert [r["search"] for r in rows] == ["greedy", "beam 4"] * 2
    assert all(r["same"] == f"{r['batch']}/{r['batch']}" for r in rows if r["search"] == "greedy")
    assert all(r["jax_tok_s"] > 0 and r["f32_tok_s"] > 0 and r["i8_tok_s"] > 0 for r in rows)
    assert (tmp_path / "results" / "ct2.json").is_file()


@pytest.mark.slow
def test_the_file_translation_benchmark_runs_end_to_end_in_a_reduced_size(tmp_path, monkeypatch):
    from experiments.benchmarks import common, translate_file
    if not translate_file.NEWS.is_file():
        pytest.skip(f"{translate_file.NEWS} is absent (../shared/corpora)")
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    monkeypatch.delenv("JAXFORMER_COMPILE_CACHE")  # the benchmark measures the cache
    out = translate_file.main(["--lines", "12", "--max-len", "8", "--size", "small", "--folder", str(tmp_path)])
    assert out["same_lines"] == 12  # the same weights and search give the same text
    assert out["compile_cache_files"] > 0 and set(out["runs"]) == {"jaxformer cold", "ct2 first",
                                                                   "jaxformer warm", "ct2 second"}
    assert out["compile_cache"]["jaxformer warm"].endswith(", 0 compiled")
    assert (tmp_path / "results" / "translate_file.json").is_file()
