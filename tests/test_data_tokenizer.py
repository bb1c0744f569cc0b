import json

import numpy as np
import pytest

from jaxformer.config import ConfigError
from jaxformer.data.tokenizer import EOS_ID, PAD_ID, Tokenizer, TokenizerConfig, train_or_load

CORPUS = [f"the {a} {n} sees {k} small {n}s ." for a in ("red", "blue", "green", "old") for n in
          ("cat", "dog", "house", "tree", "car") for k in ("two", "three", "many")]
CORPUS += [f"die {a} {n} sieht {k} kleine {n}en ." for a in ("rote", "blaue", "alte") for n in
           ("Katze", "Hund", "Haus") for k in ("zwei", "drei")]


def texts():
    return iter(CORPUS)


def test_round_trip_with_eos_and_special_ids(tmp_path):
    tok = train_or_load(tmp_path, texts, TokenizerConfig(vocab_size=60))
    ids = tok.encode("the red cat sees two small dogs .")
    assert ids.dtype == np.int32 and ids[-1] == EOS_ID and PAD_ID not in ids
    assert tok.decode(ids) == "the red cat sees two small dogs ."
    assert tok.decode(list(ids) + [PAD_ID, 7, 8]) == "the red cat sees two small dogs ."  # stops at EOS
    assert tok.vocab_size == 60
    assert "".join(tok.pieces(ids[:-1])).replace("\u2581", " ").strip() == "the red cat sees two small dogs ."
    assert [list(x) for x in tok.encode_batch(["the cat", "die Katze"])] == [list(tok.encode("the cat")), list(tok.encode("die Katze"))]


def test_cached_when_options_match_and_rebuilt_when_they_change(tmp_path):
    calls = []

    def counted():
        calls.append(1)
        return texts()

    a = train_or_load(tmp_path, counted, TokenizerConfig(vocab_size=60))
    b = train_or_load(tmp_path, counted, TokenizerConfig(vocab_size=60))
    assert len(calls) == 1 and a.model_proto == b.model_proto
    assert json.loads((tmp_path / "tokenizer.json").read_text())["vocab_size"] == 60
    c = train_or_load(tmp_path, counted, TokenizerConfig(vocab_size=50, model_type="unigram"))
    assert len(calls) == 2 and c.vocab_size == 50
    assert Tokenizer.load(tmp_path / "tokenizer.model").vocab_size == 50


def test_vocabulary_too_large_names_the_size_that_fits(tmp_path):
    with pytest.raises(ConfigError, match=r"vocab_size=5000 is too large for this corpus; the largest size that fits is \d+"):
        train_or_load(tmp_path, texts, TokenizerConfig(vocab_size=5000, model_type="unigram"))
    assert not (tmp_path / "tokenizer.model").exists()


def test_bad_options_and_missing_model(tmp_path):
    with pytest.raises(ConfigError, match="model_type='wordpiece'"):
        TokenizerConfig(model_type="wordpiece")
    with pytest.raises(ConfigError, match="does not exist"):
        Tokenizer.load(tmp_path / "nope.model")
