"""One Marian decoding measurement in this process, in jaxformer or transformers (see marian.py)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from experiments.benchmarks.common import median, timed, worker_main


def _sources(folder: str, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """(checkpoint ids [B, S] padded with its pad, mask) of `batch` generated sentences."""
    from experiments.benchmarks.marian_reference import sentences
    from jaxformer.data.marian_tokenizer import MarianTokenizer

    tok = MarianTokenizer.from_files(folder)
    ids = [tok.encode(t) for t in sentences(batch, seed=99)[0]]
    ours = np.zeros((batch, max(map(len, ids))), np.int32)
    for i, x in enumerate(ids):
        ours[i, :len(x)] = x
    return tok.to_marian(ours), ours != 0


def jax_decode(args: dict[str, Any]) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp

    from jaxformer import decode
    from jaxformer.pretrained import from_marian

    config, params, tok = from_marian(args["folder"])
    ids, _ = _sources(args["folder"], args["batch"])
    src = jnp.asarray(tok.from_marian(ids).astype(np.int32))
    L = args["out_len"]
    if args["beam"] == 1:
        fn = lambda: decode.greedy(params, src, config=config, max_len=L, force_eos=True)
    else:
        fn = lambda: decode.beam_search(params, src, config=config, beam_size=args["beam"], alpha=1.0, max_len=L,
                                        convention="hf", force_eos=True)[0][:, 0]
    t0 = time.perf_counter()
    out = np.asarray(jax.block_until_ready(fn()))
    first = time.perf_counter() - t0
    times = timed(lambda: jax.block_until_ready(fn()), warmup=0, steps=args["repeats"])
    rows = [[int(t) for t in tok.to_marian(r)] for r in out]
    return {"call_s": median(times), "times": times, "first_call_s": first, "tokens": rows}


def hf_decode(args: dict[str, Any]) -> dict[str, Any]:
    import torch
    from transformers import MarianMTModel

    torch.set_num_threads(args["threads"])
    model = MarianMTModel.from_pretrained(args["folder"]).eval()
    ids, mask = _sources(args["folder"], args["batch"])
    src, mask = torch.tensor(ids), torch.tensor(mask)

    def fn():
        with torch.inference_mode():
            return model.generate(input_ids=src, attention_mask=mask, num_beams=args["beam"],
                                  max_length=args["out_len"] + 1)

    t0 = time.perf_counter()
    out = fn().numpy()
    first = time.perf_counter() - t0
    times = timed(fn, warmup=0, steps=args["repeats"])
    return {"call_s": median(times), "times": times, "first_call_s": first, "tokens": out[:, 1:].tolist()}


if __name__ == "__main__":
    worker_main(lambda a: jax_decode(a) if a["framework"] == "jaxformer" else hf_decode(a))
