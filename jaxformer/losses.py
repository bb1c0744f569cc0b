"""Label-smoothed cross-entropy (section 5.4, epsilon_ls = 0.1), token accuracy and token counts.

Losses are returned as sums with their token counts, not means, so that micro-batches,
devices and hosts can be combined exactly: the normalisation per non-pad target token happens
once, over the whole batch.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


def cross_entropy_sums(logits: Array, targets: Array, weights: Array, label_smoothing: float = 0.1) -> dict[str, Array]:
    """logits [B, T, V] float32, targets [B, T] int, weights [B, T] (1 = real token, 0 = pad).

    The smoothed target puts 1 - epsilon on the reference and spreads epsilon uniformly over the
    vocabulary: loss = (1 - epsilon) * NLL + epsilon * mean_v(-log p_v). Returns sums over tokens:
    "loss" (smoothed, what is trained), "nll" (for perplexity), "correct" and "tokens".
    """
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    nll = -jnp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]
    smooth = -jnp.mean(logp, axis=-1)
    loss = (1.0 - label_smoothing) * nll + label_smoothing * smooth
    w = weights.astype(jnp.float32)
    correct = (jnp.argmax(logp, axis=-1) == targets).astype(jnp.float32)
    return {"loss": jnp.sum(loss * w), "nll": jnp.sum(nll * w), "correct": jnp.sum(correct * w), "tokens": jnp.sum(w)}


def summarize(sums: dict[str, Array]) -> dict[str, Array]:
    """Per-token loss, NLL, perplexity and accuracy from summed statistics."""
    tokens = jnp.maximum(sums["tokens"], 1.0)
    nll = sums["nll"] / tokens
    return {"loss": sums["loss"] / tokens, "nll": nll, "perplexity": jnp.exp(nll),
            "accuracy": sums["correct"] / tokens, "tokens": sums["tokens"]}
