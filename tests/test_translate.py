"""The one translate path: outputs in input order from length-sorted batches, independent of the
padding and of the other rows, a small fixed set of batch shapes, the loop's evaluations unchanged
(the same hypotheses as the loop's own decoding before issue 20), and `jaxformer smoke` on it."""


import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import multihost_utils

import jaxformer as jf
from jaxformer import cli, decode, export_loader, sharding, translate
from jaxformer.config import ConfigError, DataConfig, ExperimentConfig, MeshConfig, TokenizerConfig, TrainConfig
from jaxformer.data import batching, pipeline
from jaxformer.data.tokenizer import EOS_ID

WORDS = "the a cat dog house tree red blue green small big sees has runs under near with one two three".split()
MODEL = jf.preset("tiny", vocab_size=43, d_model=32, d_ff=64, num_heads=4, dropout_rate=0.0)


@pytest.fixture(scope="module")
def params():
    """Wide random weights, so that outputs vary between inputs (and are far from ties)."""
    return jax.tree.map(lambda x: x * 3.0, jf.init(MODEL, jax.random.key(0)))


def sources(rng, n, longest=12):
    out = []
    for _ in range(n):
        ids = rng.integers(3, MODEL.vocab_size, size=rng.integers(1, longest))
        out.append(np.append(ids, EOS_ID).astype(np.int32))
    return out


def test_bucket_widths_are_few_and_the_export_loader_has_the_same():
    widths = {batching.bucket_width(n) for n in range(1, 257)}
    assert widths == {16, 32, 48, 64, 128, 256}
    assert all(batching.bucket_width(n) >= n for n in range(1, 1000))
    assert all(export_loader._width(n) == batching.bucket_width(n) for n in range(1, 1000))


def test_batches_are_sorted_fixed_shape_and_cover_every_source():
    rng = np.random.default_rng(0)
    srcs = sources(rng, 11, longest=40)
    seen = []
    for rows, src in translate.batches(srcs, 4):
        assert src.shape[0] == 4 and src.shape[1] == batching.bucket_width(max(len(srcs[i]) for i in rows))
        for r, i in enumerate(rows):
            np.testing.assert_array_equal(src[r, :len(srcs[i])], srcs[i])
            assert not src[r, len(srcs[i]):].any()
        assert (src[len(rows):, 0] == EOS_ID).all() and not src[len(rows):, 1:].any()  # empty sentences
        seen += rows
    assert sorted(seen) == list(range(11)) and [len(srcs[i]) for i in seen] == sorted(len(s) for s in srcs)


@pytest.mark.parametrize("beam_size", [1, 3])
def test_outputs_come_back_in_input_order_whatever_the_padding_and_the_other_rows(params, beam_size):
    rng = np.random.default_rng(1)
    srcs = sources(rng, 9)
    search = translate.Search(beam_size=beam_size, max_decode_length=12)
    together = translate.translate_ids(params, srcs, model=MODEL, search=search, batch_size=4)
    alone = [translate.translate_ids(params, [s], model=MODEL, search=search, batch_size=4)[0] for s in srcs]
    for a, b in zip(together, alone):
        np.testing.assert_array_equal(a, b)
    assert len({a.tobytes() for a in together}) > 1  # the outputs differ between inputs
    # Padded wider (a 40-token neighbour puts the batch in the 48 bucket): the same outputs.
    long = np.append(np.full(39, 5), EOS_ID).astype(np.int32)
    wide = translate.translate_ids(params, srcs[:3] + [long], model=MODEL, search=search, batch_size=4)
    for a, b in zip(wide[:3], together[:3]):
        np.testing.assert_array_equal(a, b)


def test_text_translation_keeps_empty_lines_and_cuts_long_inputs(params, tmp_path):
    from jaxformer.data.tokenizer import train_or_load
    tok = train_or_load(tmp_path / "tok", lambda: iter(WORDS + [w.upper() for w in WORDS]),
                        TokenizerConfig(vocab_size=43, model_type="word"))
    said = []
    texts = ["the cat", "", "a red dog sees the tree " * 3, "  ", "the cat"]
    out = translate.translate(params, texts, tok, model=MODEL, search=translate.Search(max_decode_length=8),
                              batch_size=2, max_input_tokens=5, log=said.append)
    assert out[1] == out[3] == "" and out[0] == out[4] and len(out) == 5
    assert said == ["translate: 1 input line(s) longer than 5 tokens were cut (raise --max-input-tokens)"]
    cut = translate.translate(params, ["a red dog sees"], tok, model=MODEL,
                              search=translate.Search(max_decode_length=8), batch_size=2)
    assert out[2] == cut[0]  # the first 4 tokens and EOS


def test_search_of_a_run_takes_its_length_bound_and_convention():
    t = TrainConfig(test_beam_size=5, beam_alpha=1.2, max_decode_length=40, search_convention="hf", force_eos=True)
    assert translate.Search.of(t) == translate.Search(5, 1.2, 40, "hf", True)
    assert translate.Search.of(t, beam_size=1, alpha=0.6) == translate.Search(1, 0.6, 40, "hf", True)


def test_a_batch_the_mesh_cannot_split_is_one_line(params):
    mesh = sharding.make_mesh(data=-1)
    with pytest.raises(ConfigError, match="a translation batch of 6 rows cannot be split over the 8 devices"):
        translate.translate_ids(params, sources(np.random.default_rng(0), 2), model=MODEL,
                                search=translate.Search(), batch_size=6, mesh=mesh, rules="dp")


def old_translate_set(params, ev, exp, mesh, tokenizer, beam_size=1):
    """The loop's decoding of an evaluation set before issue 20 (`loop.translate_set`), kept as the
    reference: the eval set's own batches, placed per process, greedy or beam search."""
    hyps = [None] * len(ev.sources)
    for b in ev.batches:
        src = sharding.global_batch(b, mesh, exp.mesh.rules, ("inputs",))["inputs"]
        t = exp.train
        if beam_size > 1:
            out = decode.beam_search(params, src, config=exp.model, beam_size=beam_size, alpha=t.beam_alpha,
                                     max_len=t.max_decode_length, convention=t.search_convention,
                                     force_eos=t.force_eos)[0][:, 0]
        else:
            out = decode.greedy(params, src, config=exp.model, max_len=t.max_decode_length, force_eos=t.force_eos)
        out = multihost_utils.process_allgather(out, tiled=True)
        idx = multihost_utils.process_allgather(jnp.asarray(b["index"]), tiled=True)
        for row, i in zip(np.asarray(out), np.asarray(idx)):
            if i >= 0:
                hyps[int(i)] = tokenizer.decode(row)
    return [h if h is not None else "" for h in hyps]


@pytest.mark.parametrize("rules, beam_size", [("dp", 1), ("fsdp", 2)])
def test_the_loops_evaluation_translates_as_it_did_before(params, tmp_path, rules, beam_size):
    rng = np.random.default_rng(2)
    for split, n in (("train", 60), ("val", 21)):
        lines = [" ".join(rng.choice(WORDS, size=rng.integers(1, 25))) for _ in range(n)]
        (tmp_path / f"{split}.en").write_text("\n".join(lines) + "\n")
        (tmp_path / f"{split}.de").write_text("\n".join(line.upper() for line in lines) + "\n")
    data = DataConfig(dataset="files", files=(("train", (str(tmp_path / "train"),)),
                                              ("validation", (str(tmp_path / "val"),))),
                      data_dir=str(tmp_path / "data"), tokenizer=TokenizerConfig(vocab_size=43, model_type="word"),
                      max_length=40, eval_batch_size=8)
    exp = ExperimentConfig(model=MODEL, data=data, train=TrainConfig(beam_alpha=0.8),
                           mesh=MeshConfig(data=2, fsdp=2, tensor=2, rules=rules))
    prep = pipeline.prepare(data, log=lambda *_: None)
    mesh = sharding.make_mesh(2, 2, 2)
    from jaxformer import train
    shard = train.state_shardings(exp, mesh).params
    placed = jax.device_put(params, shard)
    ev = pipeline.eval_set(prep, "validation")
    with sharding.use_rules(mesh, rules):
        before = old_translate_set(placed, ev, exp, mesh, prep.tokenizer, beam_size)
    from jaxformer.validation import Evaluator
    now = Evaluator(exp, prep, mesh, lambda p, b: {k: jnp.zeros(()) for k in ("loss", "nll", "correct", "tokens")})
    hyps = translate.translate(placed, ev.sources, prep.tokenizer, model=MODEL,
                               search=translate.Search.of(exp.train, beam_size=beam_size), batch_size=8, mesh=mesh,
                               rules=rules)
    assert hyps == before and len(set(hyps)) > 1
    scores = now(placed, "validation", bleu_examples=None, beam_size=beam_size)
    assert scores["sentences"] == 21 and [h for _, h, _ in scores["examples"]] == before[:3]


def test_smoke_trains_with_the_train_step_and_decodes_with_translate(capsys):
    assert cli.main(["smoke", "--steps", "20", "--set", "batch_size=16"]) == 0
    out = capsys.readouterr().out
    assert "step   20  loss" in out and "greedy exact-copy rate on 4 new examples" in out
