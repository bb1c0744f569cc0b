"""Logical-axis sharding on 8 simulated CPU devices: golden PartitionSpecs per rule set, clear
errors, and the same outputs and gradients as one device.

Tolerance: float32 results on 8 devices equal 1 device to rtol 1e-5 / atol 1e-5 for outputs and
rtol 1e-4 / atol 1e-6 for gradients (reductions are summed in a different order)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

import jaxformer as jf
from jaxformer import sharding
from conftest import random_tokens

MESHES = {"dp": dict(data=8), "fsdp": dict(data=2, fsdp=4), "fsdp_tp": dict(data=2, fsdp=2, tensor=2)}

GOLDEN = {
    "dp": {
        "embed/embedding": P(None, None),
        "decoder_layers/self_attention/query": P(None, None, None, None),
        "decoder_layers/feed_forward/wi": P(None, None, None),
        "encoder_layers/self_attention/out": P(None, None, None, None),
        "batch": P(("data", "fsdp"), None),
    },
    "fsdp": {
        "embed/embedding": P(None, "fsdp"),
        "decoder_layers/self_attention/query": P(None, "fsdp", None, None),
        "decoder_layers/feed_forward/wi": P(None, "fsdp", None),
        "encoder_layers/self_attention/out": P(None, None, None, "fsdp"),
        "batch": P(("data", "fsdp"), None),
    },
    "fsdp_tp": {
        "embed/embedding": P("tensor", "fsdp"),
        "decoder_layers/self_attention/query": P(None, "fsdp", "tensor", None),
        "decoder_layers/feed_forward/wi": P(None, "fsdp", "tensor"),
        "encoder_layers/self_attention/out": P(None, "tensor", None, "fsdp"),
        "batch": P(("data", "fsdp"), None),
    },
}


def _get(tree, path):
    for k in path.split("/"):
        tree = tree[k]
    return tree


@pytest.mark.parametrize("rules", sorted(GOLDEN))
def test_golden_partition_specs(tiny, rules):
    specs = sharding.param_specs(jf.logical_axes(tiny), rules)
    for path, expected in GOLDEN[rules].items():
        got = sharding.logical_to_spec(("batch", "length"), rules) if path == "batch" else _get(specs, path)
        assert got == expected, (rules, path, got)


def test_every_parameter_has_logical_axes_from_the_glossary(tiny):
    axes = jax.tree.leaves(jf.logical_axes(tiny), is_leaf=lambda x: isinstance(x, tuple))
    shapes = jax.tree.leaves(jax.eval_shape(lambda: jf.init(tiny, jax.random.key(0))))
    assert len(axes) == len(shapes)
    for names, shape in zip(axes, shapes):
        assert len(names) == len(shape.shape) and set(names) <= set(sharding.AXES) | {None}


def test_mesh_errors_name_the_problem():
    assert dict(sharding.make_mesh().shape) == {"data": 8, "fsdp": 1, "tensor": 1}
    assert dict(sharding.make_mesh(data=-1, tensor=2).shape) == {"data": 4, "fsdp": 1, "tensor": 2}
    with pytest.raises(jf.ConfigError, match="needs 3 devices but 8 are available"):
        sharding.make_mesh(data=3)
    with pytest.raises(jf.ConfigError, match="do not divide the 8 available devices"):
        sharding.make_mesh(data=-1, fsdp=3)
    with pytest.raises(jf.ConfigError, match="unknown sharding rules 'zero'"):
        sharding.param_specs({}, "zero")


def test_indivisible_dimension_names_both(tiny):
    mesh = sharding.make_mesh(data=1, tensor=8)
    shapes = jax.eval_shape(lambda: jf.init(tiny, jax.random.key(0)))
    with pytest.raises(jf.ConfigError, match=r"dimension 'heads' of size 4 is not divisible by mesh axis tensor of size 8"):
        sharding.param_shardings(shapes, jf.logical_axes(tiny), mesh, "fsdp_tp")


def _loss(params, batch, config):
    logits = jf.apply(params, batch["src"], batch["tgt"], config=config)
    logp = jax.nn.log_softmax(logits)
    nll = -jnp.take_along_axis(logp, batch["tgt"][..., None], axis=-1)[..., 0]
    mask = batch["tgt"] > 0
    return jnp.sum(nll * mask) / jnp.sum(mask), logits


# fsdp alone is a slow test (~25 s on 2 cores): fsdp_tp shards over the same fsdp axis and the tensor axis too.
@pytest.mark.parametrize("rules", [pytest.param(r, marks=pytest.mark.slow) if r == "fsdp" else r
                                   for r in sorted(MESHES)])
def test_eight_devices_equal_one(tiny, tiny_params, rules):
    rng = np.random.default_rng(0)
    batch = {"src": random_tokens(rng, rng.integers(1, 9, 8), 8, tiny.vocab_size),
             "tgt": random_tokens(rng, rng.integers(1, 7, 8), 6, tiny.vocab_size)}
    grad_fn = jax.value_and_grad(_loss, has_aux=True)
    (ref_loss, ref_logits), ref_grads = jax.jit(grad_fn, static_argnums=2)(tiny_params, batch, tiny)

    mesh = sharding.make_mesh(**MESHES[rules])
    p_shard = sharding.param_shardings(tiny_params, jf.logical_axes(tiny), mesh, rules)
    b_shard = sharding.batch_sharding(mesh, rules)
    params = jax.device_put(tiny_params, p_shard)
    batch_s = jax.device_put(batch, b_shard)
    with sharding.use_rules(mesh, rules):
        step = jax.jit(lambda p, b: grad_fn(p, b, tiny), in_shardings=(p_shard, b_shard),
                       out_shardings=((None, None), p_shard))
        (loss, logits), grads = step(params, batch_s)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(logits, ref_logits, rtol=1e-5, atol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), grads, ref_grads)
    q = grads["decoder_layers"]["self_attention"]["query"]
    assert q.sharding.spec == GOLDEN[rules]["decoder_layers/self_attention/query"]
