"""One decoding-speed measurement in this process (see decode.py, which runs it)."""

from __future__ import annotations

from typing import Any

import numpy as np

from experiments.benchmarks.common import SHAPES, median, timed, worker_main
from experiments.benchmarks.train_worker import model_config


def sources(vocab: int, batch: int, length: int) -> np.ndarray:
    return np.random.default_rng(0).integers(2, vocab, (batch, length), dtype=np.int32)


def jax_decode(args: dict[str, Any]) -> dict[str, Any]:
    import time

    import jax

    import jaxformer as jf
    from jaxformer import decode

    s = SHAPES[args["shape"]]
    cfg = model_config(s)
    params = jf.init(cfg, jax.random.key(0))
    src = jax.numpy.asarray(sources(s.vocab, args["batch"], args["src_len"]))
    L = args["out_len"]
    if args["mode"] == "greedy":  # eos_id=-1: no token ends a sentence, so every run makes exactly L tokens
        fn = lambda: decode.greedy(params, src, config=cfg, max_len=L, eos_id=-1)
    else:
        fn = lambda: decode.beam_search(params, src, config=cfg, beam_size=args["beam"], max_len=L, eos_id=-1)
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - t0
    times = timed(lambda: jax.block_until_ready(fn()), warmup=0, steps=args["repeats"])
    return {"call_s": median(times), "times": times, "first_call_s": first}


def torch_decode(args: dict[str, Any]) -> dict[str, Any]:
    import torch

    from experiments.benchmarks.torch_peer import PeerTransformer, beam_search, greedy

    torch.set_num_threads(args.get("threads", 2))
    torch.manual_seed(0)
    s = SHAPES[args["shape"]]
    model = PeerTransformer(s).eval()
    src = torch.from_numpy(sources(s.vocab, args["batch"], args["src_len"])).long()
    L = args["out_len"]
    if args["mode"] == "greedy":
        fn = lambda: greedy(model, src, L)
    else:
        fn = lambda: beam_search(model, src, L, beam=args["beam"])
    times = timed(fn, warmup=1, steps=args["repeats"])
    return {"call_s": median(times), "times": times}


def main(args: dict[str, Any]) -> dict[str, Any]:
    return jax_decode(args) if args["framework"] == "jaxformer" else torch_decode(args)


if __name__ == "__main__":
    worker_main(main)
