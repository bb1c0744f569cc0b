"""Batching: packing, token-budget buckets and evaluation batches; shapes, contents, checkpoints."""

import json

import grain
import numpy as np
import pytest

from jaxformer.data import batching as B

LENGTH = 24  # packing / eval row length
BOUNDS = (8, 16, 24)
TOKENS = 256  # bucket shapes: (32, 8), (16, 16), (8, 24)


def examples(n: int, seed: int = 0, max_len: int = 20, index: bool = False) -> list[dict]:
    """Examples whose first input token is 1 + their id, so that any output can be traced back."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        s, t = rng.integers(1, max_len + 1, size=2)
        inputs = rng.integers(1, 50, size=s).astype(np.int32)
        inputs[0] = i + 1
        ex = {"inputs": inputs, "targets": rng.integers(1, 50, size=t).astype(np.int32)}
        if index:
            ex["index"] = 100 + i
        out.append(ex)
    return out


def source(exs: list[dict]) -> grain.IterDataset:
    """In memory: no reader threads (fast, deterministic)."""
    return grain.MapDataset.source(exs).to_iter_dataset(grain.ReadOptions(num_threads=0, prefetch_buffer_size=0))


def ident(pair) -> int:
    return int(pair[0][0]) - 1


def assert_same_example(pair, ex) -> None:
    np.testing.assert_array_equal(pair[0], ex["inputs"])
    np.testing.assert_array_equal(pair[1], ex["targets"])


def assert_same_batches(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for k in x:
            np.testing.assert_array_equal(x[k], y[k], err_msg=k)


# ------------------------------------------------------------------------------------------- packing


def test_pack_round_trip_keeps_every_example_batch_by_batch():
    exs = examples(200)
    batches = list(B.pack_batches(source(exs), batch_size=4, length=LENGTH))
    seen = []
    for batch in batches:
        pairs = B.unpack(batch)
        for pair in pairs:
            assert_same_example(pair, exs[ident(pair)])
        seen += sorted(ident(p) for p in pairs)  # first-fit may reorder inside a batch only
    assert seen == list(range(len(exs)))


def test_pack_shapes_and_segment_fields():
    batches = list(B.pack_batches(source(examples(200, seed=1)), batch_size=4, length=LENGTH))
    keys = {f"{k}{s}" for k in ("inputs", "targets") for s in ("", "_segmentation", "_position")}
    for batch in batches:
        assert batch.keys() == keys
        for k, v in batch.items():
            assert v.shape == (4, LENGTH) and v.dtype == np.int32, k
        for k in ("inputs", "targets"):
            for tok, seg, pos in zip(batch[k], batch[f"{k}_segmentation"], batch[f"{k}_position"]):
                n = np.count_nonzero(seg)
                assert (seg[n:] == 0).all() and (tok[n:] == 0).all() and (pos[n:] == 0).all()
                assert (tok[:n] != 0).all()
                if n:  # segments 1, 2, ... contiguous; positions restart at 0 in each
                    assert seg[0] == 1 and set(np.diff(seg[:n])) <= {0, 1}
                    for s in np.unique(seg[:n]):
                        np.testing.assert_array_equal(pos[seg == s], np.arange(np.sum(seg == s)))
        np.testing.assert_array_equal(batch["inputs_segmentation"].max(1), batch["targets_segmentation"].max(1))


def test_pack_completes_the_last_batch_with_pad_rows():
    exs = [{"inputs": np.full(20, i + 1, np.int32), "targets": np.full(20, 7, np.int32)} for i in range(3)]
    (batch,) = B.pack_batches(source(exs), batch_size=4, length=LENGTH)
    assert batch["inputs"].shape == (4, LENGTH)
    assert all(not v[3].any() for v in batch.values())  # 3 rows of one example each, then padding
    assert len(B.unpack(batch)) == 3


def test_pack_more_bins_still_keeps_everything():
    exs = examples(100, seed=2)
    batches = list(B.pack_batches(source(exs), batch_size=4, length=LENGTH, num_packing_bins=12))
    assert {b["inputs"].shape for b in batches} == {(4, LENGTH)}
    assert sorted(ident(p) for b in batches for p in B.unpack(b)) == list(range(len(exs)))


@pytest.mark.parametrize("side", ["inputs", "targets"])
def test_pack_over_long_example_raises(side):
    exs = examples(5)
    exs[3][side] = np.arange(1, 31, dtype=np.int32)
    with pytest.raises(ValueError, match=rf"len\({side}\)=30.*limit {LENGTH}"):
        list(B.pack_batches(source(exs), batch_size=2, length=LENGTH))


# ------------------------------------------------------------------------------------------- buckets


def test_bucket_shapes_are_fixed_and_within_budget():
    shapes = B.bucket_shapes(BOUNDS, TOKENS)
    assert shapes == [(32, 8), (16, 16), (8, 24)]
    assert B.bucket_shapes([16, 100], 256) == [(16, 16), (2, 100)]  # < 8 rows: kept as is
    for rows, bound in B.bucket_shapes([10, 30, 50, 70], 25000):
        assert rows * bound <= 25000 and rows % 8 == 0
    with pytest.raises(ValueError):
        B.bucket_shapes([16, 8], TOKENS)
    with pytest.raises(ValueError):
        B.bucket_shapes([512], TOKENS)


def test_bucket_each_example_once_in_its_smallest_bucket():
    exs = examples(300, seed=3, max_len=24)
    shapes = set(B.bucket_shapes(BOUNDS, TOKENS))
    seen = []
    for batch in B.bucket_by_tokens(source(exs), BOUNDS, TOKENS):
        assert batch.keys() == {"inputs", "targets"}
        assert batch["inputs"].shape == batch["targets"].shape and batch["inputs"].shape in shapes
        assert batch["inputs"].dtype == np.int32
        bound = batch["inputs"].shape[1]
        for pair in B.unpack(batch):
            i = ident(pair)
            assert_same_example(pair, exs[i])
            longest = max(len(exs[i]["inputs"]), len(exs[i]["targets"]))
            assert longest <= bound and min(b for b in BOUNDS if b >= longest) == bound
            seen.append(i)
    assert sorted(seen) == list(range(len(exs)))


def test_bucket_over_long_example_raises():
    exs = examples(5)
    exs[2]["targets"] = np.ones(25, np.int32)
    with pytest.raises(ValueError, match=r"len\(targets\)=25.*limit 24"):
        list(B.bucket_by_tokens(source(exs), BOUNDS, TOKENS))


# ------------------------------------------------------------------------------------------- shared


PIPELINES = {
    "pack": lambda ds: B.pack_batches(ds, batch_size=4, length=LENGTH),
    "bucket": lambda ds: B.bucket_by_tokens(ds, BOUNDS, TOKENS),
    "eval": lambda ds: B.eval_batches(ds, batch_size=8, length=LENGTH),
}


@pytest.mark.parametrize("name", list(PIPELINES))
def test_same_input_order_same_batches(name):
    exs = examples(150, seed=4)
    assert_same_batches(list(PIPELINES[name](source(exs))), list(PIPELINES[name](source(exs))))


@pytest.mark.parametrize("name", list(PIPELINES))
def test_restored_iterator_continues_at_the_next_batch(name):
    exs = examples(300, seed=5, max_len=24)
    make = PIPELINES[name]
    total = len(list(make(source(exs))))
    for k in (0, 3, total - 3, total - 1):  # start, middle, end (buckets: while flushing partial ones)
        m = min(4, total - k)
        it = iter(make(source(exs)))
        for _ in range(k):
            next(it)
        state = json.loads(json.dumps(it.get_state()))  # a state must survive a JSON checkpoint
        expected = [next(it) for _ in range(m)]
        restored = iter(make(source(exs)))
        restored.set_state(state)
        assert_same_batches([next(restored) for _ in range(m)], expected)
        if k + m == total:
            with pytest.raises(StopIteration):
                next(restored)


# ------------------------------------------------------------------------------------------- eval


def test_eval_batches_keep_every_example_in_order():
    exs = examples(21, seed=6, index=True)
    batches = list(B.eval_batches(source(exs), batch_size=8, length=LENGTH))
    assert len(batches) == 3
    for batch in batches:
        assert batch["inputs"].shape == batch["targets"].shape == (8, LENGTH)
        assert batch["index"].dtype == np.int32 and batch["valid"].dtype == np.bool_
    last = batches[-1]
    np.testing.assert_array_equal(last["valid"], [True] * 5 + [False] * 3)
    np.testing.assert_array_equal(last["index"], [116, 117, 118, 119, 120, -1, -1, -1])
    assert not last["inputs"][5:].any()
    index = np.concatenate([b["index"][b["valid"]] for b in batches])
    np.testing.assert_array_equal(index, 100 + np.arange(21))
    pairs = [p for b in batches for p in B.unpack(b)]
    assert len(pairs) == 21
    for pair, ex in zip(pairs, exs):
        assert_same_example(pair, ex)


def test_eval_batches_without_index_use_stream_position_and_reject_over_long():
    batches = list(B.eval_batches(source(examples(5)), batch_size=4, length=LENGTH))
    np.testing.assert_array_equal(np.concatenate([b["index"] for b in batches]), [0, 1, 2, 3, 4, -1, -1, -1])
    exs = examples(5, index=True)
    exs[4]["inputs"] = np.ones(40, np.int32)
    with pytest.raises(ValueError, match=r"index 104.*len\(inputs\)=40.*limit 24"):
        list(B.eval_batches(source(exs), batch_size=4, length=LENGTH))


def test_non_pad_fraction():
    batch = {"inputs": np.array([[1, 2, 0, 0], [3, 0, 0, 0]]), "targets": np.array([[1, 1, 1, 1], [1, 1, 0, 0]])}
    stats = B.non_pad_fraction([batch, batch])
    assert stats["inputs"] == pytest.approx(3 / 8) and stats["targets"] == pytest.approx(6 / 8)
    assert stats["batches"] == 2 and stats["inputs_tokens"] == 6
