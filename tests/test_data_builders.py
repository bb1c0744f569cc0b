"""The local-files builder (small files written here), the WMT path through tfds' mock data,
and every bad input's error. No TensorFlow is imported."""

import sys
from pathlib import Path

import pytest

from jaxformer.config import ConfigError
from jaxformer.data import builders


def write(prefix: Path, lang: str, lines, raw: bytes | None = None):
    path = Path(f"{prefix}.{lang}")
    path.write_bytes(raw if raw is not None else ("\n".join(lines) + "\n").encode())
    return path


@pytest.fixture
def corpus(tmp_path):
    d = tmp_path / "corpus"
    d.mkdir()
    write(d / "train", "en", ["a small cat", "", "the dog", "x" * 50, "a house"])
    write(d / "train", "de", ["eine kleine Katze", "leer", "der Hund", "y" * 50, "ein Haus"])
    write(d / "test", "en", ["hello", "", "world"])
    write(d / "test", "de", ["hallo", "", "Welt"])
    return d


def test_local_files_are_prepared_once_and_read_in_order(corpus, tmp_path):
    files = {"train": [str(corpus / "train")], "test": [str(corpus / "test")]}
    sources, skipped = builders.parallel_text("toy", tmp_path / "data", source_lang="en", target_lang="de",
                                              files=files, max_chars=40)
    assert skipped == {"train": {"empty": 1, "too_long": 1}, "test": {"empty": 0, "too_long": 0}}
    train = sorted((ex["index"], ex["en"], ex["de"]) for ex in (sources["train"][i] for i in range(len(sources["train"]))))
    assert train == [(0, b"a small cat", b"eine kleine Katze"), (2, b"the dog", b"der Hund"), (4, b"a house", b"ein Haus")]
    test = sorted((ex["index"], ex["en"]) for ex in (sources["test"][i] for i in range(3)))
    assert test == [(0, b"hello"), (1, b""), (2, b"world")]  # evaluation keeps every line
    assert "tensorflow" not in sys.modules
    # A second call reuses the prepared data; changing a file makes a new build.
    again, _ = builders.parallel_text("toy", tmp_path / "data", source_lang="en", target_lang="de",
                                      files=files, max_chars=40)
    assert len(again["train"]) == 3
    write(corpus / "train", "en", ["a small cat", "b", "the dog", "x", "a house"])
    changed, skipped = builders.parallel_text("toy", tmp_path / "data", source_lang="en", target_lang="de",
                                              files=files, max_chars=40)
    assert len(changed["train"]) == 4 and skipped["train"] == {"empty": 0, "too_long": 1}


@pytest.mark.parametrize("case, message", [
    ("missing", r"missing file .*nope\.en"),
    ("mismatch", r"train\.en has 5 lines but .*train\.de has 4; parallel files must match"),
    ("utf8", r"train\.de line 2 is not valid UTF-8 \(byte 0xe4\)"),
])
def test_bad_input_gets_a_one_line_error_and_builds_nothing(corpus, tmp_path, case, message):
    prefix = corpus / "train"
    if case == "missing":
        prefix = corpus / "nope"
    elif case == "mismatch":
        write(prefix, "de", ["a", "b", "c", "d"])
    else:
        write(prefix, "de", [], raw="eins\nzw\xe4i\n".encode("latin1") + b"drei\nvier\nf\n")
    data = tmp_path / "data"
    with pytest.raises(ConfigError, match=message) as info:
        builders.parallel_text("bad", data, source_lang="en", target_lang="de", files={"train": [str(prefix)]})
    assert "\n" not in str(info.value)
    assert not list(data.glob("parallel_text/*/1.0.0/*.array_record*"))


def test_wmt_direction_and_missing_tensorflow(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="no WMT dataset for wmt14 en-ja"):
        builders.wmt("wmt14", "en", "ja", tmp_path)
    with pytest.raises(ConfigError, match="is not prepared under"):
        builders.wmt("wmt14", "en", "de", tmp_path, download=False)
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # as if the `wmt` extra were absent
    with pytest.raises(ConfigError, match=r"building wmt14_translate/de-en needs TensorFlow: pip install 'jaxformer\[wmt\]'"):
        builders.wmt("wmt14", "en", "de", tmp_path)


def test_wmt_reads_through_tfds_data_source_with_mock_data(tmp_path):
    """The WMT path asks `tfds.data_source` for the right builder and keeps both languages; tfds'
    WMT builder code needs TensorFlow, so without it a stand-in of the same name and features
    is registered for the mock."""
    import tensorflow_datasets as tfds

    if "wmt14_translate" not in tfds.list_builders(with_community_datasets=False):
        class Wmt14Translate(tfds.core.GeneratorBasedBuilder):  # noqa: F841  (registered by name)
            VERSION = tfds.core.Version("1.0.0")
            BUILDER_CONFIGS = [tfds.core.BuilderConfig(name="fr-en"), tfds.core.BuilderConfig(name="de-en")]

            def _info(self):
                a, b = self.builder_config.name.split("-")
                return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(
                    {a: tfds.features.Text(), b: tfds.features.Text()}))

            def _split_generators(self, dl_manager):
                return {s: self._generate_examples() for s in ("train", "validation", "test")}

            def _generate_examples(self):
                yield from ()

    with tfds.testing.mock_data(num_examples=7, policy=tfds.testing.MockPolicy.USE_CODE):
        sources = builders.wmt("wmt14", "en", "fr", tmp_path)
        assert len(sources["train"]) == 7
        ex = sources["validation"][3]
        assert set(ex) == {"en", "fr"} and isinstance(ex["en"], (str, bytes))


SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora"


@pytest.mark.skipif(not (SHARED / "multi30k").is_dir(), reason="../shared/corpora is absent")
def test_multi30k_from_the_shared_corpora(tmp_path):
    m = SHARED / "multi30k"
    files = {"train": [str(m / "train")], "validation": [str(m / "val")], "test": [str(m / "test_2016_flickr")]}
    sources, skipped = builders.parallel_text("multi30k", tmp_path, source_lang="en", target_lang="de", files=files)
    assert {k: len(v) for k, v in sources.items()} == {"train": 29000, "validation": 1014, "test": 1000}
    assert skipped["train"] == {"empty": 0, "too_long": 0}
    first = min((sources["test"][i] for i in range(1000)), key=lambda ex: ex["index"])
    assert first["de"].decode() == (m / "test_2016_flickr.de").read_text(encoding="utf-8").splitlines()[0]
