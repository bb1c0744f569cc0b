"""Translating with a trained workdir: load the config, tokenizer and parameters (latest, best,
EMA or averaged) into a `Translator`, which decodes through `jaxformer.translate`; and averaging
checkpoints."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from jaxformer import checkpoint, translate
from jaxformer.config import ConfigError, ExperimentConfig
from jaxformer.data.tokenizer import load_from_workdir

AVERAGED = "averaged"


@dataclasses.dataclass
class Translator:
    """A workdir's model ready to translate: its config, tokenizer and chosen parameters, and the
    decoding options of `jaxformer translate` (beam, alpha, batch rows, input cut)."""

    exp: ExperimentConfig
    params: Any
    tokenizer: Any  # data.tokenizer.Tokenizer, or an imported model's MarianTokenizer
    source: str  # which parameters: "step N", "ema of step N", "average of steps ..."
    beam_size: int = 4
    alpha: float = 0.6
    batch_size: int = 32
    max_input_tokens: int = 256

    @property
    def search(self) -> translate.Search:
        """The run's search (length bound, convention, forced EOS) with this beam size and alpha."""
        return translate.Search.of(self.exp.train, beam_size=self.beam_size, alpha=self.alpha)

    def translate(self, texts: list[str], *, log=lambda msg: print(msg, file=sys.stderr)) -> list[str]:
        """Translations of `texts` in input order (`jaxformer.translate.translate`). Empty lines
        give empty translations; inputs longer than `max_input_tokens` are cut (counted in `log`)."""
        return translate.translate(self.params, texts, self.tokenizer, model=self.exp.model, search=self.search,
                                   batch_size=self.batch_size, max_input_tokens=self.max_input_tokens, log=log)


def load(workdir: str | Path, *, which: str = "latest", **options) -> Translator:
    """A Translator for a workdir; `which` is "latest", "best", "ema", "averaged" or a step number.
    `beam_size` and `alpha` default to the run's `train.test_beam_size` and `train.beam_alpha`."""
    workdir = Path(workdir)
    exp = checkpoint.read_config(workdir)
    if which != AVERAGED:
        _require_checkpoints(workdir)
    tokenizer = load_from_workdir(workdir)
    if which == AVERAGED:
        params, source = load_averaged(workdir, exp)
    else:
        ckpt = checkpoint.Checkpoints(workdir, best_metric=exp.train.best_metric or None, async_save=False)
        step = {"latest": ckpt.latest_step(), "ema": ckpt.latest_step(), "best": ckpt.best_step()}.get(which)
        if step is None and which not in ("latest", "ema", "best"):
            try:
                step = int(which)
            except ValueError:
                raise ConfigError(f"--checkpoint {which!r} is not latest, best, ema, averaged or a step number") from None
            if step not in ckpt.all_steps():
                raise ConfigError(f"{workdir} has no checkpoint {step}; it has {ckpt.all_steps()}")
        ckpt.close()
        if step is None:
            raise ConfigError(f"{workdir} has no {'evaluated ' if which == 'best' else ''}checkpoint yet; "
                              f"train first (jaxformer train --workdir {workdir})")
        _, params, step = checkpoint.load_model_params(workdir, step, ema=which == "ema")
        source = f"{'EMA of ' if which == 'ema' else ''}step {step}"
    # Unset decoding options come from the run's config: the same search as its own test score.
    if options.get("beam_size") is None:
        options["beam_size"] = exp.train.test_beam_size
    if options.get("alpha") is None:
        options["alpha"] = exp.train.beam_alpha
    return Translator(exp, params, tokenizer, source, **options)


def average_checkpoints(workdir: str | Path, last: int) -> tuple[list[int], Path]:
    """Averages the parameters of the last `last` checkpoints (the paper: 5 for base, 20 for big)
    and saves them as `workdir/averaged`, which every command can load with --checkpoint averaged.
    Bad requests are refused before anything in the workdir is created or changed."""
    if last < 1:
        raise ConfigError(f"--last {last}: average at least 1 checkpoint (the paper: the last 5 for base, 20 for big)")
    workdir = Path(workdir).absolute()
    exp = checkpoint.read_config(workdir)
    _require_checkpoints(workdir)
    from jaxformer import sharding
    try:  # sum sharded by the run's rules where its mesh fits these devices, else on one device
        mesh = sharding.make_mesh(exp.mesh.data, exp.mesh.fsdp, exp.mesh.tensor)
    except ConfigError:
        mesh = None
    ckpt = checkpoint.Checkpoints(workdir, best_metric=None, async_save=False)
    steps = ckpt.all_steps()[-last:]
    ckpt.close()
    if len(steps) < last:
        raise ConfigError(f"{workdir} has {len(steps)} checkpoint(s) ({steps}); cannot average the last {last}. "
                          "Keep more with train.keep_checkpoints")
    total = None
    for step in steps:
        _, params, _ = checkpoint.load_model_params(workdir, step, mesh=mesh)
        total = params if total is None else jax.tree.map(jnp.add, total, params)
    mean = jax.tree.map(lambda x: x / len(steps), total)
    target = workdir / AVERAGED
    with ocp.StandardCheckpointer() as saver:
        saver.save(target, {"params": mean, "steps": np.asarray(steps, np.int32)}, force=True)
    return steps, target


def _require_checkpoints(workdir: Path) -> None:
    """Refuses a workdir without checkpoints before Orbax would create an empty checkpoints/ there."""
    if not (workdir / "checkpoints").is_dir():
        raise ConfigError(f"{workdir} has no checkpoint yet; train first (jaxformer train --workdir {workdir})")


def load_averaged(workdir: Path, exp: ExperimentConfig) -> tuple[Any, str]:
    """(parameters, "average of steps [...]") written by `average_checkpoints`."""
    path = workdir.absolute() / AVERAGED
    if not path.exists():
        raise ConfigError(f"{workdir} has no averaged parameters; run jaxformer average --workdir {workdir} --last N")
    from jaxformer import functional
    with ocp.StandardCheckpointer() as loader:
        meta = loader.metadata(path)
        steps_shape = meta.item_metadata.tree["steps"].shape if hasattr(meta, "item_metadata") else None
        abstract = {"params": jax.eval_shape(lambda: functional.init(exp.model, jax.random.key(0))),
                    "steps": jax.ShapeDtypeStruct(steps_shape or (0,), jnp.int32)}
        out = loader.restore(path, abstract)
    return out["params"], f"average of steps {np.asarray(out['steps']).tolist()}"
