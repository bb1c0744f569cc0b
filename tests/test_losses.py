"""The label-smoothed cross-entropy and its hand-written gradient equal the textbook formula on a
smoothed one-hot target (optax), values and gradients, with padding weighted out."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxformer import losses


def reference(logits, targets, weights, eps):
    v = logits.shape[-1]
    smoothed = optax.smooth_labels(jax.nn.one_hot(targets, v), eps)  # (1-eps) onehot + eps / V
    loss = optax.softmax_cross_entropy(logits, smoothed)
    nll = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
    return jnp.sum(loss * weights), jnp.sum(nll * weights)


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_values_and_gradients_equal_the_reference(eps):
    k1, k2 = jax.random.split(jax.random.key(0))
    logits = 3 * jax.random.normal(k1, (3, 5, 11))
    targets = jax.random.randint(k2, (3, 5), 0, 11)
    weights = jnp.asarray(np.random.default_rng(0).integers(0, 2, (3, 5)), jnp.float32)
    sums = losses.cross_entropy_sums(logits, targets, weights, eps)
    ref_loss, ref_nll = reference(logits, targets, weights, eps)
    np.testing.assert_allclose(sums["loss"], ref_loss, rtol=1e-5)
    np.testing.assert_allclose(sums["nll"], ref_nll, rtol=1e-5)
    correct = (jnp.argmax(logits, -1) == targets).astype(jnp.float32)
    assert float(sums["correct"]) == float(jnp.sum(correct * weights))
    assert float(sums["tokens"]) == float(weights.sum())
    for i, name in enumerate(("loss", "nll")):
        ours = jax.grad(lambda x: losses.cross_entropy_sums(x, targets, weights, eps)[name])(logits)
        ref = jax.grad(lambda x: reference(x, targets, weights, eps)[i])(logits)
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)
    # Both statistics at once (what an objective mixing them would see).
    both = jax.grad(lambda x: sum(losses.cross_entropy_sums(x, targets, weights, eps)[n] for n in ("loss", "nll")))(logits)
    ref = jax.grad(lambda x: sum(reference(x, targets, weights, eps)))(logits)
    np.testing.assert_allclose(both, ref, rtol=1e-5, atol=1e-6)


def test_large_logits_stay_finite():
    logits = jnp.asarray([[1e4, -1e4, 0.0]])
    sums = losses.cross_entropy_sums(logits[None], jnp.asarray([[1]]), jnp.ones((1, 1)), 0.1)
    assert np.isfinite(float(sums["loss"])) and float(sums["nll"]) == pytest.approx(2e4)
    g = jax.grad(lambda x: losses.cross_entropy_sums(x, jnp.asarray([[1]]), jnp.ones((1, 1)), 0.1)["loss"])(logits[None])
    assert np.all(np.isfinite(g))
