"""The same-machine peer of issue 21 (experiments/benchmarks/peer_multi30k.py): its parsers, the
eole config of the bar, the goals, the one-line errors, and (slow) the peer end to end in
reduced size, which needs the peer's own environment (.venv-peer) and ../shared/corpora."""

import json
import math

import pytest

from experiments.benchmarks import peer_multi30k as pm

# Lines of an eole 0.6.4 training log (the first two from a run of peer_multi30k; the third made with
# eole's own format string, eole/utils/statistics.py, at a late step).
EOLE_LOG = """\
[2026-12-04 08:27:32,094 INFO]  * tgt vocab size = 4976
[2026-12-04 08:27:49,805 INFO] Step  3/1000000; acc: 0.0; ppl: 5169.99; xent: 8.55; aux: 0.000; mtp: 0.000; attn_ent: 2.640; lr: 1.17e-05; sents:     250; bsz: 1397/1534/83; 237/260 tok/s;     18 sec;
[2026-12-04 08:27:53,213 INFO] Step  6/1000000; acc: 0.0; ppl: 4938.26; xent: 8.50; aux: 0.000; mtp: 0.000; attn_ent: 2.284; lr: 2.34e-05; sents:     289; bsz: 1133/1267/96; 998/1116 tok/s;     21 sec;
[2026-12-04 09:12:01,000 INFO] Step 1650/1000000; acc: 61.3; ppl:  6.02; xent: 1.80; aux: 0.000; mtp: 0.000; attn_ent: 1.020; lr: 4.29e-04; sents:    3101; bsz: 1290/1402/62; 1180/1283 tok/s;   2698 sec;
peer_eole result: {"steps": 1652, "train_seconds": 2700.4, "budget_s": 2700.0, "stopped_by_budget": true, "threads": 2, "torch": "2.13.0+cpu"}
"""

# Records of a jaxformer workdir's metrics.jsonl (a reduced run of the committed config, trimmed).
METRICS = "\n".join(json.dumps(r) for r in [
    {"step": 0, "split": "start", "time": 1000.0, "resumed": 0.0},
    {"step": 50, "split": "train", "time": 1010.0, "loss": 7.9, "tokens_per_s": 3000.0},
    {"step": 100, "split": "train", "time": 1020.0, "loss": 6.1, "tokens_per_s": 3400.0},
    {"step": 120, "split": "train", "time": 1025.0, "loss": 5.9, "tokens_per_s": 3600.0},
    {"step": 120, "split": "eval", "time": 1030.0, "loss": 6.0, "bleu": 1.5},
    {"step": 120, "split": "test", "time": 1040.0, "bleu": 2.25, "tok_bleu": 2.0},
]) + "\n"


def test_parse_eole_log():
    windows = pm.parse_eole_log(EOLE_LOG)
    assert [w["step"] for w in windows] == [3, 6, 1650]
    assert [w["tgt_tok_s"] for w in windows] == [260.0, 1116.0, 1283.0]
    assert windows[2]["src_tok_s"] == 1180.0 and windows[2]["sec"] == 2698.0
    assert windows[2]["lr"] == pytest.approx(4.29e-4) and windows[2]["xent"] == 1.80 and windows[2]["acc"] == 61.3
    assert pm.peer_result(EOLE_LOG) == {"steps": 1652, "train_seconds": 2700.4, "budget_s": 2700.0,
                                        "stopped_by_budget": True, "threads": 2, "torch": "2.13.0+cpu"}
    with pytest.raises(pm.BenchmarkError, match="no result line"):
        pm.peer_result(EOLE_LOG.rsplit("peer_eole", 1)[0])


def test_parse_our_metrics():
    m = pm.parse_our_metrics(METRICS)
    assert m["steps"] == 120 and m["train_s"] == 25.0 and m["steps_per_s"] == pytest.approx(120 / 25)
    assert m["tgt_tok_s"] == 3400.0  # the median of the logged windows
    assert m["test_record"]["bleu"] == 2.25
    with pytest.raises(pm.BenchmarkError, match="no training steps"):
        pm.parse_our_metrics(METRICS.splitlines()[0])


def test_eole_config_holds_the_bar(tmp_path):
    cfg = pm.eole_config(tmp_path)
    assert json.loads(json.dumps(cfg)) == cfg  # peer_eole.py writes it as YAML for eole
    m, t = cfg["model"], cfg["training"]
    assert (m["layers"], m["hidden_size"], m["heads"], m["transformer_ff"]) == (3, 256, 4, 1024)
    assert m["share_embeddings"] and m["share_decoder_embeddings"] and cfg["share_vocab"]
    assert (t["optim"], t["adam_beta1"], t["adam_beta2"], t["adam_eps"]) == ("adam", 0.9, 0.98, 1e-9)
    assert (t["decay_method"], t["learning_rate"], t["warmup_steps"]) == ("noam", 0.5, 400)
    assert (t["label_smoothing"], t["dropout"], t["batch_type"], t["batch_size"]) == (0.1, [0.1], "tokens", 2048)
    assert cfg["data"]["corpus_1"]["path_src"] == str(tmp_path / "train.en.sp")


def test_pieces_round_trip(tmp_path):
    spm = pytest.importorskip("sentencepiece")
    lines = [f"Ein {a} Hund läuft über {b} Gras." for a in ("brauner", "kleiner", "großer")
             for b in ("grünes", "nasses")]
    lines += [f"A {a} dog runs across {b} grass." for a in ("brown", "small", "big") for b in ("green", "wet")]
    (tmp_path / "text").write_text("\n".join(lines) + "\n")
    spm.SentencePieceTrainer.train(input=str(tmp_path / "text"), model_prefix=str(tmp_path / "m"), vocab_size=60,
                                   hard_vocab_limit=False, minloglevel=2)
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "m.model"))
    for line in lines:
        pieces = pm.to_pieces(sp, line)
        assert "  " not in pieces and pm.from_pieces(sp, pieces) == line


def test_goals():
    slow = {"tgt_tok_s": 3400.0, "test_bleu": 38.4, "test_lc_tok_bleu": 39.0}
    assert [g.rsplit(", ", 1)[1] for g in pm.goals(slow, {"test_bleu": 34.6})] == ["met", "met"]
    assert [g.rsplit(", ", 1)[1] for g in pm.goals(slow, {"test_bleu": 35.2})] == ["met", "not met"]
    assert len(pm.goals(slow, None)) == 1 and pm.goals(None, {"test_bleu": 30.0}) == []
    fast = {"tgt_tok_s": 8300.0, "test_bleu": 38.9, "test_lc_tok_bleu": 39.25}
    (line,) = pm.goals(fast, {"test_bleu": 34.6})
    assert "tokenized" in line and line.endswith("not met")
    # The class is the config's own step as its speed rule measured it, not the faster step of the
    # settings it picked for a slower machine.
    picked = dict(slow, tgt_tok_s=4200.0, probe_tok_s=3400.0)
    assert [g.split(":")[0] for g in pm.goals(picked, None)] == ["goal (our step at 3,400 <= 4,000 target tok/s)"]


def test_speed_rule_outcome_reads_what_the_run_measured_and_chose():
    import dataclasses
    import json

    from experiments.multi30k_ende import get_config
    from jaxformer import speed_rule
    from jaxformer.config import to_dict
    exp = get_config()
    plain = dataclasses.replace(exp, speed_rule=type(exp.speed_rule)())
    assert pm.speed_rule_outcome(json.dumps(to_dict(plain))) == {"probe_tok_s": None, "settings": "as written"}
    rule = dataclasses.replace(exp.speed_rule, below_tokens_per_second=4000.0, overrides=("model.num_decoder_layers=3",))
    exp = dataclasses.replace(exp, speed_rule=rule)
    slow = pm.speed_rule_outcome(json.dumps(to_dict(speed_rule.decide(exp, 3400.0))))
    assert slow == {"probe_tok_s": 3400.0, "settings": "model.num_decoder_layers=3"}
    fast = pm.speed_rule_outcome(json.dumps(to_dict(speed_rule.decide(exp, 7000.0))))
    assert fast == {"probe_tok_s": 7000.0, "settings": "as written"}


def test_our_overrides_parse(tmp_path):
    import argparse

    from experiments.multi30k_ende import get_config
    from jaxformer.config import apply_overrides
    a = argparse.Namespace(budget=30.0, corpus=pm.CORPUS, ours_set=[])
    assert pm.our_overrides(a, pm.CORPUS) == ["train.max_train_seconds=30"]
    exp = apply_overrides(get_config(), pm.our_overrides(a, tmp_path))
    assert exp.train.max_train_seconds == 30
    assert dict(exp.data.files)["validation"] == (str(tmp_path / "val"),)
    a = argparse.Namespace(budget=2700.0, corpus=pm.CORPUS, ours_set=["train.seed=1", "data.seed=1"])
    sets = pm.our_overrides(a, pm.CORPUS)
    assert sets == ["train.max_train_seconds=2700", "train.seed=1", "data.seed=1"]
    exp = apply_overrides(get_config(), sets)
    assert (exp.train.seed, exp.data.seed) == (1, 1) and exp.train.max_train_seconds == 2700


def test_one_line_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        pm.main(["--corpus", str(tmp_path / "nowhere"), "--folder", str(tmp_path / "run")])
    assert str(e.value).startswith("peer_multi30k: error: the Multi30k corpus is not at") and "\n" not in str(e.value)
    for split in ("train", "val", "test_2016_flickr"):
        for lang in ("en", "de"):
            (tmp_path / f"{split}.{lang}").write_text("a\n")
    with pytest.raises(SystemExit) as e:
        pm.main(["--corpus", str(tmp_path), "--peer-python", str(tmp_path / "no-python"),
                 "--folder", str(tmp_path / "run")])
    assert str(e.value).startswith("peer_multi30k: error: cannot run the peer's Python") and "\n" not in str(e.value)
    assert not (tmp_path / "run").exists()  # nothing started
    for extra, start in ((["--ours-set", "train.sed=1", "--tag", "t"], "--ours-set: unknown config key 'train.sed'"),
                         (["--ours-set", "train.seed", "--tag", "t"], "--ours-set: override 'train.seed' is not"),
                         (["--ours-set", "train.seed=1"], "other seeds or --ours-set need --tag NAME"),
                         (["--seed", "1"], "other seeds or --ours-set need --tag NAME"),
                         (["--tag", "a/b"], "--tag 'a/b': use letters")):
        with pytest.raises(SystemExit) as e:
            pm.main(["--corpus", str(tmp_path), "--folder", str(tmp_path / "run"), *extra])
        message = str(e.value)
        assert message.startswith("peer_multi30k: error: " + start) and "\n" not in message, message
        assert not (tmp_path / "run").exists()


def _peer_or_skip() -> None:
    if not pm.CORPUS.is_dir():
        pytest.skip(f"{pm.CORPUS} is absent (../shared/corpora)")
    if not pm.PEER_PYTHON.is_file():
        pytest.skip(f"the peer environment {pm.PEER_PYTHON} is absent (experiments/benchmarks/README.md)")
    try:
        pm.peer_versions(pm.PEER_PYTHON)
    except pm.BenchmarkError as e:
        pytest.skip(str(e))


@pytest.mark.slow
def test_peer_end_to_end_reduced(tmp_path):
    """eole trains for 20 s on 1,000 pairs, translates 10 sentences of test and val; the table holds
    real scores and the updates eole made (under a minute on 2 idle cores; a log window every
    update, since a loaded machine may fit only one or two in the budget)."""
    _peer_or_skip()
    out = pm.main(["--only", "peer", "--train-lines", "1000", "--eval-lines", "10", "--budget", "20",
                   "--report-every", "1", "--folder", str(tmp_path), "--tag", "seed1234"])
    (row,) = out["rows"]
    assert row["system"] == "eole 0.6.4" and row["steps"] > 0 and row["steps_per_s"] > 0 and row["tgt_tok_s"] > 0
    assert row["train_s"] >= 20 and row["cpu"] is not None
    for split in ("test", "val"):
        assert isinstance(row[f"{split}_bleu"], float) and math.isfinite(row[f"{split}_bleu"])
        assert len((tmp_path / "peer" / f"{split}.hyp").read_text().splitlines()) == 10
    saved = json.loads((tmp_path / "peer_multi30k_seed1234.json").read_text())
    assert out["path"] == str(tmp_path / "peer_multi30k_seed1234.json")
    assert saved["reduced"] and saved["rows"][0]["steps"] == row["steps"]
