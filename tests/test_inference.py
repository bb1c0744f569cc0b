"""Checkpoint averaging, the translate / evaluate / average commands and their bad input, and
BLEU exactly as sacreBLEU's command line computes it."""

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxformer import checkpoint, cli, evaluate, inference, train
from jaxformer.config import DataConfig, ExperimentConfig, MeshConfig, TokenizerConfig, preset
from jaxformer.data.tokenizer import train_or_load

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A workdir with three checkpoints whose parameters are all 1, 2 and 6."""
    wd = tmp_path_factory.mktemp("wd")
    words = "the a cat dog house tree red blue green sees has runs".split()
    tok = train_or_load(wd / "tok", lambda: iter(words + [w.upper() for w in words]),
                        TokenizerConfig(vocab_size=27, model_type="word"))
    shutil.copy(wd / "tok" / "tokenizer.model", wd / "tokenizer.model")
    exp = ExperimentConfig(model=preset("tiny", vocab_size=tok.vocab_size, d_model=32, d_ff=64, num_heads=4),
                           data=DataConfig(target_lang="de"), mesh=MeshConfig(data=-1))
    checkpoint.write_config(wd, exp)
    state = train.init_state(exp)
    ckpt = checkpoint.Checkpoints(wd, keep=5, best_metric=None)
    for step, value in ((1, 1.0), (2, 2.0), (3, 6.0)):
        ckpt.save(step, state.replace(params=jax.tree.map(lambda x: jnp.full_like(x, value), state.params)))
    ckpt.wait()
    ckpt.close()
    return wd


def params_of(wd, which):
    return inference.load(wd, which=which).params


def test_averaging_identical_checkpoints_is_the_identity_and_two_give_their_mean(workdir):
    inference.average_checkpoints(workdir, 1)
    jax.tree.map(lambda x: np.testing.assert_array_equal(x, 6.0), params_of(workdir, "averaged"))
    steps, _ = inference.average_checkpoints(workdir, 2)
    assert steps == [2, 3]
    jax.tree.map(lambda x: np.testing.assert_allclose(x, 4.0), params_of(workdir, "averaged"))
    assert inference.load(workdir, which="averaged").source == "average of steps [2, 3]"
    with pytest.raises(inference.ConfigError, match="has 3 checkpoint\\(s\\) .* cannot average the last 7"):
        inference.average_checkpoints(workdir, 7)


def test_decoding_options_default_to_the_runs_config(workdir, tmp_path):
    wd = tmp_path / "wd"
    shutil.copytree(workdir, wd)
    exp = checkpoint.read_config(wd)
    checkpoint.write_config(wd, dataclasses.replace(exp, train=dataclasses.replace(exp.train, test_beam_size=3,
                                                                                   beam_alpha=1.4)))
    t = inference.load(wd)
    assert (t.beam_size, t.alpha) == (3, 1.4)
    t = inference.load(wd, beam_size=1, alpha=0.6)
    assert (t.beam_size, t.alpha) == (1, 0.6)


def test_translate_keeps_input_order_and_empty_lines(workdir, tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text("the cat\n\na red dog sees the tree\nthe cat\n")
    assert cli.main(["translate", "--workdir", str(workdir), "--input", str(src), "--output", str(tmp_path / "out"),
                     "--beam-size", "2", "--batch-size", "2"]) == 0
    out = (tmp_path / "out").read_text().split("\n")
    assert len(out) == 5 and out[1] == "" and out[0] == out[3] and out[4] == ""
    # The same sentences in another order give the same translations, reordered.
    src.write_text("a red dog sees the tree\nthe cat\n")
    cli.main(["translate", "--workdir", str(workdir), "--input", str(src), "--output", str(tmp_path / "out2"),
              "--beam-size", "2", "--batch-size", "2"])
    assert (tmp_path / "out2").read_text().split("\n")[:2] == [out[2], out[0]]


@pytest.mark.parametrize("case, message", [
    ("utf8", "input line 2 is not valid UTF-8 \\(byte 0xe4\\)"),
    ("missing", "input file .*nope.txt does not exist"),
    ("empty_workdir", "has no config.json"),
    ("step", "has no checkpoint 9; it has \\[1, 2, 3\\]"),
    ("beam", "--beam-size 0 must be >= 1"),
    ("batch", "--batch-size 0 must be >= 1"),
])
def test_bad_input_is_one_line_on_stderr(workdir, tmp_path, capsys, case, message):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"gut\nzw\xe4i\n")
    args = {"utf8": ["--input", str(bad)], "missing": ["--input", str(tmp_path / "nope.txt")],
            "empty_workdir": [], "step": ["--checkpoint", "9", "--input", str(bad)],
            "beam": ["--beam-size", "0"], "batch": ["--batch-size", "0"]}[case]
    wd = tmp_path if case == "empty_workdir" else workdir
    assert cli.main(["translate", "--workdir", str(wd), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("jaxformer: error:")
    import re
    assert re.search(message, err), err


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("jaxformer: error:"), err
    return err


def listing(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


def test_average_refuses_a_bad_count_and_a_workdir_without_checkpoints_creating_nothing(workdir, tmp_path, capsys):
    before = listing(workdir)
    assert cli.main(["average", "--workdir", str(workdir), "--last", "0"]) == 2
    assert "--last 0: average at least 1 checkpoint" in one_error_line(capsys)
    assert listing(workdir) == before
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    shutil.copy(workdir / "config.json", fresh)
    assert cli.main(["average", "--workdir", str(fresh), "--last", "2"]) == 2
    assert "has no checkpoint yet; train first" in one_error_line(capsys)
    assert listing(fresh) == ["config.json"]


@pytest.mark.parametrize("case, message", [
    ("no_folder", r"--output .*/nope/out.txt: the folder .*/nope does not exist"),
    ("a_folder", r"--output .* is a directory; give a file path"),
])
def test_translate_output_is_checked_before_any_work(workdir, tmp_path, capsys, monkeypatch, case, message):
    monkeypatch.setattr(inference, "load", lambda *a, **k: pytest.fail("loaded the model before checking --output"))
    out = tmp_path / "nope" / "out.txt" if case == "no_folder" else tmp_path
    assert cli.main(["translate", "--workdir", str(workdir), "--output", str(out)]) == 2
    import re
    assert re.search(message, one_error_line(capsys))


def test_evaluate_checks_its_results_folder_before_translating(workdir, tmp_path, capsys, monkeypatch):
    wd = tmp_path / "wd"
    shutil.copytree(workdir, wd, ignore=shutil.ignore_patterns("eval"))
    (wd / "eval").write_text("not a folder")
    monkeypatch.setattr(inference.Translator, "translate", lambda *a, **k: pytest.fail("translated first"))
    (tmp_path / "src").write_text("the cat\n")
    assert cli.main(["evaluate", "--workdir", str(wd), "--source", str(tmp_path / "src"),
                     "--reference", str(tmp_path / "src")]) == 2
    err = one_error_line(capsys)
    assert "the results folder" in err and "is a file, not a folder" in err


def test_translate_works_while_a_training_run_holds_the_workdir(workdir, tmp_path):
    from jaxformer.lock import WorkdirLock
    (tmp_path / "in.txt").write_text("the cat\n")
    with WorkdirLock(workdir):
        assert cli.main(["translate", "--workdir", str(workdir), "--input", str(tmp_path / "in.txt"),
                         "--output", str(tmp_path / "out"), "--beam-size", "1"]) == 0
    assert len((tmp_path / "out").read_text().splitlines()) == 1


def test_evaluate_with_files_writes_hypotheses_and_scores(workdir, tmp_path, capsys):
    (tmp_path / "src").write_text("the cat\na dog\n")
    (tmp_path / "ref").write_text("THE CAT\nA DOG\n")
    assert cli.main(["evaluate", "--workdir", str(workdir), "--source", str(tmp_path / "src"),
                     "--reference", str(tmp_path / "ref"), "--beam-size", "1"]) == 0
    printed = capsys.readouterr().out
    assert "sacreBLEU" in printed and "tokenized BLEU" in printed
    result = json.loads((workdir / "eval" / "src.latest.beam1.json").read_text())
    assert result["sentences"] == 2 and result["checkpoint"] == "step 3" and "bleu_signature" in result
    assert len((workdir / "eval" / "src.latest.beam1.hyp").read_text().splitlines()) == 2


def test_bleu_equals_the_sacrebleu_command_line(tmp_path):
    refs = ["The cat sat on the mat.", "Das ist ein kleiner Test, oder?", "Zahlen: 3.5 und 1,000"]
    hyps = ["The cat sat on a mat.", "Das ist ein Test, oder ?", "Zahlen 3.5 und 1,000"]
    (tmp_path / "ref").write_text("\n".join(refs) + "\n")
    (tmp_path / "hyp").write_text("\n".join(hyps) + "\n")
    ours = evaluate.scores(hyps, refs)
    cmd = [sys.executable, "-m", "sacrebleu", str(tmp_path / "ref"), "-i", str(tmp_path / "hyp"), "-m", "bleu", "chrf", "-b"]
    bleu, chrf = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    assert round(ours["bleu"], 1) == bleu and round(ours["chrf"], 1) == chrf


def test_tokenized_bleu_splits_compounds_like_get_ende_bleu():
    assert evaluate.paper_tokenize("Welt-Meisterschaft 2014.", "de") == "Welt ##AT##-##AT## Meisterschaft 2014 ."
    text = ["Das ist ein kleiner Test für die Welt-Meisterschaft."]
    assert evaluate.tokenized_bleu(text, text, "de") == pytest.approx(100.0)
    # Splitting compounds makes a half-right compound earn partial credit, as in the paper's setup.
    hyp = ["Das ist ein kleiner Test für die Fußball-Meisterschaft."]
    assert 0 < evaluate.tokenized_bleu(hyp, text, "de") < 100


def test_lowercase_tokenized_bleu_ignores_case_and_tokenizes_punctuation():
    ref = ["Ein Mann fährt Fahrrad."]
    assert evaluate.lowercase_tokenized_bleu(["ein mann fährt fahrrad ."], ref, "de") == pytest.approx(100.0)
    ref = ["Ein Mann fährt mit dem Fahrrad durch den Park."]
    hyp = ["EIN MANN FÄHRT MIT DEM FAHRRAD DURCH DEN WALD."]
    assert evaluate.lowercase_tokenized_bleu(hyp, ref, "de") > 50 > evaluate.tokenized_bleu(hyp, ref, "de") == 0


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/corpora is absent")
@pytest.mark.parametrize("pair", ["en-de", "en-fr"])
def test_newstest2014_references_score_100_against_themselves(pair):
    lang = pair.split("-")[1]
    refs = (SHARED / f"newstest2014_{pair}" / f"newstest2014.{lang}").read_text(encoding="utf-8").splitlines()
    assert len(refs) == 3003
    result = evaluate.scores(refs, refs, target_lang=lang)
    assert result["bleu"] == pytest.approx(100.0) and result["tok_bleu"] == pytest.approx(100.0)
