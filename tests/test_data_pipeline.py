"""The Grain pipeline over a prepared corpus: determinism, checkpointable iterators, disjoint
per-process shards, counted length filtering, and evaluation sets that keep every example."""

import json
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from jaxformer.config import ConfigError, DataConfig, TokenizerConfig
from jaxformer.data import batching, pipeline

WORDS = "the a cat dog house tree red blue green small big sees has runs under near with one two three".split()


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    rng = np.random.default_rng(0)
    for split, n in (("train", 400), ("val", 37)):
        lines = [" ".join(rng.choice(WORDS, size=rng.integers(1, 20))) for _ in range(n)]
        lines[5] = " ".join(["cat"] * 80)  # too long in tokens for max_length below
        Path(root / f"{split}.en").write_text("\n".join(lines) + "\n")
        Path(root / f"{split}.de").write_text("\n".join(line.upper() for line in lines) + "\n")
    cfg = DataConfig(dataset="files", files=(("train", (str(root / "train"),)), ("validation", (str(root / "val"),))),
                     data_dir=str(root / "data"), tokenizer=TokenizerConfig(vocab_size=43, model_type="word"),
                     max_length=40, batch_size=8, pack_length=48, tokens_per_batch=256,
                     bucket_boundaries=(8, 16, 32, 48), eval_batch_size=8)
    return pipeline.prepare(cfg, log=lambda *_: None)


def take(it, n):
    return [next(it) for _ in range(n)]


def same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for k in x:
            np.testing.assert_array_equal(x[k], y[k])


def test_length_filter_is_counted(prepared):
    assert prepared.skipped["train"]["longer_than_max_length"] == 1
    assert len(prepared.train_keep) == 399


@pytest.mark.parametrize("mode", ["pack", "bucket"])
def test_same_seed_same_batches_and_restore_continues_exactly(prepared, mode):
    prep = dataclasses.replace(prepared, config=dataclasses.replace(prepared.config, batching=mode))
    a = take(iter(pipeline.train_batches(prep)), 12)
    it = iter(pipeline.train_batches(prep))
    same(take(it, 12), a)
    it = iter(pipeline.train_batches(prep))
    take(it, 5)
    state = json.loads(json.dumps(it.get_state()))
    expected = take(it, 7)
    fresh = iter(pipeline.train_batches(prep))
    fresh.set_state(state)
    same(take(fresh, 7), expected)
    other = dataclasses.replace(prep, config=dataclasses.replace(prep.config, seed=1))
    assert not np.array_equal(next(iter(pipeline.train_batches(other)))["inputs"], a[0]["inputs"])


def test_process_shards_are_disjoint_and_cover_an_epoch(prepared):
    n = len(prepared.train_keep)
    streams = [pipeline.train_examples(prepared, process_index=p, process_count=2) for p in range(2)]
    first_epoch = [tuple(streams[i % 2][i // 2]["inputs"].tolist()) for i in range(n)]
    tok, src = prepared.tokenizer, prepared.source("train")
    expected = [tuple(tok.encode(pipeline.text(src[int(i)]["en"])).tolist()) for i in prepared.train_keep]
    assert sorted(first_epoch) == sorted(expected)
    second_epoch = [tuple(streams[i % 2][i // 2]["inputs"].tolist()) for i in range(n, 2 * n)]
    assert sorted(second_epoch) == sorted(expected) and second_epoch != first_epoch  # reshuffled
    # Each process's batches are built from its own stream only, half of the global batch each.
    for p in range(2):
        batch = next(iter(pipeline.train_batches(prepared, process_index=p, process_count=2)))
        assert batch["inputs"].shape == (4, 48)
        head = {tuple(streams[p][i]["inputs"].tolist()) for i in range(64)}
        assert {tuple(x.tolist()) for x, _ in batching.unpack(batch)} <= head


def test_eval_set_keeps_every_example_in_input_order(prepared):
    ev = pipeline.eval_set(prepared, "validation")
    assert len(ev.sources) == 37 and len(ev.references) == 37
    assert ev.references[5] == " ".join(["CAT"] * 80)  # never filtered
    lines = Path(prepared.config.files[1][1][0] + ".de").read_text().splitlines()
    assert ev.references == lines
    indices = np.concatenate([b["index"][b["valid"]] for b in ev.batches])
    assert sorted(indices.tolist()) == list(range(37))
    for b in ev.batches:
        assert b["inputs"].shape[0] == 8 and b["inputs"].shape[1] % 16 == 0
        assert not b["inputs"][~b["valid"]].any()
    tok = prepared.tokenizer
    for b in ev.batches:
        for row, i in zip(b["inputs"][b["valid"]], b["index"][b["valid"]]):
            assert tok.decode(row) == ev.sources[i]


def test_eval_set_per_process_has_equal_batch_counts(prepared):
    parts = [pipeline.eval_set(prepared, "validation", batch_size=8, process_index=p, process_count=2) for p in range(2)]
    assert len(parts[0].batches) == len(parts[1].batches)
    idx = [np.concatenate([b["index"][b["valid"]] for b in part.batches]) for part in parts]
    assert sorted(np.concatenate(idx).tolist()) == list(range(37)) and not set(idx[0]) & set(idx[1])


def test_configuration_errors(prepared):
    with pytest.raises(ConfigError, match="split 'test' is not in this dataset"):
        pipeline.eval_set(prepared, "test")
    with pytest.raises(ConfigError, match="batch_size=8 is not divisible by the 3 processes"):
        pipeline.train_batches(prepared, process_index=0, process_count=3)
    with pytest.raises(ConfigError, match="pack_length=16 is shorter than data.max_length=40"):
        dataclasses.replace(prepared.config, pack_length=16)  # refused before any data is prepared
    with pytest.raises(ConfigError, match="data.dataset='files' needs data.files"):
        DataConfig(dataset="files")


def test_fixed_shards_make_batches_independent_of_the_process_count(prepared):
    two = dataclasses.replace(prepared, config=dataclasses.replace(prepared.config, shards=2))
    single = iter(pipeline.train_batches(two))
    per_process = [iter(pipeline.train_batches(prepared, process_index=p, process_count=2)) for p in range(2)]
    for _ in range(5):
        b, parts = next(single), [next(it) for it in per_process]
        for k in b:
            np.testing.assert_array_equal(b[k], np.concatenate([parts[0][k], parts[1][k]]))
    state = json.loads(json.dumps(single.get_state()))
    expected = take(single, 3)
    fresh = iter(pipeline.train_batches(two))
    fresh.set_state(state)
    same(take(fresh, 3), expected)


def test_bucketing_is_single_process(prepared):
    bucket = dataclasses.replace(prepared, config=dataclasses.replace(prepared.config, batching="bucket"))
    with pytest.raises(ConfigError, match="'bucket' runs in a single process"):
        pipeline.train_batches(bucket, process_index=0, process_count=2)
