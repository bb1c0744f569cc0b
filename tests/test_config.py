import dataclasses

import pytest

import jaxformer as jf


def test_presets_match_table3():
    base, big = jf.PRESETS["base"], jf.PRESETS["big"]
    assert (base.num_encoder_layers, base.d_model, base.d_ff, base.num_heads, base.d_head, base.dropout_rate) == (6, 512, 2048, 8, 64, 0.1)
    assert (big.num_encoder_layers, big.d_model, big.d_ff, big.num_heads, big.d_head, big.dropout_rate) == (6, 1024, 4096, 16, 64, 0.3)
    assert base.norm == "post" and base.positional == "sinusoidal" and base.share_embeddings and base.tie_output


def test_config_is_frozen_and_hashable():
    cfg = jf.preset("tiny")
    assert hash(cfg) == hash(jf.preset("tiny"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.d_model = 3


def test_dotted_overrides_parse_types():
    @dataclasses.dataclass(frozen=True)
    class Exp:
        model: jf.ModelConfig = jf.preset("tiny")
        name: str = "x"

    exp = jf.apply_overrides(Exp(), ["model.d_model=128", "model.norm=pre", "model.dropout_rate=0",
                                     "model.scan_layers=true", "model.head_dim=8", "name=42"])
    assert exp.model.d_model == 128 and exp.model.norm == "pre" and exp.model.scan_layers is True
    assert exp.model.dropout_rate == 0.0 and isinstance(exp.model.dropout_rate, float)
    assert exp.model.head_dim == 8 and exp.name == "42"


@pytest.mark.parametrize("override, message", [
    (["model.dmodel=3"], "unknown config key 'model.dmodel'"),
    (["model.d_model"], "not of the form key=value"),
    (["model.norm=mid"], "norm='mid' is not one of"),
    (["model.num_heads=5"], "not divisible by num_heads=5"),
])
def test_bad_overrides_name_the_problem(override, message):
    @dataclasses.dataclass(frozen=True)
    class Exp:
        model: jf.ModelConfig = jf.preset("base")

    with pytest.raises(jf.ConfigError, match=message):
        jf.apply_overrides(Exp(), override)


def test_unknown_preset():
    with pytest.raises(jf.ConfigError, match="unknown model preset 'huge'"):
        jf.preset("huge")


def test_cudnn_attention_in_float32_is_refused_with_the_fix():
    from jaxformer.config import ConfigError, preset
    with pytest.raises(ConfigError, match="needs dtype='bfloat16'"):
        preset("tiny", attention_impl="cudnn")
    assert preset("tiny", attention_impl="cudnn", dtype="bfloat16").attention_impl == "cudnn"


@pytest.mark.parametrize("override, message", [
    ("model.d_model=abc", r"model.d_model='abc' is not an int \(e.g. model.d_model=64, its value now\)"),
    ("model.dropout_rate=x", "model.dropout_rate='x' is not a number"),
    ("model.dropout_rate=0.001", r"dropout_rate=0.001 rounds to no dropout \(rates apply in steps of 1/256\); use 0 or at least 0.0039"),
    ("model.scan_layers=1", "model.scan_layers='1' is not true or false"),
    ("model.head_dim=2.5", "model.head_dim='2.5' is not an int or None"),
    ("train.profile_steps=(1,'a')", "train.profile_steps=.* is not a tuple of ints"),
    ("data.tokenizer=3", "data.tokenizer is a group of settings, not a value; set one of its fields"),
    ("mesh.rules=tp", "mesh.rules='tp' is not one of dp, fsdp, fsdp_tp"),
    ("mesh.fsdp=0", "mesh.fsdp=0: a mesh size is -1"),
    ("train.log_every=0", "train.log_every=0 must be >= 1"),
    ("train.test_beam_size=0", "train.test_beam_size=0 must be >= 1"),
    ("train.warmup_steps=-1", "train.warmup_steps=-1 must be >= 0"),
    ("train.weight_decay=-0.1", "train.weight_decay=-0.1 must be >= 0"),
    ("train.schedule=cosine", "train.schedule='cosine' is not one of rsqrt, linear_rsqrt, linear_decay, constant"),
    ("train.best_metric=blue", "train.best_metric='blue' is not one of bleu, chrf"),
    ("train.on_save_error=retry", "train.on_save_error='retry' is not one of stop, continue"),
    ("data.batching=sorted", "data.batching='sorted' is not one of pack, bucket"),
    ("data.dataset=wmt99", "data.dataset='wmt99' is not one of synthetic, files, wmt14, wmt17"),
    ("data.batch_size=0", "data.batch_size=0 must be >= 1"),
    ("data.bucket_boundaries=(32,16)", r"data.bucket_boundaries=\(32, 16\) must be positive and strictly increasing"),
    ("model.num_heads=0", "num_heads=0 must be positive"),
])
def test_override_types_ranges_and_names_are_checked(override, message):
    with pytest.raises(jf.ConfigError, match=message) as e:
        jf.apply_overrides(jf.config.ExperimentConfig(), [override])
    assert "\n" not in str(e.value)


def test_overrides_of_one_config_apply_together_in_any_order():
    exp = jf.config.ExperimentConfig()
    for order in (["data.max_length=512", "data.pack_length=512"], ["data.pack_length=512", "data.max_length=512"]):
        assert jf.apply_overrides(exp, order).data.max_length == 512
    timed = ["train.decay_over=time", "train.max_train_seconds=60", "train.schedule=linear_decay"]
    assert jf.apply_overrides(exp, timed).train.decay_over == "time"
    typed = jf.apply_overrides(exp, {"train.max_train_seconds": 60, "model.head_dim": None, "train.seed": 3})
    assert typed.train.max_train_seconds == 60.0 and isinstance(typed.train.max_train_seconds, float)
    with pytest.raises(jf.ConfigError, match="train.seed=2.5 is not an int"):
        jf.apply_overrides(exp, {"train.seed": 2.5})


def test_rule_set_names_agree_with_sharding():
    from jaxformer import sharding
    assert sorted(jf.config.RULE_SETS) == sorted(sharding.RULES)


def test_optimizer_refuses_an_unknown_schedule():
    from jaxformer import optim
    cfg = jf.config.TrainConfig()
    object.__setattr__(cfg, "schedule", "cosine")  # past the config's own check
    with pytest.raises(jf.ConfigError, match="train.schedule='cosine' is not one of rsqrt, linear_rsqrt, "
                                             "linear_decay, constant"):
        optim.learning_rate(cfg, 512)
