"""Sampled subword segmentation of training pairs (data.subword_sampling, BPE-dropout): same text,
other pieces, redrawn each epoch, and exactly reproducible from the position in the stream, in
this process or another."""

import dataclasses
import hashlib
import json
import pickle
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jaxformer.config import ConfigError, DataConfig, TokenizerConfig
from jaxformer.data import batching, pipeline, subword_sampling as sampling
from jaxformer.data.marian_tokenizer import MarianTokenizer

SYLLABLES = "ka ro mi tan sel ber un dor lis ve pra gon hu sti mel".split()


def corpus(root, *, copy=False, model_type="bpe", rate=0.1):
    """300 pairs of made-up words; the target side reversed, or (copy) the source itself."""
    rng = np.random.default_rng(0)
    words = ["".join(rng.choice(SYLLABLES, size=rng.integers(1, 5))) for _ in range(300)]
    lines = [" ".join(rng.choice(words, size=rng.integers(2, 12))) for _ in range(300)]
    for split in ("train", "val"):
        Path(root / f"{split}.en").write_text("\n".join(lines) + "\n")
        Path(root / f"{split}.de").write_text("\n".join(line if copy else line[::-1] for line in lines) + "\n")
    cfg = DataConfig(dataset="files", files=(("train", (str(root / "train"),)), ("validation", (str(root / "val"),))),
                     data_dir=str(root / "data"), tokenizer=TokenizerConfig(vocab_size=400, model_type=model_type),
                     max_length=60, batch_size=8, pack_length=64, eval_batch_size=8, subword_sampling=rate)
    return pipeline.prepare(cfg, log=lambda *_: None)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return corpus(tmp_path_factory.mktemp("sampling"))


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(sampling, "CHUNK", 16)  # many chunk boundaries within a few batches


def with_config(prep, **changes):
    return dataclasses.replace(prep, config=dataclasses.replace(prep.config, **changes))


def take(it, n):
    return [next(it) for _ in range(n)]


def test_sampled_pairs_are_the_same_text_in_other_pieces(prepared):
    tok, n = prepared.tokenizer, len(prepared.train_keep)
    plain = pipeline.train_examples(with_config(prepared, subword_sampling=0.0))
    sampled = pipeline.train_examples(prepared)
    differ, longer = 0, 0
    for i in range(n):
        a, b = plain[i], sampled[i]
        for key in ("inputs", "targets"):
            assert tok.decode(a[key]) == tok.decode(b[key])
            assert len(b[key]) <= prepared.config.max_length
        differ += not np.array_equal(a["targets"], b["targets"])
        longer += len(b["inputs"]) - len(a["inputs"])
    assert differ > n // 2 and longer > 0  # sampling splits merges, so sequences grow
    # The next epoch visits every pair again with other draws.
    again = {tuple(sampled[i]["inputs"].tolist()) for i in range(n, 2 * n)}
    assert again != {tuple(sampled[i]["inputs"].tolist()) for i in range(n)}


def test_each_side_draws_its_own_pieces(tmp_path):
    """A pair with the same text on both sides (names, numbers, copied segments) is not cut the
    same way on both: each side has its own seed."""
    copied = corpus(tmp_path, copy=True)
    stream = pipeline.train_examples(copied)
    same = sum(np.array_equal(stream[i]["inputs"], stream[i]["targets"]) for i in range(200))
    assert same < 100


def test_a_unigram_vocabulary_samples_segmentations(tmp_path):
    prep = corpus(tmp_path, model_type="unigram", rate=0.1)  # for unigram: the smoothing alpha
    tok, stream = prep.tokenizer, pipeline.train_examples(prep)
    plain = pipeline.train_examples(with_config(prep, subword_sampling=0.0))
    assert all(tok.decode(stream[i]["targets"]) == tok.decode(plain[i]["targets"]) for i in range(100))
    assert sum(not np.array_equal(stream[i]["targets"], plain[i]["targets"]) for i in range(100)) > 30
    again = pipeline.train_examples(prep)
    assert all(np.array_equal(stream[i]["inputs"], again[i]["inputs"]) for i in range(100))


def test_draws_are_reproducible_and_a_restored_iterator_continues_exactly(prepared):
    first = take(iter(pipeline.train_batches(prepared)), 10)
    # Another sampler drawing in between must not shift this one's draws.
    a, b = iter(pipeline.train_batches(prepared)), iter(pipeline.train_batches(with_config(prepared, seed=3)))
    replay = []
    for _ in range(10):
        replay.append(next(a))
        next(b)
    for x, y in zip(first, replay):
        np.testing.assert_array_equal(x["inputs"], y["inputs"])
        np.testing.assert_array_equal(x["targets"], y["targets"])
    it = iter(pipeline.train_batches(prepared))
    take(it, 4)
    state = json.loads(json.dumps(it.get_state()))
    fresh = iter(pipeline.train_batches(prepared))
    fresh.set_state(state)
    for x, y in zip(take(it, 6), take(fresh, 6)):
        np.testing.assert_array_equal(x["targets"], y["targets"])
    assert not np.array_equal(next(iter(pipeline.train_batches(with_config(prepared, seed=3))))["inputs"],
                              first[0]["inputs"])


STREAM_DIGEST = """
import hashlib, pickle, sys
from jaxformer.data import pipeline, subword_sampling
subword_sampling.CHUNK = 16
prep = pipeline.prepare(pickle.loads(bytes.fromhex(sys.argv[1])), log=lambda *_: None)
stream = pipeline.train_examples(prep)
print(hashlib.sha256(b"".join(stream[i][k].tobytes() for i in range(100) for k in ("inputs", "targets"))).hexdigest())
"""


def test_a_new_process_draws_the_same_pieces_at_the_same_positions(prepared):
    """What a resume in a new process relies on: the stream's pieces depend only on the position."""
    stream = pipeline.train_examples(prepared)
    here = hashlib.sha256(b"".join(stream[i][k].tobytes() for i in range(100) for k in ("inputs", "targets")))
    there = subprocess.run([sys.executable, "-c", STREAM_DIGEST, pickle.dumps(prepared.config).hex()],
                           check=True, capture_output=True, text=True).stdout.strip()
    assert there == here.hexdigest()


def test_shards_sample_disjoint_parts_of_one_epoch(prepared):
    tok, n = prepared.tokenizer, len(prepared.train_keep)
    streams = [pipeline.train_examples(prepared, process_index=p, process_count=2) for p in range(2)]
    texts = sorted(tok.decode(streams[i % 2][i // 2]["inputs"]) for i in range(n))
    src = prepared.source("train")
    assert texts == sorted(pipeline.text(src[int(i)]["en"]) for i in prepared.train_keep)
    batch = next(iter(pipeline.train_batches(prepared, process_index=1, process_count=2)))
    assert batch["inputs"].shape == (4, 64) and len(batching.unpack(batch)) > 4


def test_an_imported_tokenizer_samples_each_side_with_its_own_model(prepared):
    """Fine-tuning an OPUS-MT model with sampling: its two sentencepiece models, its own ids."""
    tok = prepared.tokenizer
    vocab = {tok.pieces([i])[0]: i for i in range(tok.vocab_size)}
    marian = MarianTokenizer(tok.model_proto, tok.model_proto, vocab, pad_id=0, eos_id=1)
    lines = [pipeline.text(prepared.source("train")[i]["en"]) for i in range(40)]
    for target in (False, True):
        sampled = marian.encode_sampled_batch(lines, 0.1, random.Random(7), target=target)
        assert [marian.decode(ids) for ids in sampled] == lines
        plain = marian.encode_target_batch(lines) if target else marian.encode_batch(lines)
        assert sum(len(a) for a in sampled) > sum(len(a) for a in plain)
        again = marian.encode_sampled_batch(lines, 0.1, random.Random(7), target=target)
        assert all(np.array_equal(a, b) for a, b in zip(sampled, again))
        # Marian's ids are the same pieces as the tokenizer's own sampled ones (here one numbering).
        own = tok.encode_sampled_batch(lines, 0.1, random.Random(7), target=target)
        assert all(np.array_equal(a, b) for a, b in zip(sampled, own))


def test_bad_rates_are_refused():
    for bad in (-0.1, 1.0):
        with pytest.raises(ConfigError, match="subword_sampling"):
            DataConfig(subword_sampling=bad)
    with pytest.raises(ConfigError, match=r"^data.subword_sampling=0.1 needs a bpe or unigram vocabulary "
                                          r"\(data.tokenizer.model_type is 'word'\): set one, or"):
        DataConfig(subword_sampling=0.1, tokenizer=TokenizerConfig(model_type="word"))
