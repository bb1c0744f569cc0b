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


def test_prepare_keeps_one_cached_tokenizer_per_options_and_training_split(tmp_path, monkeypatch):
    """Two configs sharing a data_dir never overwrite each other's tokenizer (or its length cache):
    switching back reuses the first one, byte for byte, without training it again."""
    from jaxformer.config import DataConfig
    from jaxformer.data import pipeline, tokenizer as tokenizer_module

    english = [line for line in CORPUS if line.startswith("the ")]
    german = [line for line in CORPUS if line.startswith("die ")]
    (tmp_path / "train.en").write_text("\n".join(english) + "\n")
    (tmp_path / "train.de").write_text("\n".join(german[i % len(german)] for i in range(len(english))) + "\n")
    trained, real = [], tokenizer_module._train
    monkeypatch.setattr(tokenizer_module, "_train", lambda texts, config: trained.append(config) or real(texts, config))
    prefix = str(tmp_path / "train")

    def prepare(tokenizer: TokenizerConfig, split: str = "train"):
        cfg = DataConfig(dataset="files", files=(("train", (prefix,)), ("again", (prefix,))), tokenizer=tokenizer,
                         data_dir=str(tmp_path / "data"), train_split=split, max_length=64, pack_length=64)
        return pipeline.prepare(cfg, log=lambda *_: None)

    first = prepare(TokenizerConfig(vocab_size=60))
    other = prepare(TokenizerConfig(vocab_size=40, model_type="unigram"))
    back = prepare(TokenizerConfig(vocab_size=60))
    assert len(trained) == 2 and back.tokenizer.model_proto == first.tokenizer.model_proto
    assert other.tokenizer.vocab_size == 40 and other.directory != first.directory == back.directory
    assert Tokenizer.load(first.directory / "tokenizer.model").model_proto == first.tokenizer.model_proto
    assert sorted(p.parent for p in (tmp_path / "data").rglob("tokenizer.model")) == sorted([first.directory,
                                                                                           other.directory])
    for prep in (first, other):
        assert len(list(prep.directory.glob("train_lengths_*.npy"))) == 1
    # The split it learns from keys it too: another split gets its own, even of the same text.
    from_again = prepare(TokenizerConfig(vocab_size=60), split="again")
    assert len(trained) == 3 and from_again.directory not in (first.directory, other.directory)
