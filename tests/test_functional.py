"""The pure API composes with plain JAX: jit, grad, vmap, optax; and the README example runs."""

import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxformer as jf
from conftest import random_tokens

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_pure_api_example_runs():
    text = README.read_text()
    match = re.search(r"<!-- pure-api-example -->\s*```python\n(.*?)```", text, re.S)
    assert match, "README lost its pure-API example block"
    exec(compile(match.group(1), "README.md", "exec"), {})


def test_init_is_deterministic_in_its_key(tiny):
    a, b, c = (jf.init(tiny, jax.random.key(k)) for k in (0, 0, 1))
    jax.tree.map(np.testing.assert_array_equal, a, b)
    assert not np.allclose(a["embed"]["embedding"], c["embed"]["embedding"])
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(a))


def test_jit_grad_vmap_and_optax_compose(tiny, tiny_params, np_rng):
    src = random_tokens(np_rng, [5, 3, 4], 5, tiny.vocab_size)
    tgt = random_tokens(np_rng, [4, 4, 2], 4, tiny.vocab_size)
    batched = jf.apply(tiny_params, src, tgt, config=tiny)
    per_example = jax.jit(jax.vmap(lambda s, t: jf.apply(tiny_params, s[None], t[None], config=tiny)[0]))(src, tgt)
    np.testing.assert_allclose(per_example, batched, rtol=2e-5, atol=2e-5)

    def loss(p):
        logits = jf.apply(p, src, tgt, config=tiny)
        return optax.softmax_cross_entropy_with_integer_labels(logits, tgt).mean()

    opt = optax.adam(1e-2)
    state = opt.init(tiny_params)

    @jax.jit
    def step(p, s):
        value, grads = jax.value_and_grad(loss)(p)
        updates, s = opt.update(grads, s, p)
        return optax.apply_updates(p, updates), s, value

    params, losses = tiny_params, []
    for _ in range(5):
        params, state, value = step(params, state)
        losses.append(float(value))
    assert losses[-1] < losses[0]
    assert jax.tree.structure(params) == jax.tree.structure(tiny_params)


# Table 3: base 65M, big 213M. Our convention: every trainable array once (the embedding shared by
# source, target and the pre-softmax projection once), biases and LayerNorm parameters included,
# a 37000-token shared vocabulary. The exact counts pin the architecture against regressions.
@pytest.mark.parametrize("name, exact, paper, rel", [("base", 63_082_496, 65e6, 0.035), ("big", 214_245_376, 213e6, 0.01)])
def test_parameter_counts_match_table3(name, exact, paper, rel):
    count = jf.param_count(jf.preset(name))
    assert count == exact
    assert abs(count - paper) / paper < rel


def test_untied_and_unshared_embeddings_add_their_matrices():
    base = jf.param_count(jf.preset("base"))
    untied = jf.param_count(jf.preset("base", share_embeddings=False, tie_output=False))
    assert untied - base == 2 * 37000 * 512


def test_check_params_names_the_mismatch(tiny, tiny_params):
    jf.check_params(tiny_params, tiny)
    other = jf.preset("tiny", vocab_size=128, d_model=32, d_ff=64)
    with pytest.raises(jf.ConfigError, match=r"'embed/embedding' has shape \(64, 32\) but the config expects \(128, 32\)"):
        jf.check_params(tiny_params, other)
    with pytest.raises(jf.ConfigError, match="lack 'encoder_layers"):
        jf.check_params({k: v for k, v in tiny_params.items() if k != "encoder_layers"}, tiny)


def test_ci_runs_the_readme_test_command():
    text = README.read_text()
    command = re.search(r"Tests \(CPU.*?```bash\n(.*?)\n```", text, re.S).group(1).strip()
    ci = (README.parent / ".ci" / "run").read_text()
    assert command in ci
