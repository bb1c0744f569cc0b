"""Resuming with other data options: a workdir whose checkpoints were trained (steps > 0) refuses
every data option that changes what its ids mean or which batch comes next, in one line naming
each option, before config.json is rewritten; evaluation-only options may change, and so may all
of them for an imported model (step 0 only). The workdir's tokenizer is never replaced by another
one under trained checkpoints."""

import re

import pytest

from jaxformer import checkpoint
from jaxformer.config import ConfigError, DataConfig, ExperimentConfig, TokenizerConfig, apply_overrides
from jaxformer.data.marian_tokenizer import MarianTokenizer
from jaxformer.data.tokenizer import Tokenizer, load_from_workdir, save_to_workdir, train_or_load

EXP = ExperimentConfig(data=DataConfig(
    dataset="files", files=(("train", ("/corpus/train",)),), max_length=16, batch_size=8, pack_length=32,
    tokenizer=TokenizerConfig(vocab_size=43, model_type="word")))
BUCKETED = apply_overrides(EXP, ["data.batching=bucket", "data.bucket_boundaries=(8, 16)", "data.tokens_per_batch=64"])
PRETRAINED = apply_overrides(EXP, ["data.tokenizer.pretrained=/models/opus/tokenizer"])


def workdir_at(tmp_path, exp, step):
    """A workdir holding `exp`'s config.json and a checkpoint folder of `step` (all the check reads)."""
    checkpoint.write_config(tmp_path, exp)
    (tmp_path / "checkpoints" / str(step)).mkdir(parents=True)
    return tmp_path


def refusal(workdir, diff: str) -> str:
    return (f"{workdir} holds checkpoints trained on other data ({diff}): the token ids or the order of batches "
            "would change under them; resume with the values they were trained with (`jaxformer train --workdir` "
            "without --config continues with them) or use a new --workdir")


@pytest.mark.parametrize("base, override, diff", [
    (EXP, "data.tokenizer.vocab_size=40", "data.tokenizer.vocab_size: 43 there, 40 here"),
    (EXP, "data.tokenizer.model_type=bpe", "data.tokenizer.model_type: 'word' there, 'bpe' here"),
    (EXP, "data.tokenizer.character_coverage=0.99", "data.tokenizer.character_coverage: 1.0 there, 0.99 here"),
    (EXP, "data.tokenizer.max_training_sentences=1000",
     "data.tokenizer.max_training_sentences: 2000000 there, 1000 here"),
    (EXP, "data.tokenizer.byte_fallback=true", "data.tokenizer.byte_fallback: False there, True here"),
    (EXP, "data.tokenizer.pretrained=/m/tok", "data.tokenizer.pretrained: '' there, '/m/tok' here"),
    (PRETRAINED, "data.tokenizer.pretrained=/m/other",
     "data.tokenizer.pretrained: '/models/opus/tokenizer' there, '/m/other' here"),
    (EXP, "data.dataset=synthetic", "data.dataset: 'files' there, 'synthetic' here"),
    (EXP, "data.files=(('train', ('/corpus/v2',)),)",
     "data.files: (('train', ('/corpus/train',)),) there, (('train', ('/corpus/v2',)),) here"),
    (EXP, "data.source_lang=fr", "data.source_lang: 'en' there, 'fr' here"),
    (EXP, "data.target_lang=fr", "data.target_lang: 'de' there, 'fr' here"),
    (EXP, "data.train_split=dev", "data.train_split: 'train' there, 'dev' here"),
    (EXP, "data.max_length=12", "data.max_length: 16 there, 12 here"),
    (EXP, "data.max_chars=500", "data.max_chars: 1000 there, 500 here"),
    (EXP, "data.batching=bucket", "data.batching: 'pack' there, 'bucket' here"),
    (EXP, "data.batch_size=16", "data.batch_size: 8 there, 16 here"),
    (EXP, "data.pack_length=64", "data.pack_length: 32 there, 64 here"),
    (EXP, "data.shards=2", "data.shards: 0 there, 2 here"),
    (EXP, "data.seed=1", "data.seed: 0 there, 1 here"),
    (PRETRAINED, "data.subword_sampling=0.1", "data.subword_sampling: 0.0 there, 0.1 here"),  # word: refused
    (BUCKETED, "data.tokens_per_batch=128", "data.tokens_per_batch: 64 there, 128 here"),
    (BUCKETED, "data.bucket_boundaries=(8, 12, 16)", "data.bucket_boundaries: (8, 16) there, (8, 12, 16) here"),
])
def test_each_data_option_that_shapes_training_is_refused_in_one_line(tmp_path, base, override, diff):
    workdir = workdir_at(tmp_path, base, 12)
    before = (workdir / "config.json").read_bytes()
    with pytest.raises(ConfigError) as e:
        checkpoint.write_config(workdir, apply_overrides(base, [override]))
    assert str(e.value) == refusal(workdir, diff)
    assert (workdir / "config.json").read_bytes() == before


def test_several_changes_are_named_together(tmp_path):
    workdir = workdir_at(tmp_path, EXP, 3)
    with pytest.raises(ConfigError, match=re.escape(refusal(workdir, "data.shards: 0 there, 2 here; "
                                                                     "data.tokenizer.vocab_size: 43 there, 40 here"))):
        checkpoint.write_config(workdir, apply_overrides(EXP, ["data.tokenizer.vocab_size=40", "data.shards=2"]))


@pytest.mark.parametrize("base, overrides", [
    (EXP, ["data.data_dir=/elsewhere", "data.eval_split=dev", "data.test_split=newstest", "data.eval_batch_size=7"]),
    (EXP, ["data.tokens_per_batch=2048", "data.bucket_boundaries=(8, 32)"]),  # bucketing's sizes, unused by pack
    (BUCKETED, ["data.batch_size=3", "data.pack_length=999", "data.shards=4"]),  # packing's, unused by bucket
    (PRETRAINED, ["data.tokenizer.vocab_size=50", "data.tokenizer.model_type=bpe"]),  # unused beside a fixed one
])
def test_options_without_effect_on_training_may_change(tmp_path, base, overrides):
    workdir = workdir_at(tmp_path, base, 12)
    changed = apply_overrides(base, overrides)
    checkpoint.write_config(workdir, changed)
    assert checkpoint.read_config(workdir) == changed


def test_an_imported_model_takes_any_data_options(tmp_path):
    """Only a step-0 checkpoint (an import): fine-tuning sets its data this way."""
    workdir = workdir_at(tmp_path, PRETRAINED, 0)
    changed = apply_overrides(PRETRAINED, ["data.files=(('train', ('/ft/train',)),)", "data.max_length=12",
                                           "data.seed=3", "data.tokenizer.pretrained=/ft/tokenizer"])
    checkpoint.write_config(workdir, changed)
    assert checkpoint.read_config(workdir) == changed


CORPUS = [f"the {a} {n} sees {k} small {n}s ." for a in ("red", "blue", "green", "old") for n in
          ("cat", "dog", "house", "tree", "car") for k in ("two", "three", "many")]


@pytest.fixture(scope="module")
def two_tokenizers(tmp_path_factory):
    root = tmp_path_factory.mktemp("tok")
    return (train_or_load(root / "a", lambda: iter(CORPUS), TokenizerConfig(vocab_size=40)),
            train_or_load(root / "b", lambda: iter(CORPUS), TokenizerConfig(vocab_size=30, model_type="unigram")))


def test_the_workdir_tokenizer_is_never_replaced_under_trained_checkpoints(tmp_path, two_tokenizers):
    a, b = two_tokenizers
    workdir = tmp_path / "wd"
    (workdir / "checkpoints" / "5").mkdir(parents=True)
    save_to_workdir(a, workdir)  # the first save of a trained workdir without one: written
    save_to_workdir(Tokenizer(a.model_proto), workdir)  # the same model again: nothing to do
    with pytest.raises(ConfigError, match=r"^the tokenizer prepared for this run differs from .*/wd/tokenizer.model, "
                                          r"which the checkpoints in .*/wd were trained with \(the training text or "
                                          r"the cached tokenizer under data.data_dir changed\); resume with the data "
                                          r"it was made from, or use a new --workdir$"):
        save_to_workdir(b, workdir)
    assert (workdir / "tokenizer.model").read_bytes() == a.model_proto


def test_before_training_the_workdir_tokenizer_may_be_replaced(tmp_path, two_tokenizers):
    a, b = two_tokenizers
    (tmp_path / "checkpoints" / "0").mkdir(parents=True)  # an import's step 0
    save_to_workdir(a, tmp_path)
    save_to_workdir(b, tmp_path)
    assert (tmp_path / "tokenizer.model").read_bytes() == b.model_proto


def test_an_imported_tokenizer_is_kept_after_fine_tuning_began(tmp_path, two_tokenizers):
    a, _ = two_tokenizers
    vocab = {a.pieces([i])[0]: i for i in range(a.vocab_size)}
    marian = MarianTokenizer(a.model_proto, a.model_proto, vocab, pad_id=0, eos_id=1)
    workdir = tmp_path / "wd"
    save_to_workdir(marian, workdir)  # what import-marian writes
    (workdir / "checkpoints" / "30").mkdir(parents=True)
    same = MarianTokenizer.from_files(workdir / "tokenizer")
    save_to_workdir(same, workdir)
    assert load_from_workdir(workdir).fingerprint() == marian.fingerprint()
    with pytest.raises(ConfigError, match=r"differs from .*/wd/tokenizer, which the checkpoints"):
        save_to_workdir(a, workdir)
    with pytest.raises(ConfigError, match=r"differs from .*/wd/tokenizer, which the checkpoints"):
        save_to_workdir(MarianTokenizer(a.model_proto, a.model_proto, vocab, pad_id=0, eos_id=2), workdir)
    assert load_from_workdir(workdir).fingerprint() == marian.fingerprint()
