"""Property tests (hypothesis): batching keeps every token exactly once in rows of the promised
shapes without mixing examples, whatever the length distribution; the dotted-override parser
either applies a random override or refuses it with a one-line ConfigError, nothing else."""

import dataclasses

import grain
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jaxformer.config import ConfigError, ExperimentConfig, apply_overrides, from_dict, to_dict
from jaxformer.data import batching

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def corpora(draw, max_length=24):
    """(length, batch_size, examples): lengths uniform, all short, all at the limit, or mixed."""
    length = draw(st.integers(2, max_length))
    sizes = draw(st.sampled_from([st.integers(1, length), st.just(1), st.just(length),
                                  st.sampled_from([1, 2, length - 1, length])]))
    pairs = draw(st.lists(st.tuples(sizes, sizes), max_size=40))
    examples, token = [], 1
    for s, t in pairs:  # every token of the corpus is a distinct id, so each can be traced
        examples.append({"inputs": np.arange(token, token + s, dtype=np.int32),
                         "targets": np.arange(token + s, token + s + t, dtype=np.int32)})
        token += s + t
    return length, draw(st.integers(1, 6)), examples


def all_tokens(examples, key):
    return sorted(int(x) for ex in examples for x in ex[key])


@SETTINGS
@given(corpora())
def test_packing_keeps_every_token_once_in_rows_of_the_length_without_mixing(corpus):
    length, batch_size, examples = corpus
    batches = list(batching.pack_batches(grain.MapDataset.source(examples), batch_size, length))
    owner = {int(ex["inputs"][0]): ex for ex in examples}  # first input token -> its example
    seen = []
    for b in batches:
        assert all(b[k].shape == (batch_size, length) for k in b)  # no row over the length
        for k in ("inputs", "targets"):
            assert np.array_equal(b[k] != 0, b[f"{k}_segmentation"] != 0)  # padding is exactly segment 0
        for r in range(batch_size):
            for s in set(b["inputs_segmentation"][r].tolist()) - {0}:
                src = b["inputs"][r][b["inputs_segmentation"][r] == s]
                ex = owner[int(src[0])]
                # One segment is one whole example on both sides, its positions counting from 0.
                np.testing.assert_array_equal(src, ex["inputs"])
                np.testing.assert_array_equal(b["targets"][r][b["targets_segmentation"][r] == s], ex["targets"])
                np.testing.assert_array_equal(b["inputs_position"][r][b["inputs_segmentation"][r] == s],
                                              np.arange(len(src)))
                seen.append(ex)
    for k in ("inputs", "targets"):
        assert all_tokens(seen, k) == all_tokens(examples, k)  # every token kept exactly once


@SETTINGS
@given(corpora(max_length=32), st.integers(0, 3))
def test_bucketing_keeps_every_example_once_within_its_bucket_and_budget(corpus, extra):
    length, _, examples = corpus
    bounds = sorted({max(1, length // 4), max(1, length // 2), length})
    tokens_per_batch = length * (1 + extra)
    shapes = set(batching.bucket_shapes(bounds, tokens_per_batch))
    batches = list(batching.bucket_by_tokens(grain.MapDataset.source(examples), bounds, tokens_per_batch))
    for b in batches:
        assert b["inputs"].shape == b["targets"].shape and b["inputs"].shape in shapes
        assert b["inputs"].size <= tokens_per_batch
    pairs = [p for b in batches for p in batching.unpack(b)]
    key = lambda p: (p[0].tolist(), p[1].tolist())  # noqa: E731
    assert sorted(map(key, pairs)) == sorted(key((ex["inputs"], ex["targets"])) for ex in examples)


def leaf_keys(node, prefix=""):
    """Every dotted key of a config: leaves and groups."""
    out = []
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        out.append(prefix + f.name)
        if dataclasses.is_dataclass(value):
            out += leaf_keys(value, prefix + f.name + ".")
    return out


KEYS = leaf_keys(ExperimentConfig())
VALUES = ["true", "False", "none", "()", "(1, 2)", "(16, 32, 64)", "[1]", "{}", "'x'", "pre", "learned", "dp",
          "fsdp_tp", "bucket", "files", "linear_decay", "time", "1e9", "1e999", "-1", "0", "0.5", "2", "((('a',),),)",
          "(('train', ('a',)),)", "nan", "(" * 300, "1_000", "b'x'", "1j"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.sampled_from(KEYS), st.text(max_size=12)),
                          st.one_of(st.sampled_from(VALUES), st.text(max_size=12), st.integers().map(str),
                                    st.floats().map(repr))), max_size=4))
def test_overrides_are_applied_or_refused_in_one_line(pairs):
    items = [f"{k}={v}" for k, v in pairs]
    try:
        exp = apply_overrides(ExperimentConfig(), items)
    except ConfigError as e:
        assert str(e) and "\n" not in str(e)
        return
    hash(exp)  # still a frozen, hashable config ...
    assert from_dict(ExperimentConfig, to_dict(exp)) == exp  # ... that config.json gives back unchanged
    last = {}
    for item in items:
        key, _, text = item.partition("=")
        last[key.strip()] = text.strip()
    for key in ("name", "data.source_lang", "data.data_dir"):  # text fields hold their last override's text
        if key in last:
            node = exp
            for part in key.split("."):
                node = getattr(node, part)
            assert node == last[key]
