"""The `jaxformer` command: train, prepare, translate, evaluate, average, import-marian, export, smoke.

Every error the user can fix is one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import faulthandler
import os
import sys
import time

from jaxformer.config import ConfigError
from jaxformer.hostmem import keep_host_buffers


def _smoke(args: argparse.Namespace) -> None:
    """Trains a model on a synthetic copy task for a few steps with the real train step, then
    translates new examples with `jaxformer.translate` (greedy, the decoding cache): the training
    and decoding paths of a real run, end to end, without data files."""
    import jax
    import numpy as np

    import jaxformer as jf
    from jaxformer import sharding, train, translate
    from jaxformer.config import ExperimentConfig, MeshConfig, TrainConfig
    from jaxformer.data.tokenizer import EOS_ID

    @dataclasses.dataclass(frozen=True)
    class Smoke:
        model: jf.ModelConfig = jf.preset(args.preset, vocab_size=32, dropout_rate=0.0)
        steps: int = args.steps
        batch_size: int = 32
        length: int = 10
        learning_rate: float = 3e-3

    cfg = jf.apply_overrides(Smoke(), args.set or [])
    model = cfg.model
    exp = ExperimentConfig(model=model, mesh=MeshConfig(data=-1), train=TrainConfig(
        num_steps=cfg.steps, schedule="constant", peak_learning_rate=cfg.learning_rate, label_smoothing=0.0,
        max_decode_length=cfg.length))
    rng = np.random.default_rng(0)

    def examples(n: int) -> np.ndarray:
        """[n, length] rows of 2 to length-1 random tokens, then EOS, then padding."""
        src = np.zeros((n, cfg.length), np.int32)
        for i, k in enumerate(rng.integers(2, cfg.length, size=n)):
            src[i, :k] = rng.integers(EOS_ID + 1, model.vocab_size, size=k)
            src[i, k] = EOS_ID
        return src

    mesh = sharding.make_mesh(exp.mesh.data, exp.mesh.fsdp, exp.mesh.tensor)
    step, _, shard = train.compile_steps(exp, mesh)
    state = jax.jit(lambda: train.init_state(exp), out_shardings=shard)()
    print(f"model: {jf.param_count(model):,} parameters, {model.num_encoder_layers}+{model.num_decoder_layers} "
          f"layers, d_model={model.d_model}; devices: {jax.devices()}")
    start = time.perf_counter()
    with sharding.use_rules(mesh, exp.mesh.rules):
        for i in range(1, cfg.steps + 1):
            src = examples(cfg.batch_size)  # the task: copy the source
            batch = sharding.global_batch({"inputs": src, "targets": src}, mesh, exp.mesh.rules)
            state, metrics = step(state, batch, 0.0)
            if i == 1 or i % max(1, cfg.steps // 10) == 0 or i == cfg.steps:
                seconds = time.perf_counter() - start
                print(f"step {i:4d}  loss {float(metrics['loss']):.4f}  ({seconds:.1f}s)", flush=True)

    def upto_eos(ids: np.ndarray) -> np.ndarray:
        ends = np.flatnonzero(ids == EOS_ID)
        return ids[: ends[0]] if ends.size else ids

    src = [np.append(upto_eos(row), EOS_ID).astype(np.int32) for row in examples(4)]
    out = translate.translate_ids(state.params, src, model=model, search=translate.Search.of(exp.train, beam_size=1),
                                  batch_size=cfg.batch_size, mesh=mesh, rules=exp.mesh.rules)
    exact = float(np.mean([np.array_equal(o[: len(s)], s) for s, o in zip(src, out)]))
    for s, o in zip(src[:2], out[:2]):
        print(f"source {s[:-1].tolist()}\n greedy {upto_eos(o).tolist()}")
    print(f"final loss {float(metrics['loss']):.4f}; greedy exact-copy rate on 4 new examples: {exact:.2f}")


def load_experiment(path: str | None, overrides: list[str] | None):
    """The experiment of a config file (a Python file with get_config()), or the embedded default."""
    import importlib.util
    from pathlib import Path

    from jaxformer.config import ExperimentConfig, apply_overrides
    from jaxformer.default import default_experiment

    if path is None:
        exp = default_experiment()
    else:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"config file {path} does not exist; see experiments/ for examples")
        spec = importlib.util.spec_from_file_location(f"jaxformer_experiment_{file.stem}", file)
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(file.parent.absolute()))  # configs may import their neighbours
        try:
            spec.loader.exec_module(module)
        except SyntaxError as e:
            raise ConfigError(f"{e.filename or path} line {e.lineno}: {e.msg} (a Python syntax error in the "
                              "config file); fix that line") from None
        finally:
            sys.path.pop(0)
        if not hasattr(module, "get_config"):
            raise ConfigError(f"{path} defines no get_config(); it must return an ExperimentConfig")
        exp = module.get_config()
        if not isinstance(exp, ExperimentConfig):
            raise ConfigError(f"{path}: get_config() returned {type(exp).__name__}, not an ExperimentConfig")
    return apply_overrides(exp, overrides or [])


def _distributed(args: argparse.Namespace) -> None:
    """Joins a multi-process run: explicit coordinator flags, or automatic on Cloud TPU."""
    import jax

    if args.coordinator:
        # CPU processes need a collectives backend to talk to each other (GPU and TPU ignore this).
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(args.coordinator, num_processes=args.num_processes, process_id=args.process_id)
    elif args.distributed:
        jax.distributed.initialize()


def _train(args: argparse.Namespace) -> None:
    from pathlib import Path

    from jaxformer import checkpoint, compile_cache, loop
    from jaxformer.config import apply_overrides

    if args.config is None and (Path(args.workdir) / checkpoint.CONFIG_FILE).is_file():
        # No --config: the workdir's own run (a resume, or fine-tuning an imported model).
        exp = apply_overrides(checkpoint.read_config(args.workdir), args.set or [])
    else:
        exp = load_experiment(args.config, args.set)
    _distributed(args)
    compile_cache.enable(args.workdir)  # a resume loads its step instead of compiling it again
    loop.run(exp, args.workdir)


def _prepare(args: argparse.Namespace) -> None:
    """Builds the dataset, tokenizer and length cache once (what `train` would do first), so that
    a cluster can copy one prepared data folder to every host."""
    from jaxformer.data import pipeline

    exp = load_experiment(args.config, args.set)
    prep = pipeline.prepare(exp.data)
    sizes = ", ".join(f"{name} {len(src):,}" for name, src in prep.sources.items())
    print(f"prepared {exp.data.dataset} ({sizes} pairs; {len(prep.train_keep):,} training pairs within "
          f"max_length={exp.data.max_length}) and its tokenizer in {prep.directory}")


def _read_lines(path: str | None, what: str) -> list[str]:
    """Lines of a file (or stdin for None / "-"); non-UTF-8 input is a one-line error."""
    from jaxformer.data.text import decode_lines
    data = sys.stdin.buffer.read() if path in (None, "-") else _read_bytes(path, what)
    return decode_lines(data, what)


def _read_bytes(path: str, what: str) -> bytes:
    from pathlib import Path
    if not Path(path).is_file():
        raise ConfigError(f"{what} file {path} does not exist")
    return Path(path).read_bytes()


def _check_writable(path: str | os.PathLike, what: str, *, folder: bool = False) -> None:
    """Fails before any translation work when `path` cannot be written at the end: a missing or
    read-only folder, or a directory where a file goes. With `folder`, `path` is a folder that
    may still have to be made."""
    import tempfile
    from pathlib import Path
    path = Path(path)
    if folder and path.is_dir():
        parent = path
    elif folder and path.exists():
        raise ConfigError(f"{what} {path} is a file, not a folder; move it away")
    elif not folder and path.is_dir():
        raise ConfigError(f"{what} {path} is a directory; give a file path")
    else:
        parent = path.parent
    if not parent.is_dir():
        raise ConfigError(f"{what} {path}: the folder {parent} does not exist; create it or choose another path")
    try:
        with tempfile.TemporaryFile(dir=parent):
            pass
        if not folder and path.exists() and not os.access(path, os.W_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as e:
        raise ConfigError(f"{what} {path} cannot be written ({e.strerror}); choose another path") from None


def _translator(args: argparse.Namespace):
    from jaxformer import compile_cache, inference
    for flag, value, low in (("--beam-size", args.beam_size, 1), ("--batch-size", args.batch_size, 1),
                             ("--max-input-tokens", args.max_input_tokens, 2), ("--alpha", args.alpha, 0)):
        if value is not None and not value >= low:
            raise ConfigError(f"{flag} {value} must be >= {low}")
    compile_cache.enable(args.workdir)  # before anything compiles: JAX decides once
    return inference.load(args.workdir, which=args.checkpoint, beam_size=args.beam_size, alpha=args.alpha,
                          batch_size=args.batch_size, max_input_tokens=args.max_input_tokens)


def _cache_summary() -> None:
    from jaxformer import compile_cache
    if line := compile_cache.summary():
        print(f"jaxformer: {line}", file=sys.stderr)


def _translate(args: argparse.Namespace) -> None:
    if args.output not in (None, "-"):
        _check_writable(args.output, "--output")
    translator = _translator(args)  # a bad workdir fails before any input is read
    out = translator.translate(_read_lines(args.input, "input"))
    _cache_summary()
    text = "".join(line + "\n" for line in out)
    if args.output in (None, "-"):
        sys.stdout.write(text)
    else:
        from pathlib import Path
        Path(args.output).write_text(text, encoding="utf-8")


def _evaluate(args: argparse.Namespace) -> None:
    import json
    from pathlib import Path

    from jaxformer import evaluate
    translator = _translator(args)
    exp = translator.exp
    _check_writable(Path(args.workdir) / "eval", "the results folder", folder=True)
    if args.source or args.reference:
        if not (args.source and args.reference):
            raise ConfigError("--source and --reference go together")
        sources, references = _read_lines(args.source, "source"), _read_lines(args.reference, "reference")
        if len(sources) != len(references):
            raise ConfigError(f"{args.source} has {len(sources)} lines but {args.reference} has {len(references)}")
        name = Path(args.source).name
    else:
        from jaxformer.data import pipeline
        prep = pipeline.prepare(exp.data, log=lambda msg: print(msg, file=sys.stderr))
        split = args.split or exp.data.test_split
        (sources, references), name = pipeline.split_texts(prep, split), split
    hyps = translator.translate(sources)
    _cache_summary()
    result = evaluate.scores(hyps, references, target_lang=exp.data.target_lang)
    result.update(sentences=len(hyps), checkpoint=translator.source, beam_size=translator.beam_size,
                  alpha=translator.alpha, data=name)
    out_dir = Path(args.workdir) / "eval"
    out_dir.mkdir(exist_ok=True)
    tag = f"{name}.{args.checkpoint}.beam{translator.beam_size}"
    (out_dir / f"{tag}.hyp").write_text("".join(h + "\n" for h in hyps), encoding="utf-8")
    (out_dir / f"{tag}.json").write_text(json.dumps(result, indent=2))
    print(f"{name}: {len(hyps)} sentences, {translator.source}, beam {translator.beam_size}, alpha {translator.alpha}")
    print(f"sacreBLEU {result['bleu']:.2f}  ({result['bleu_signature']})")
    print(f"chrF      {result['chrf']:.2f}  ({result['chrf_signature']})")
    print(f"tokenized BLEU {result['tok_bleu']:.2f}  (the paper's method: {result['tok_bleu_method']}; not comparable "
          "with sacreBLEU)")
    print(f"hypotheses and scores: {out_dir / tag}.hyp / .json")


def _average(args: argparse.Namespace) -> None:
    from jaxformer import inference
    steps, path = inference.average_checkpoints(args.workdir, args.last)
    print(f"averaged steps {steps} -> {path} (use --checkpoint averaged)")


def _import_marian(args: argparse.Namespace) -> None:
    from jaxformer.pretrained.importer import import_marian
    import_marian(args.model_dir, args.workdir, args.set)
    print(f"next: jaxformer translate --workdir {args.workdir}  (or evaluate; fine-tune with jaxformer train "
          f"--workdir {args.workdir} --set data.dataset=files --set \"data.files=(('train', ('PREFIX',)),)\")")


def _export(args: argparse.Namespace) -> None:
    from jaxformer.export import export_workdir
    export_workdir(args.workdir, args.out, which=args.checkpoint, beam_size=args.beam_size, alpha=args.alpha)


def _add_decoding_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workdir", required=True)
    p.add_argument("--checkpoint", default="latest", help="latest, best, ema, averaged, or a step number")
    p.add_argument("--beam-size", type=int, help="1 = greedy; default: the run's train.test_beam_size (the paper: 4)")
    p.add_argument("--alpha", type=float, help="length penalty; default: the run's train.beam_alpha (the paper: 0.6)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-input-tokens", type=int, default=256, help="longer inputs are cut (and counted)")


def main(argv: list[str] | None = None) -> int:
    if not faulthandler.is_enabled():  # a crash in native code prints every thread's Python stack
        faulthandler.enable(sys.__stderr__)
    parser = argparse.ArgumentParser(prog="jaxformer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train (or resume) an experiment in a workdir")
    tr.add_argument("--config", help="experiments/NAME.py (a get_config() file); default: the workdir's own "
                    "config.json if it has one, else the embedded default")
    tr.add_argument("--workdir", required=True, help="checkpoints, metrics, config and tokenizer go here")
    tr.add_argument("--set", action="append", metavar="KEY=VALUE", help="dotted override, e.g. --set train.num_steps=100")
    tr.add_argument("--coordinator", help="multi-process: coordinator address host:port")
    tr.add_argument("--num-processes", type=int, default=None)
    tr.add_argument("--process-id", type=int, default=None)
    tr.add_argument("--distributed", action="store_true", help="jax.distributed.initialize() from the environment (Cloud TPU)")
    pr = sub.add_parser("prepare", help="build the dataset and tokenizer of an experiment once (no training)")
    pr.add_argument("--config", help="experiments/NAME.py (default: the embedded default)")
    pr.add_argument("--set", action="append", metavar="KEY=VALUE", help="dotted override, e.g. --set data.data_dir=/data")
    tl = sub.add_parser("translate", help="translate lines from stdin or a file, in input order")
    _add_decoding_flags(tl)
    tl.add_argument("--input", help="source file (default: stdin)")
    tl.add_argument("--output", help="output file (default: stdout)")
    ev = sub.add_parser("evaluate", help="translate a split (or files) and score it: sacreBLEU, chrF, tokenized BLEU")
    _add_decoding_flags(ev)
    ev.add_argument("--split", help="a split of the run's dataset (default: its test split)")
    ev.add_argument("--source", help="or: a source file ...")
    ev.add_argument("--reference", help="... and its reference file")
    av = sub.add_parser("average", help="average the last N checkpoints into workdir/averaged")
    av.add_argument("--workdir", required=True)
    av.add_argument("--last", type=int, default=5, help="the paper: 5 for base, 20 for big")
    im = sub.add_parser("import-marian", help="convert a local OPUS-MT / Marian model folder into a workdir")
    im.add_argument("--model-dir", required=True, help="a Hugging Face Marian folder: config.json, model.safetensors "
                    "or pytorch_model.bin, source.spm, target.spm, vocab.json")
    im.add_argument("--workdir", required=True, help="the new workdir (config.json, tokenizer/, checkpoints/)")
    im.add_argument("--set", action="append", metavar="KEY=VALUE", help="dotted override of the imported run's "
                    "config, e.g. --set train.test_beam_size=6")
    ex = sub.add_parser("export", help="the search and encoder as jax.export artifacts, with a loader that "
                        "needs only jax and sentencepiece")
    ex.add_argument("--workdir", required=True)
    ex.add_argument("--out", required=True, help="the export folder (written whole, replacing an earlier export)")
    ex.add_argument("--checkpoint", default="latest", help="latest, best, ema, averaged, or a step number")
    ex.add_argument("--beam-size", type=int, help="1 = greedy; default: the run's train.test_beam_size")
    ex.add_argument("--alpha", type=float, help="length penalty; default: the run's train.beam_alpha")
    smoke = sub.add_parser("smoke", help="train a tiny model on a copy task and decode it (a minute on CPU)")
    smoke.add_argument("--preset", default="tiny", help="model preset: tiny, base or big")
    smoke.add_argument("--steps", type=int, default=600)
    smoke.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="dotted override, e.g. --set model.norm=pre --set learning_rate=1e-3")
    args = parser.parse_args(argv)
    keep_host_buffers()  # before JAX starts its CPU backend
    from absl import logging as absl_logging
    absl_logging.set_verbosity(absl_logging.ERROR)  # tfds / Orbax chatter; errors still show
    try:
        {"smoke": _smoke, "train": _train, "translate": _translate, "evaluate": _evaluate,
         "average": _average, "prepare": _prepare, "import-marian": _import_marian,
         "export": _export}[args.command](args)
    except ConfigError as e:
        print(f"jaxformer: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("jaxformer: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
