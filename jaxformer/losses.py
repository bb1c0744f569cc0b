"""Label-smoothed cross-entropy (section 5.4, epsilon_ls = 0.1), token accuracy and token counts.

Losses are returned as sums with their token counts, not means, so that micro-batches,
devices and hosts can be combined exactly: the normalisation per non-pad target token happens
once, over the whole batch.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

Array = jax.Array


def cross_entropy_sums(logits: Array, targets: Array, weights: Array, label_smoothing: float = 0.1) -> dict[str, Array]:
    """logits [B, T, V] float32, targets [B, T] int, weights [B, T] (1 = real token, 0 = pad).

    The smoothed target puts 1 - epsilon on the reference and spreads epsilon uniformly over the
    vocabulary: loss = (1 - epsilon) * NLL + epsilon * mean_v(-log p_v). Returns sums over tokens:
    "loss" (smoothed, what is trained), "nll" (for perplexity), "correct" and "tokens".
    """
    loss, nll, correct = token_cross_entropy(logits.astype(jnp.float32), targets, label_smoothing)
    w = weights.astype(jnp.float32)
    return {"loss": jnp.sum(loss * w), "nll": jnp.sum(nll * w), "correct": jnp.sum(correct * w), "tokens": jnp.sum(w)}


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def token_cross_entropy(logits: Array, targets: Array, label_smoothing: float) -> tuple[Array, Array, Array]:
    """Per token: (smoothed loss, NLL, 1.0 where the reference has the highest logit), each [...].

    Written out rather than through log_softmax so that no [..., V] array but the logits is kept:
    the forward pass reads the logits for max, sum of exp and sum; the backward pass makes the
    gradient softmax - (1 - epsilon) * onehot - epsilon / V in one elementwise pass. (Autodiff of
    log_softmax materialised exp(logits) and a one-hot: a third of a small model's loss time.)
    A tie for the highest logit counts as correct.
    """
    return _token_ce_fwd(logits, targets, label_smoothing)[0]


def _token_ce_fwd(logits, targets, eps):
    peak = jnp.max(logits, axis=-1)
    lse = peak + jnp.log(jnp.sum(jnp.exp(logits - peak[..., None]), axis=-1))
    target_logit = jnp.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
    nll = lse - target_logit
    smooth = lse - jnp.mean(logits, axis=-1)  # mean_v(-log p_v)
    loss = (1.0 - eps) * nll + eps * smooth
    correct = (target_logit >= peak).astype(jnp.float32)
    return (loss, nll, correct), (logits, targets, lse)


def _token_ce_bwd(eps, residuals, cotangents):
    logits, targets, lse = residuals
    g_loss, g_nll, _ = cotangents
    vocab = logits.shape[-1]
    probs = jnp.exp(logits - lse[..., None])
    onehot = jax.lax.broadcasted_iota(targets.dtype, logits.shape, logits.ndim - 1) == targets[..., None]
    g = (g_loss + g_nll)[..., None]
    # d loss = (1-eps)(p - onehot) + eps(p - 1/V); d nll = p - onehot.
    grad = g * probs - jnp.where(onehot, ((1.0 - eps) * g_loss + g_nll)[..., None], 0.0) - (eps / vocab) * g_loss[..., None]
    return grad, None


token_cross_entropy.defvjp(_token_ce_fwd, _token_ce_bwd)


def summarize(sums: dict[str, Array]) -> dict[str, Array]:
    """Per-token loss, NLL, perplexity and accuracy from summed statistics."""
    tokens = jnp.maximum(sums["tokens"], 1.0)
    nll = sums["nll"] / tokens
    return {"loss": sums["loss"] / tokens, "nll": nll, "perplexity": jnp.exp(nll),
            "accuracy": sums["correct"] / tokens, "tokens": sums["tokens"]}
