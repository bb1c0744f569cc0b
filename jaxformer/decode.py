"""Decoding over `decode_step` with the explicit cache: greedy, beam search and sampling.

Each search is a pure function of (params, src) that jit-compiles once per input shape; the
output length bound is static: input width + 50 (section 6.1) unless given.

Beam search follows one of two conventions. "t2t" is the paper's (section 6.1, as in
tensor2tensor): GNMT's length penalty, the pad token removed before the softmax, every finished
candidate kept, and a stop once no alive beam can beat the finished ones. "hf" is what
transformers' `generate()` does with its defaults, so that a pretrained model imported from it
(OPUS-MT / Marian) decodes token for token as it did there: the score is log P / |Y|^alpha, the
pad token is masked after the softmax, only candidates among the top `beam_size` of a step may
finish, and an example stops taking hypotheses once its best alive beam, scored at its current
length, cannot beat its worst finished one. `force_eos` makes the last allowed token EOS
(transformers' `forced_eos_token_id`).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable

import jax
import jax.numpy as jnp

import jaxformer as jf
from jaxformer.config import ConfigError, ModelConfig
from jaxformer.sharding import constrain
from jaxformer.data.tokenizer import EOS_ID

Array = jax.Array

# XLA:CPU by default fuses the vocabulary projection with the reductions over the vocabulary that
# follow it (log_softmax's max and sum, the argmax) into one YNNPACK fusion that runs 2.3x slower
# than the projection and the reductions apart: 108 against 48 ms for [128, 512] x [512, 58101]
# (experiments/benchmarks/decode_fusion.py --micro). On the CPU greedy and sampling compile every
# dot on its own. Beam search keeps XLA's defaults: its reductions (top_log_probs) do not fuse
# that way, and the defaults run them with YNNPACK, 3-7% faster a step at beam 4 x 32.
CPU_COMPILER_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"}


def _search_jit(cpu_options: dict | None = CPU_COMPILER_OPTIONS, **jit_kwargs):
    """`jax.jit` for a search, with `cpu_options` when the default backend is the CPU
    (chosen at each call, not at import: importing jaxformer must not start a backend)."""
    def wrap(fn):
        plain = jax.jit(fn, **jit_kwargs)
        cpu = jax.jit(fn, **jit_kwargs, compiler_options=cpu_options) if cpu_options else plain
        def pick(args) -> Callable:
            traced = any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(args))
            # Inside another jit the outer one compiles (and only a top-level jit takes options).
            return cpu if not traced and jax.default_backend() == "cpu" else plain

        @functools.wraps(fn)
        def search(*args, **kwargs):
            return pick(args)(*args, **kwargs)
        search.lower = lambda *args, **kwargs: pick(args).lower(*args, **kwargs)
        search.plain = plain  # XLA's defaults on every backend (benchmarks compare the two)
        return search
    return wrap


def max_output_length(src_width: int, max_len: int = 0) -> int:
    """The paper's bound: input length + 50 (or an explicit `max_len`)."""
    return max_len if max_len > 0 else src_width + 50


CONVENTIONS = ("t2t", "hf")


def _within_positions(length: int, config: ModelConfig) -> int:
    """Learned positions exist only below model.max_len: a longer output would index past their
    table and turn to NaN silently, so it is cut at max_len, with a warning (once per compile)."""
    if config.positional == "learned" and length > config.max_len:
        warnings.warn(f"decoding: the output length {length} is past model.max_len={config.max_len} of the learned "
                      f"positions; outputs are cut at {config.max_len} tokens", stacklevel=1)
        return config.max_len
    return length


def no_pad(logits: Array, config: ModelConfig) -> Array:
    """The pad id doubles as the start token and is never a valid output: mask it out."""
    return logits.at[..., config.pad_id].set(-jnp.inf)


def _forced_eos(scores: Array, eos_id: int, last: Array) -> Array:
    """At the last allowed position only EOS remains (score 0, the rest -inf); `last` is a bool scalar."""
    only_eos = jnp.where(jnp.arange(scores.shape[-1]) == eos_id, 0.0, -jnp.inf).astype(scores.dtype)
    return jnp.where(last, only_eos, scores)


def stage_ends(length: int, first: int = 32) -> list[int]:
    """The cache widths of a search's stages: 32, 64, ... and last `length` itself (one stage
    for a symbolic length, as in a `jax.export` artifact, whose bound is not known here)."""
    if not isinstance(length, int):
        return [length]
    ends = []
    while first < length:
        ends.append(first)
        first *= 2
    return ends + [length]


def _grow(cache: dict, width: int) -> dict:
    """The self-attention keys and values padded along T to `width` (the memory's stay as they are)."""
    def pad(x):
        return jnp.pad(x, ((0, 0), (0, 0), (0, width - x.shape[2]), (0, 0)))
    return {**cache, "k": tuple(map(pad, cache["k"])), "v": tuple(map(pad, cache["v"]))}


def _staged_while(cond: Callable, body: Callable, state: dict, length: int) -> dict:
    """`jax.lax.while_loop(cond, body, state)` over a self-attention cache that doubles in width.

    A step reads every cached position and beam search reorders them all, so a cache as wide as
    the length bound (input width + 50) costs every step that bound, while most outputs end far
    earlier. So the loop runs in stages whose cache is 32, 64, ... positions wide (`stage_ends`),
    grown by one copy between stages: a step costs about its own position, as in engines whose
    cache grows token by token (CTranslate2), for one compiled body per stage. `state` holds
    "i" (the step) and "cache" (as from init_cache, `stage_ends(length)[0]` wide).
    """
    for n, end in enumerate(stage_ends(length)):
        if n:
            state = {**state, "cache": _grow(state["cache"], end)}
        state = jax.lax.while_loop(lambda s, end=end: cond(s) & (s["i"] < end), body, state)
    return state


@_search_jit(static_argnames=("config", "max_len", "eos_id", "force_eos"))
def greedy(params, src: Array, *, config: ModelConfig, max_len: int = 0, eos_id: int = EOS_ID,
           force_eos: bool = False) -> Array:
    """Greedy decoding: src [B, S] -> tokens [B, L] (EOS included, then padding), L = S + 50."""
    length = _within_positions(max_output_length(src.shape[1], max_len), config)
    batch = src.shape[0]
    memory, valid = jf.encode(params, src, config=config)
    # Memory keys/values projected once; the self-attention cache grows in stages (_staged_while).
    cache = jf.init_cache(config, batch, stage_ends(length)[0], params, memory)
    layers = jf.decoder_layers(params, config)  # sliced once, not at every step

    def cond(s):
        return (s["i"] < length) & ~jnp.all(s["done"])

    def body(s):
        i = s["i"]
        logits, cache = jf.decode_step(params, s["cache"], s["prev"], None, valid, config=config, layers=layers)
        logits = no_pad(logits, config)
        if force_eos:
            logits = _forced_eos(logits, eos_id, i == length - 1)
        # top_k(1), not argmax: the same first-maximum index, and XLA:CPU runs it faster over a large
        # vocabulary (a custom call, not a variadic reduction).
        token = jnp.where(s["done"], config.pad_id, vocab_top_k(logits, 1)[1][:, 0].astype(jnp.int32))
        return dict(i=i + 1, cache=cache, prev=token, out=s["out"].at[:, i].set(token),
                    done=s["done"] | (token == eos_id))

    state = dict(i=jnp.zeros((), jnp.int32), cache=cache, prev=jnp.full((batch,), config.pad_id, jnp.int32),
                 out=jnp.zeros((batch, length), jnp.int32), done=jnp.zeros((batch,), bool))
    return _staged_while(cond, body, state, length)["out"]


def length_penalty(length: Array, alpha: float, convention: str = "t2t") -> Array:
    """GNMT's ((5 + |Y|) / 6) ** alpha (Wu et al., 2016), as used in section 6.1 with alpha = 0.6;
    |Y| ** alpha under the "hf" convention (transformers' `length_penalty`)."""
    length = jnp.asarray(length).astype(jnp.float32)
    return length ** alpha if convention == "hf" else ((5.0 + length) / 6.0) ** alpha


_NEG = -1.0e9


def _gather_beams(x: Array, beam_idx: Array) -> Array:
    """x [B, K, ...], beam_idx [B, M] -> [B, M, ...]."""
    return jnp.take_along_axis(x, beam_idx.reshape(*beam_idx.shape, *([1] * (x.ndim - 2))), axis=1)


def _chunk_width(V: int, k: int) -> int:
    """The chunk width of a two-stage top-k over V entries (256 chunks), 0 for one stage."""
    return 0 if V < 4096 or k > 16 else -(-V // 256)


def _chunk_maxima(x: Array, C: int) -> Array:
    """x [R, V] -> the maxima of its chunks of C entries, [R, ceil(V / C)] (the last chunk
    narrower), read in place: no padded copy of x."""
    R, V = x.shape
    full = V // C
    maxima = x[:, :full * C].reshape(R, full, C).max(axis=-1)
    if V > full * C:
        maxima = jnp.concatenate([maxima, x[:, full * C:].max(axis=-1, keepdims=True)], axis=-1)
    return maxima


def _top_k_in_chunks(x: Array, maxima: Array, C: int, k: int, drop: int | None = None) -> tuple[Array, Array]:
    """The top k of each row of x [R, V] read only from the k chunks with the highest maxima
    (a chunk ranked below k others holds none of them). `drop`: an id that never counts
    (-inf), whatever x holds there."""
    R, V = x.shape
    chunks = jnp.sort(jax.lax.top_k(maxima, k)[1], axis=-1)  # [R, k], in index order
    # A chunk of C entries from each; the narrower last one is read as the C entries before V,
    # the ones that belong to the chunk before it masked.
    starts = jnp.minimum(chunks * C, V - C)
    take = jax.vmap(jax.vmap(lambda row, s: jax.lax.dynamic_slice(row, (s,), (C,)), (None, 0)))
    pos = starts[..., None] + jnp.arange(C)[None, None]  # [R, k, C]
    keep = pos >= chunks[..., None] * C
    if drop is not None:
        keep &= pos != drop
    cand = jnp.where(keep, take(x, starts), -jnp.inf).reshape(R, k * C)
    values, p = jax.lax.top_k(cand, k)
    return values, jnp.take_along_axis(pos.reshape(R, k * C), p, axis=-1)


def vocab_top_k(x: Array, k: int) -> tuple[Array, Array]:
    """`jax.lax.top_k` over the last axis (values, indices; ties: lower index first), in two
    stages when that axis is a vocabulary: the best k lie in the k chunks with the highest
    maxima, so a fast vectorised max over 256 chunks picks k of them and the sort-like top-k
    reads only those. XLA:CPU's TopK is one thread over the whole row: 11 ms for k=8 over
    [128, 58101], 4.7 ms in two stages.
    """
    *lead, V = x.shape
    C = _chunk_width(V, k)
    if not C:
        return jax.lax.top_k(x, k)
    rows = x.reshape(-1, V)
    values, index = _top_k_in_chunks(rows, _chunk_maxima(rows, C), C, k)
    return values.reshape(*lead, k), index.reshape(*lead, k)


def top_log_probs(logits: Array, k: int, *, pad_id: int, pad_in_norm: bool) -> tuple[Array, Array]:
    """The k best next tokens of each row by log-probability, the pad id never among them:
    logits [R, V] -> (log P [R, k], token [R, k]), best first.

    Equal to `vocab_top_k` of log_softmax(no_pad(logits)), or of no_pad(log_softmax(logits))
    with `pad_in_norm` ("hf": the pad's probability stays in the normaliser), without writing
    the [R, V] log-probabilities: a row's normaliser is one constant, so its best logits are its
    best log-probabilities, and the row's maximum is the maximum of the chunk maxima the top-k
    reads anyway. After the projection the vocabulary is read twice (chunk maxima, sum of
    exponentials), not five times (bias, max, sum, subtract, padded copy: 16 of 127 ms a step
    of beam 4 x 32 at opus-mt-en-de's size).
    """
    V = logits.shape[-1]
    masked = jnp.where((jnp.arange(V) == pad_id)[None], -jnp.inf, logits)
    C = _chunk_width(V, k)
    if C:
        maxima = _chunk_maxima(masked, C)
        values, token = _top_k_in_chunks(logits, maxima, C, k, drop=pad_id)
        top = maxima.max(axis=-1, keepdims=True)
    else:
        values, token = jax.lax.top_k(masked, k)
        top = masked.max(axis=-1, keepdims=True)
    norm_over = masked
    if pad_in_norm:
        top = jnp.maximum(top, logits[:, pad_id:pad_id + 1])
        norm_over = logits
    # As jax.nn.log_softmax: (x - max) - log(sum(exp(x - max))).
    log_norm = jnp.log(jnp.sum(jnp.exp(norm_over - top), axis=-1, keepdims=True))
    return (values - top) - log_norm, token


def top_continuations(alive_logp: Array, beam_logp: Array, beam_token: Array, n: int) -> tuple[Array, Array, Array]:
    """The n best one-token continuations of K beams: alive_logp [B, K] and each beam's best
    next tokens, beam_logp and beam_token [B, K, M] (M >= n, or the whole vocabulary; best
    first, from `top_log_probs`) -> (log P [B, n], beam [B, n], token [B, n]), best first.

    The best n of the K * V continuations are among each beam's own best n (adding a beam's score
    keeps its order), so top_k runs over K * M (the caller took each beam's best), not K * V: the same
    candidates in the same order, ties included (lower beam, then lower token id, first), in a
    fraction of the time over a large vocabulary. One difference: where adding the beam's score
    rounds a beam's distinct log-probabilities to one float (an empty beam at -1e9), the higher
    log-probability, not the lower token id, comes first.
    """
    B, K, M = beam_logp.shape
    cand = (alive_logp[..., None] + beam_logp).reshape(B, K * M)
    top_logp, top_idx = jax.lax.top_k(cand, n)
    token = jnp.take_along_axis(beam_token.reshape(B, -1), top_idx, axis=1).astype(jnp.int32)
    return top_logp, top_idx // M, token


@_search_jit(cpu_options=None, static_argnames=("config", "beam_size", "alpha", "max_len", "eos_id", "convention",
                                                "force_eos"))
def beam_search(params, src: Array, *, config: ModelConfig, beam_size: int = 4, alpha: float = 0.6,
                max_len: int = 0, eos_id: int = EOS_ID, convention: str = "t2t",
                force_eos: bool = False) -> tuple[Array, Array]:
    """Beam search (section 6.1): src [B, S] -> (tokens [B, K, L], scores [B, K]), best first.

    A hypothesis scores log P(Y|X) / lp(|Y|), |Y| counting the EOS. Under "t2t" the search stops
    early once no alive beam can beat the worst finished one of every example (alive scores only
    fall as they grow; lp is largest at L), and examples with fewer than K finished hypotheses
    are completed with alive ones scored at length L. Under "hf" it follows transformers'
    `generate()` (module docstring). L = S + 50 unless `max_len` is given.
    """
    if convention not in CONVENTIONS:
        raise ConfigError(f"beam search convention {convention!r} is not one of {CONVENTIONS}")
    hf = convention == "hf"
    B, K = src.shape[0], beam_size
    L = _within_positions(max_output_length(src.shape[1], max_len), config)
    # One memory row per example for its K adjacent beams ([B*K] cache rows): the encoder-decoder
    # keys and values are stored and read once per example (attention.cached_attention).
    memory, valid = jf.encode(params, src, config=config)
    # Memory keys/values projected once; the self-attention cache grows in stages (_staged_while).
    cache = jf.init_cache(config, B * K, stage_ends(L)[0], params, memory)
    layers = jf.decoder_layers(params, config)  # sliced once, not at every step
    max_lp = length_penalty(L, alpha, convention)
    top_ranks = (jnp.arange(2 * K) < K)[None]  # [1, 2K]: the candidates "hf" lets finish

    def reorder(x, beams):
        """A layer's cache [B*K, ...] -> the same with each example's beams reordered by beams [B, K]."""
        return _gather_beams(x.reshape(B, K, *x.shape[1:]), beams).reshape(x.shape)

    state = dict(
        i=jnp.zeros((), jnp.int32), cache=cache,
        alive_seq=jnp.zeros((B, K, L), jnp.int32),
        alive_logp=jnp.tile(jnp.asarray([0.0] + [_NEG] * (K - 1), jnp.float32)[None], (B, 1)),
        last=jnp.full((B, K), config.pad_id, jnp.int32),
        fin_seq=jnp.zeros((B, K, L), jnp.int32), fin_score=jnp.full((B, K), _NEG, jnp.float32),
        fin_flag=jnp.zeros((B, K), bool),  # which finished slots hold a hypothesis
        open=jnp.ones((B,), bool),  # "hf": the example still takes finished hypotheses
    )

    def cond(s):
        if hf:
            return (s["i"] < L) & jnp.any(s["open"])
        best_alive = s["alive_logp"][:, 0] / max_lp
        worst_finished = jnp.min(s["fin_score"], axis=1)
        return (s["i"] < L) & ~jnp.all(best_alive < worst_finished)

    def body(s):
        i = s["i"]
        logits, cache = jf.decode_step(params, s["cache"], s["last"].reshape(B * K), None, valid, config=config,
                                       layers=layers)
        if force_eos:  # only EOS left: its log-probability is 0
            logits = _forced_eos(logits, eos_id, i == L - 1)
        # "t2t" renormalises over the tokens that may follow; "hf" masks after the softmax.
        beam_logp, beam_token = top_log_probs(logits, min(2 * K, logits.shape[-1]), pad_id=config.pad_id,
                                              pad_in_norm=hf)
        top_logp, beam_idx, token = top_continuations(  # [B, 2K] each
            s["alive_logp"], beam_logp.reshape(B, K, -1), beam_token.reshape(B, K, -1), 2 * K)
        seq = _gather_beams(s["alive_seq"], beam_idx).at[:, :, i].set(token)  # [B, 2K, L]
        ends = token == eos_id
        if hf:  # reaching the length bound ends a hypothesis too
            ends = ends | (i == L - 1)
        # Alive: the best K continuations that did not end.
        alive_logp, keep = jax.lax.top_k(jnp.where(ends, _NEG, top_logp), K)
        alive_seq, alive_beam = _gather_beams(seq, keep), jnp.take_along_axis(beam_idx, keep, axis=1)
        # Only the self-attention keys/values follow the beams; an example's memory ones are the same for all.
        cache = {**cache, **{k: tuple(reorder(x, alive_beam) for x in cache[k]) for k in ("k", "v")}}
        # Finished: the best K among those finished before and those ending now.
        finishing = ends & top_ranks & s["open"][:, None] if hf else ends
        new_score = jnp.where(finishing, top_logp / length_penalty(i + 1, alpha, convention), _NEG)
        all_score = jnp.concatenate([s["fin_score"], new_score], axis=1)
        all_seq = jnp.concatenate([s["fin_seq"], seq], axis=1)
        all_flag = jnp.concatenate([s["fin_flag"], finishing], axis=1)
        fin_score, pick = jax.lax.top_k(all_score, K)
        fin_flag = jnp.take_along_axis(all_flag, pick, axis=1)
        is_open = s["open"]
        if hf:  # can the best alive beam, scored at the current length, beat a finished one?
            best = alive_logp[:, :1] / length_penalty(i + 1, alpha, convention)
            worst = jnp.where(fin_flag, jnp.min(fin_score, axis=1, keepdims=True), _NEG)
            is_open = is_open & jnp.any(best > worst, axis=1)
        # Beam state is laid out like every activation: examples over the batch axes of the mesh.
        return dict(i=i + 1, cache={k: jax.tree.map(lambda a, k=k: constrain(a, jf.CACHE_AXES[k]), x)
                                    for k, x in cache.items()},
                    alive_seq=constrain(alive_seq, ("batch", None, "length")),
                    alive_logp=constrain(alive_logp, ("batch", None)), last=constrain(_gather_beams(token, keep), ("batch", None)),
                    fin_seq=constrain(_gather_beams(all_seq, pick), ("batch", None, "length")),
                    fin_score=constrain(fin_score, ("batch", None)), fin_flag=constrain(fin_flag, ("batch", None)),
                    open=constrain(is_open, ("batch",)))

    s = _staged_while(cond, body, state, L)
    if hf:  # the length bound finished every hypothesis still alive at L
        return s["fin_seq"], s["fin_score"]
    # Complete examples that finished fewer than K hypotheses with the alive ones.
    alive_score = jnp.where(s["alive_logp"] > _NEG / 2, s["alive_logp"] / max_lp, _NEG)
    score = jnp.concatenate([s["fin_score"], alive_score], axis=1)
    seqs = jnp.concatenate([s["fin_seq"], s["alive_seq"]], axis=1)
    best, pick = jax.lax.top_k(score, K)
    return _gather_beams(seqs, pick), best


@_search_jit(static_argnames=("config", "max_len", "eos_id", "top_k"))
def sample(params, src: Array, rng: Array, *, config: ModelConfig, temperature: float = 1.0, top_k: int = 0,
           max_len: int = 0, eos_id: int = EOS_ID) -> Array:
    """Ancestral sampling with temperature and optional top-k: src [B, S] -> tokens [B, L].

    Deterministic in `rng`; temperature -> 0 approaches greedy.
    """
    length = _within_positions(max_output_length(src.shape[1], max_len), config)
    batch = src.shape[0]
    memory, valid = jf.encode(params, src, config=config)
    cache = jf.init_cache(config, batch, stage_ends(length)[0], params, memory)
    layers = jf.decoder_layers(params, config)

    def body(s):
        i = s["i"]
        logits, cache = jf.decode_step(params, s["cache"], s["prev"], None, valid, config=config, layers=layers)
        logits = no_pad(logits, config) / jnp.maximum(temperature, 1e-6)
        if top_k > 0:
            kth = jax.lax.top_k(logits, top_k)[0][:, -1:]
            logits = jnp.where(logits < kth, -jnp.inf, logits)
        token = jax.random.categorical(jax.random.fold_in(rng, i), logits).astype(jnp.int32)
        token = jnp.where(s["done"], config.pad_id, token)
        return dict(i=i + 1, cache=cache, prev=token, out=s["out"].at[:, i].set(token),
                    done=s["done"] | (token == eos_id))

    state = dict(i=jnp.zeros((), jnp.int32), cache=cache, prev=jnp.full((batch,), config.pad_id, jnp.int32),
                 out=jnp.zeros((batch, length), jnp.int32), done=jnp.zeros((batch,), bool))
    return _staged_while(lambda s: (s["i"] < length) & ~jnp.all(s["done"]), body, state, length)["out"]
