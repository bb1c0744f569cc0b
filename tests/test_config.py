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
