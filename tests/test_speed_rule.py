"""The speed rule: a fresh time-budgeted run times its step and, on a slower machine, trains the
rule's overrides; the decision is logged, recorded in config.json, kept by a resume, and the
probe's seconds count against the budget."""

import pytest

from jaxformer import checkpoint, loop, speed_rule
from jaxformer.cli import load_experiment
from jaxformer.config import ConfigError, ExperimentConfig, SpeedRule, apply_overrides, from_dict, to_dict
from jaxformer.resume import saved_progress
from test_budget import FakeClock
from test_loop import config_file  # noqa: F401 - the small corpus and config of the loop's tests

RULE = ["speed_rule.overrides=['model.num_decoder_layers=1', 'train.peak_learning_rate=0.001']",
        "speed_rule.probe_steps=2", "train.max_train_seconds=600", "train.num_steps=6", "train.test_beam_size=1"]


def rule_experiment(config_file, threshold: float, *more: str) -> ExperimentConfig:
    return load_experiment(str(config_file), [*RULE, f"speed_rule.below_tokens_per_second={threshold}", *more])


def lines_of(said):
    return lambda line, **_: said.append(line)


def test_decide_applies_the_overrides_only_below_the_threshold_and_records_the_measurement():
    exp = ExperimentConfig(speed_rule=SpeedRule(4000, ("model.num_encoder_layers=1", "train.seed=7")))
    slow, fast = speed_rule.decide(exp, 3999.0), speed_rule.decide(exp, 4000.0)
    assert (slow.model.num_encoder_layers, slow.train.seed) == (1, 7)
    assert (fast.model, fast.train) == (exp.model, exp.train)
    assert slow.speed_rule.measured_tokens_per_second == 3999.0 and fast.speed_rule.measured_tokens_per_second == 4000
    assert slow.speed_rule.applied == exp.speed_rule.overrides and fast.speed_rule.applied == ()
    assert "below 4,000" in speed_rule.describe(slow) and "model.num_encoder_layers=1" in speed_rule.describe(slow)
    assert "as written" in speed_rule.describe(fast)
    assert from_dict(ExperimentConfig, to_dict(slow)) == slow  # what config.json holds reads back the same


@pytest.mark.parametrize("change, message", [
    (["speed_rule.overrides=['data.batch_size=8']"], "not a model.* or train.* override"),
    (["speed_rule.overrides=['model.num_layers=2']"], "speed_rule.overrides: unknown config key 'model.num_layers'"),
    (["speed_rule.overrides=['model.num_heads=5']"], "speed_rule.overrides: invalid ModelConfig"),
    (["speed_rule.overrides=['model.d_model']"], "of the form key=value"),
    (["speed_rule.overrides=['model.vocab_size=64']"], "not model.vocab_size: the tokenizer is built before"),
    (["speed_rule.below_tokens_per_second=4000", "speed_rule.overrides=['train.seed=1']", "data.batching=bucket"],
     "speed_rule needs data.batching='pack'"),
])
def test_a_bad_rule_is_one_config_error_before_any_work(change, message):
    with pytest.raises(ConfigError, match=message.replace("*", r"\*").replace("(", r"\(")):
        apply_overrides(ExperimentConfig(), change)


def test_a_slow_machine_trains_the_overrides_and_a_resume_keeps_them_without_measuring_again(config_file, tmp_path,
                                                                                              monkeypatch):
    exp = rule_experiment(config_file, 1e12)  # every machine is slower than 1e12 target tokens/s
    said = []
    loop.run(exp, tmp_path, log=lines_of(said), stop_after=3)
    written = checkpoint.read_config(tmp_path)
    assert written.model.num_decoder_layers == 1 and written.train.peak_learning_rate == 1e-3
    assert written.model.num_encoder_layers == exp.model.num_encoder_layers == 2
    assert 0 < written.speed_rule.measured_tokens_per_second < 1e12
    assert any(line.startswith("speed rule: the config's step ran") and "below 1,000,000,000,000" in line
               and "model.num_decoder_layers=1" in line for line in said)

    def no_probe(*args, **kwargs):
        raise AssertionError("a workdir that measured must not measure again")

    monkeypatch.setattr(speed_rule, "probe", no_probe)
    said.clear()
    # --config again, with the rule changed since (here: off): the workdir continues what it trained
    # (one step: the end of a run, its evaluation and test, is the loop's tests' concern).
    result = loop.run(rule_experiment(config_file, 0), tmp_path, log=lines_of(said), stop_after=1)
    assert result["step"] == 4
    assert any("resumed from step 3" in line for line in said)
    assert any("model.num_decoder_layers=1" in line and "(measured when this workdir started)" in line
               for line in said)
    assert checkpoint.read_config(tmp_path) == written


def test_a_fast_machine_trains_the_config_as_written_and_the_probe_counts_against_the_budget(config_file, tmp_path,
                                                                                            monkeypatch):
    monkeypatch.setattr(speed_rule, "probe", lambda exp, prep, mesh: 5000.0)
    monkeypatch.setattr(speed_rule, "time", FakeClock(100.0))  # the probe takes 100 s by the clock
    exp = rule_experiment(config_file, 4000)
    said = []
    loop.run(exp, tmp_path, log=lines_of(said), stop_after=2)
    written = checkpoint.read_config(tmp_path)
    assert (written.model, written.train) == (exp.model, exp.train)
    assert written.speed_rule.measured_tokens_per_second == 5000.0
    assert any("5,000 target tokens/s (not below 4,000): training it as written" in line for line in said)
    ckpt = checkpoint.Checkpoints(tmp_path)
    _, used_s = saved_progress(ckpt.read_data(ckpt.latest_step()))
    ckpt.close()
    assert used_s >= 100.0


def test_without_a_budget_or_on_a_workdir_with_checkpoints_nothing_is_measured(config_file, tmp_path, monkeypatch):
    def no_probe(*args, **kwargs):
        raise AssertionError("nothing to measure here")

    monkeypatch.setattr(speed_rule, "probe", no_probe)
    said = []
    no_budget = rule_experiment(config_file, 1e12, "train.max_train_seconds=0")
    assert speed_rule.choose(no_budget, tmp_path, None, None, say=lines_of(said)) == (no_budget, 0.0)
    assert said.pop() == "speed rule: not measured (no time budget); training the config as written"
    (tmp_path / "checkpoints" / "0").mkdir(parents=True)  # an imported model's step 0 counts
    exp = rule_experiment(config_file, 1e12)
    assert speed_rule.choose(exp, tmp_path, None, None, say=lines_of(said)) == (exp, 0.0)
    assert said.pop() == "speed rule: not measured (the workdir holds a checkpoint); training the config as written"


def test_a_measurement_without_a_checkpoint_is_taken_again_and_an_empty_checkpoints_folder_holds_no_model(
        config_file, tmp_path):
    exp = rule_experiment(config_file, 4000)
    checkpoint.write_config(tmp_path, speed_rule.decide(exp, 100.0))  # a first run killed before its first save
    (tmp_path / "checkpoints").mkdir()  # the folder its checkpoint manager made
    assert speed_rule.recorded(exp, tmp_path) == exp  # nothing trained: the next run measures afresh
    checkpoint.write_config(tmp_path, speed_rule.decide(exp, 9000.0))  # another model, and no step to refuse it
    (tmp_path / "checkpoints" / "3").mkdir()
    assert speed_rule.recorded(exp, tmp_path).speed_rule.measured_tokens_per_second == 9000.0
    with pytest.raises(ConfigError, match="holds checkpoints of another model"):
        checkpoint.write_config(tmp_path, speed_rule.decide(exp, 100.0))
