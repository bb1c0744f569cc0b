"""`jaxformer import-marian`: a Marian folder -> a normal, self-describing workdir (config.json,
tokenizer/, an Orbax checkpoint at step 0), which translate, evaluate, average and train use
unchanged. `train` on it fine-tunes from the imported parameters with a fresh optimiser."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp

from jaxformer import checkpoint, train
from jaxformer.config import ConfigError, DataConfig, ExperimentConfig, TokenizerConfig, TrainConfig, apply_overrides
from jaxformer.data.tokenizer import WORKDIR_FOLDER, save_to_workdir
from jaxformer.pretrained.marian import MarianModel, read_marian


def experiment(model: MarianModel, workdir: Path, name: str) -> ExperimentConfig:
    """The imported model's experiment: its generation defaults as the decoding options, its
    tokenizer fixed, and a fine-tuning schedule (HF's: linear decay from 5e-5, no warm-up)."""
    gen = model.generation
    data = DataConfig(source_lang=model.source_lang or "en", target_lang=model.target_lang or "de",
                      tokenizer=TokenizerConfig(pretrained=str(workdir / WORKDIR_FOLDER)),
                      max_length=min(256, model.config.max_len), pack_length=min(256, model.config.max_len))
    tr = TrainConfig(num_steps=10_000, schedule="linear_decay", warmup_steps=0, peak_learning_rate=5e-5,
                     eval_every=1000, checkpoint_every=1000, test_beam_size=max(1, gen.num_beams),
                     beam_alpha=gen.length_penalty, max_decode_length=max(1, gen.max_length - 1),
                     search_convention="hf", force_eos=gen.force_eos)
    return ExperimentConfig(name=name, model=model.config, data=data, train=tr)


def import_marian(model_dir: str | Path, workdir: str | Path, overrides: list[str] | None = None,
                  *, log=print) -> ExperimentConfig:
    """Converts the Marian model in `model_dir` into the workdir `workdir` (which must hold no checkpoints)."""
    workdir = Path(workdir).absolute()
    if (workdir / "checkpoints").exists() and any((workdir / "checkpoints").iterdir()):
        raise ConfigError(f"{workdir} already holds checkpoints; import into a new --workdir")
    model = read_marian(model_dir)
    exp = apply_overrides(experiment(model, workdir, f"marian:{Path(model_dir).absolute().name}"), overrides or [])
    if exp.model != model.config and any(getattr(exp.model, f.name) != getattr(model.config, f.name)
                                         for f in dataclasses.fields(exp.model)
                                         if f.name not in checkpoint.RUNTIME_FIELDS):
        raise ConfigError("--set may change only how the imported model runs (model." +
                          ", model.".join(checkpoint.RUNTIME_FIELDS) + "), data and train options, not its shape")
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create the workdir {workdir} ({e.strerror}); choose another --workdir") from None
    save_to_workdir(model.tokenizer, workdir)
    checkpoint.write_config(workdir, exp)
    state = train.state_from_params(exp, jax.tree.map(jnp.asarray, model.params))
    ckpt = checkpoint.Checkpoints(workdir, keep=exp.train.keep_checkpoints, best_metric=None, async_save=False)
    ckpt.save(0, state, {"data_iterator": {}, "train_seconds": 0.0, checkpoint.IMPORTED: str(Path(model_dir).absolute())})
    ckpt.wait()
    ckpt.close()
    c = model.config
    log(f"imported {Path(model_dir).name} ({model.weights_file}: d_model {c.d_model}, {c.num_encoder_layers}+"
        f"{c.num_decoder_layers} layers, {c.num_heads} heads, {c.vocab_size:,} pieces, {c.activation}) into {workdir}; "
        f"decoding: beam {exp.train.test_beam_size}, length penalty {exp.train.beam_alpha:g}, "
        f"at most {exp.train.max_decode_length} tokens")
    return exp
