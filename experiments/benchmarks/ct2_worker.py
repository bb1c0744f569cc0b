"""One engine's decoding measurements in this process: jaxformer, or CTranslate2 in float32 or
int8, on a model folder prepared by ct2.py (see there)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from experiments.benchmarks.common import median, timed, worker_main


def paper_model(config_path: str, seed: int = 0):
    """(config, params) of the jaxformer-native model: the config in `config_path`, random weights."""
    import jax

    import jaxformer as jf
    from jaxformer.config import ModelConfig, from_dict
    config = from_dict(ModelConfig, json.loads(Path(config_path).read_text()))
    return config, jax.tree_util.tree_map(np.asarray, jf.init(config, jax.random.key(seed)))


def prepare(args: dict[str, Any]) -> dict[str, Any]:
    """Writes the CTranslate2 folder of the jaxformer-native model (our params through the spec API)."""
    from experiments.benchmarks import ct2_convert
    config, params = paper_model(args["config"])
    tokens = ["<pad>", "</s>", "<unk>"] + [f"▁w{i}" for i in range(3, config.vocab_size)]
    ct2_convert.save(ct2_convert.spec(config, params, tokens), args["ct2"])
    return {"tokens": tokens}


def jax_decode(args: dict[str, Any]) -> dict[str, Any]:
    """Our greedy / beam search on each case's sources; beam uses the GNMT length penalty (t2t), as
    CTranslate2 does by default."""
    import jax
    import jax.numpy as jnp

    from jaxformer import decode

    if args["kind"] == "marian":
        from jaxformer.pretrained import from_marian
        config, params, _ = from_marian(args["folder"])
    else:
        config, params = paper_model(args["config"])
    marian = args["kind"] == "marian"
    L = args["out_len"] + 1 if marian else args["out_len"]  # Marian: the forced EOS is one more step
    results = []
    for case in args["cases"]:
        src = jnp.asarray(np.asarray(case["ids"], np.int32))
        if case["beam"] == 1:
            fn = lambda: decode.greedy(params, src, config=config, max_len=L, force_eos=marian)
        else:
            fn = lambda: decode.beam_search(params, src, config=config, beam_size=case["beam"], alpha=args["alpha"],
                                            max_len=L, convention="t2t", force_eos=marian)[0][:, 0]
        t0 = time.perf_counter()
        out = np.asarray(jax.block_until_ready(fn()))
        first = time.perf_counter() - t0
        times = timed(lambda: jax.block_until_ready(fn()), warmup=0, steps=case["repeats"],
                      min_seconds=case["min_seconds"])
        rows = []
        for r in out.tolist():
            r = r[:r.index(1)] if 1 in r else r  # our EOS is 1, pad 0
            rows.append([t for t in r if t != 0])
        results.append({"call_s": median(times), "times": times, "first_call_s": first, "ids": rows})
    return {"cases": results}


def ct2_decode(args: dict[str, Any]) -> dict[str, Any]:
    import ctranslate2

    tr = ctranslate2.Translator(args["ct2"], device="cpu", compute_type=args["compute_type"], inter_threads=1,
                                intra_threads=args["threads"])
    suppress = None if args["kind"] == "marian" else [["<pad>"]]  # the Marian conversion drops <pad>
    results = []
    for case in args["cases"]:
        src = case["pieces"]

        def fn():
            return tr.translate_batch(src, beam_size=case["beam"], length_penalty=args["alpha"],
                                      max_decoding_length=args["out_len"], suppress_sequences=suppress,
                                      max_batch_size=0)

        t0 = time.perf_counter()
        out = fn()
        first = time.perf_counter() - t0
        times = timed(fn, warmup=0, steps=case["repeats"], min_seconds=case["min_seconds"])
        results.append({"call_s": median(times), "times": times, "first_call_s": first,
                        "pieces": [r.hypotheses[0] for r in out]})
    return {"cases": results, "version": ctranslate2.__version__}


def run(args: dict[str, Any]) -> dict[str, Any]:
    if args["engine"] == "prepare":
        return prepare(args)
    return jax_decode(args) if args["engine"] == "jaxformer" else ct2_decode(args)


if __name__ == "__main__":
    worker_main(run)
