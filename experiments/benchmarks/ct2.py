"""Decoding against CTranslate2, the engine people deploy, on the same weights, in one run:
jaxformer against CTranslate2 float32 and int8, each in its own process held to the same threads.

    python -m experiments.benchmarks.ct2 [--models base multi30k] [--batches 1 32] [--threads 2]

Two models, both with random untrained weights (so every output runs to `--out-len` tokens and
each engine does the same number of steps):
- `base`: opus-mt-en-de's shape (d_model 512, 6+6 layers, 8 heads, FFN 2048, SiLU, 58,101-entry
  vocabulary) as a Hugging Face Marian folder (`marian_reference.build`), imported by
  `jaxformer.pretrained.from_marian` and converted by CTranslate2's own `TransformersConverter`;
  sources are generated English sentences of 3-9 words.
- `multi30k`: the model of experiments/multi30k_ende.py (paper mode: post-LN, ReLU, interleaved
  sinusoids; 4+4 layers, d_model 128, 6,000 pieces), jaxformer's params written into CTranslate2
  through its spec API (`ct2_convert.spec`); sources are random ids of 8-20 tokens.

Before any figure counts, the outputs are compared token for token: greedy must agree on every
sentence (the same weights compute the same model); beam 4 (GNMT length penalty, alpha 0.6, in
both) is reported as agreeing sentences, since CTranslate2 ends an example's search as soon as its
best beam finishes while ours keeps looking while an alive beam can still win. Target tokens/s
are medians over repeated calls after one warm-up call (jaxformer's includes its compilation,
reported apart): at least 3 (5 at batch 1), and as many more as fill 3 seconds (MIN_SECONDS).
Utilisation: the decoding's matmul FLOPs per second (`decode_flops`) over a float32 2048^3
`jnp.dot` measured in the same run. Needs the `marian` and `bench` extras.
Writes experiments/results/benchmarks/ct2.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from experiments.benchmarks.common import ROOT, median, run_worker, table, write_json

WORKER = "experiments.benchmarks.ct2_worker"
ENGINES = (("jaxformer", None), ("ct2", "float32"), ("ct2", "int8"))
MIN_SECONDS = 3.0  # timed calls per case and engine: a small model's call takes a few milliseconds


def decode_flops(layers: tuple[int, int], D: int, F: int, V: int, src_len: int, out_len: int, beam: int) -> float:
    """Matmul FLOPs of decoding one sentence with a cache (2 per multiply-add): the encoder over S
    tokens, the cross-attention keys and values once, then per output token and hypothesis the
    decoder's projections, attention over the t cached and S source positions, and the output
    projection. Softmax, top-k and cache copies count 0."""
    enc, dec = layers
    S = src_len
    flops = enc * S * (8 * D * D + 4 * D * F + 4 * S * D) + dec * S * 4 * D * D
    for t in range(1, out_len + 1):
        flops += beam * (dec * (12 * D * D + 4 * D * F + 4 * t * D + 4 * S * D) + 2 * D * V)
    return float(flops)


def _marian_model(a, folder: Path) -> dict:
    from experiments.benchmarks.marian_reference import build, sentences
    from jaxformer.data.marian_tokenizer import MarianTokenizer

    hf = folder / "hf"
    if not (hf / "config.json").is_file():
        build(hf, d_model=512, layers=6, heads=8, ffn=2048, min_vocab=58101, train_steps=0, max_length=a.out_len + 1)
    ct2 = folder / "ct2"
    if not (ct2 / "model.bin").is_file():
        import ctranslate2
        ctranslate2.converters.TransformersConverter(str(hf)).convert(str(ct2), force=True)
    tok = MarianTokenizer.from_files(hf)
    texts = sentences(max(a.batches), seed=99)[0]
    ids = [list(map(int, tok.encode(t))) for t in texts]
    hf_config = json.loads((hf / "config.json").read_text())
    return {"kind": "marian", "folder": str(hf), "ct2": str(ct2), "ids": ids,
            "pieces": [tok.pieces(x) for x in ids], "decode_piece": tok.pieces,
            "shape": ((6, 6), 512, 2048, hf_config["vocab_size"])}


def _paper_model(a, folder: Path) -> dict:
    from experiments.multi30k_ende import get_config
    from jaxformer.config import to_dict

    config = get_config().model
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(to_dict(config)))
    ct2 = folder / "ct2"
    prep = run_worker(WORKER, {"engine": "prepare", "config": str(folder / "config.json"), "ct2": str(ct2)},
                      threads=a.threads)
    tokens = prep["tokens"]
    rng = np.random.default_rng(99)
    ids = [list(map(int, rng.integers(3, config.vocab_size, int(n)))) + [1]
           for n in rng.integers(8, 21, max(a.batches))]
    return {"kind": "paper", "config": str(folder / "config.json"), "ct2": str(ct2), "ids": ids,
            "pieces": [[tokens[i] for i in x] for x in ids], "decode_piece": lambda x: [tokens[i] for i in x],
            "shape": ((config.num_encoder_layers, config.num_decoder_layers), config.d_model, config.d_ff,
                      config.vocab_size)}


def _cases(model: dict, batches: list[int], beams: list[int]) -> list[dict]:
    cases = []
    for batch in batches:
        ids = model["ids"][:batch]
        width = max(map(len, ids))
        padded = [x + [0] * (width - len(x)) for x in ids]
        for beam in beams:
            cases.append({"batch": batch, "beam": beam, "ids": padded, "pieces": model["pieces"][:batch],
                          "repeats": 5 if batch == 1 else 3, "min_seconds": MIN_SECONDS})
    return cases


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["base", "multi30k"], choices=["base", "multi30k"])
    p.add_argument("--batches", nargs="+", type=int, default=[1, 32])
    p.add_argument("--beams", nargs="+", type=int, default=[1, 4])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out-len", type=int, default=32)
    p.add_argument("--alpha", type=float, default=0.6)
    p.add_argument("--folder", default=str(ROOT / "workdir" / "bench_ct2"))
    a = p.parse_args(argv)
    peak = run_worker("experiments.benchmarks.ct2_peak", {}, threads=a.threads)["matmul_flops_per_s"]
    print(f"jnp.dot float32 2048^3 on {a.threads} threads: {peak / 1e9:.1f} GFLOP/s", flush=True)
    rows, versions = [], {}
    for name in a.models:
        model = (_marian_model if name == "base" else _paper_model)(a, Path(a.folder) / name)
        cases = _cases(model, a.batches, a.beams)
        base_args = {k: model[k] for k in ("kind", "ct2") if k in model}
        base_args.update({k: model[k] for k in ("folder", "config") if k in model})
        base_args.update(out_len=a.out_len, alpha=a.alpha, threads=a.threads, cases=cases)
        runs = {}
        for engine, compute in ENGINES:
            out = run_worker(WORKER, {**base_args, "engine": engine, "compute_type": compute}, threads=a.threads)
            runs[compute or engine] = out["cases"]
            if out.get("version"):  # the CTranslate2 workers report it, jaxformer's does not
                versions["ctranslate2"] = out["version"]
        for i, case in enumerate(cases):
            ours = [model["decode_piece"](x) for x in runs["jaxformer"][i]["ids"]]
            f32, i8 = runs["float32"][i]["pieces"], runs["int8"][i]["pieces"]
            same = sum(x == y for x, y in zip(ours, f32))
            same_i8 = sum(x == y for x, y in zip(f32, i8))
            if case["beam"] == 1 and same != case["batch"]:
                raise SystemExit(f"{name}: greedy outputs differ for {case['batch'] - same} of {case['batch']} "
                                 "sentences: the two engines do not hold the same model; nothing timed counts")
            tokens = [sum(map(len, o)) for o in (ours, f32, i8)]
            src_len = [len(x) for x in model["ids"][:case["batch"]]]
            flops = [sum(decode_flops(*model["shape"][:1], *model["shape"][1:], s, len(o), case["beam"])
                         for s, o in zip(src_len, out)) for out in (ours, f32, i8)]
            secs = [runs[k][i]["call_s"] for k in ("jaxformer", "float32", "int8")]
            row = dict(model=name, batch=case["batch"], search="greedy" if case["beam"] == 1 else f"beam {case['beam']}",
                       same=f"{same}/{case['batch']}", same_i8=f"{same_i8}/{case['batch']}",
                       jax_tok_s=tokens[0] / secs[0], f32_tok_s=tokens[1] / secs[1], i8_tok_s=tokens[2] / secs[2],
                       ratio_f32=(tokens[0] / secs[0]) / (tokens[1] / secs[1]),
                       jax_util=flops[0] / secs[0] / peak, f32_util=flops[1] / secs[1] / peak,
                       compile_s=runs["jaxformer"][i]["first_call_s"] - secs[0],
                       times={k: runs[k][i]["times"] for k in runs})
            rows.append(row)
            print(f"  {name} batch {row['batch']} {row['search']}: same output {row['same']}; target tokens/s "
                  f"jaxformer {row['jax_tok_s']:,.0f}, ct2 float32 {row['f32_tok_s']:,.0f}, int8 {row['i8_tok_s']:,.0f}",
                  flush=True)
    print(table(rows, [("model", "model", ""), ("batch", "batch", "d"), ("search", "search", ""),
                       ("same", "same as ct2 f32", ""), ("jax_tok_s", "jaxformer tok/s", ",.0f"),
                       ("f32_tok_s", "ct2 f32 tok/s", ",.0f"), ("i8_tok_s", "ct2 int8 tok/s", ",.0f"),
                       ("ratio_f32", "jaxformer / ct2 f32", ".2f"), ("jax_util", "jaxformer of jnp.dot", ".1%"),
                       ("f32_util", "ct2 f32 of jnp.dot", ".1%"), ("compile_s", "jaxformer compile s", ".1f")]))
    target = [r for r in rows if r["model"] == "base" and r["batch"] == 32 and r["search"] == "beam 4"]
    for r in target:
        verdict = "met" if r["ratio_f32"] >= 1 else f"not met ({r['ratio_f32']:.2f}x)"
        print(f"target: base beam 4 batch 32 at or above CTranslate2 float32: {verdict}")
    path = write_json("ct2", {"command": "python -m experiments.benchmarks.ct2 " + " ".join(
        sys.argv[1:] if argv is None else argv), "threads": a.threads, "out_len": a.out_len, "alpha": a.alpha,
        "matmul_flops_per_s": peak, "versions": versions, "rows": rows})
    print(f"wrote {path}")
    return rows


if __name__ == "__main__":
    main()
