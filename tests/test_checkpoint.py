"""Checkpoints in isolation: round trip with the data state, restore onto another mesh, the
last K + best policy, and unfinished saves never counted as the latest."""

import jax
import numpy as np
import pytest

from jaxformer import checkpoint, sharding, train
from jaxformer.config import ExperimentConfig, MeshConfig, preset

EXP = ExperimentConfig(model=preset("tiny", vocab_size=64, d_model=32, d_ff=64, num_heads=4))


def test_round_trip_onto_another_mesh(tmp_path):
    dp = sharding.make_mesh(data=8)
    state = jax.device_put(train.init_state(EXP), train.state_shardings(EXP, dp))
    ckpt = checkpoint.Checkpoints(tmp_path, best_metric=None)
    ckpt.save(7, state, {"next_index": 42})
    ckpt.wait()
    other = ExperimentConfig(model=EXP.model, mesh=MeshConfig(data=2, fsdp=2, tensor=2, rules="fsdp_tp"))
    mesh = sharding.make_mesh(data=2, fsdp=2, tensor=2)
    shard = train.state_shardings(other, mesh)
    target = jax.tree.map(lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh),
                          jax.eval_shape(lambda: train.init_state(other)), shard)
    restored, data = ckpt.restore(7, target)
    ckpt.close()
    assert data == {"next_index": 42}
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(restored), jax.device_get(state))
    wi = restored.params["decoder_layers"]["feed_forward"]["wi"]
    assert wi.sharding.spec == shard.params["decoder_layers"]["feed_forward"]["wi"].spec
    assert wi.sharding.spec != state.params["decoder_layers"]["feed_forward"]["wi"].sharding.spec


def test_keeps_the_last_k_and_the_best(tmp_path):
    state = train.init_state(EXP)
    ckpt = checkpoint.Checkpoints(tmp_path, keep=2, best_metric="bleu")
    for step, bleu in zip((1, 2, 3, 4, 5), (5.0, 30.0, 10.0, 12.0, 8.0)):
        ckpt.save(step, state, {}, {"bleu": bleu, "loss": 1.0})
    ckpt.save(6, state, {})  # a save without evaluation
    ckpt.wait()
    assert ckpt.all_steps() == [2, 5, 6] and ckpt.best_step() == 2
    ckpt.close()
    loss = checkpoint.Checkpoints(tmp_path / "by_loss", keep=1, best_metric="loss")
    for step, value in zip((1, 2, 3), (3.0, 1.0, 2.0)):
        loss.save(step, state, {}, {"loss": value})
    loss.wait()
    assert loss.all_steps() == [2, 3]
    loss.close()


def test_unfinished_save_is_never_the_latest(tmp_path):
    state = train.init_state(EXP)
    ckpt = checkpoint.Checkpoints(tmp_path, best_metric=None)
    ckpt.save(3, state, {})
    ckpt.wait()
    ckpt.close()
    # What a save interrupted mid-write leaves: Orbax's temporary folder, never renamed.
    (tmp_path / "checkpoints" / "9.orbax-checkpoint-tmp-1234").mkdir()
    (tmp_path / "checkpoints" / "9.orbax-checkpoint-tmp-1234" / "state").mkdir()
    again = checkpoint.Checkpoints(tmp_path, best_metric=None)
    assert again.latest_step() == 3
    again.close()


def test_missing_workdir_and_checkpoint_errors(tmp_path):
    with pytest.raises(checkpoint.ConfigError, match="has no config.json"):
        checkpoint.read_config(tmp_path)
    checkpoint.write_config(tmp_path, EXP)
    with pytest.raises(checkpoint.ConfigError, match="has no checkpoint yet"):
        checkpoint.load_model_params(tmp_path)
