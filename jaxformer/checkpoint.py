"""Orbax checkpoints of a run: the train state, the data iterator state and the config, in a
self-describing workdir.

Saves are asynchronous and atomic (Orbax writes to a temporary folder and renames it when
complete), so a half-written checkpoint never becomes the latest. A save that the disk refuses
(full, read-only, no permission) is a `SaveFailed` naming its step, raised when it is found (at
once, at the next save, or at `wait`); its temporary folder is removed and the manager reopened,
so the previous checkpoint stays the latest and older ones are kept. The last K checkpoints are
kept, plus the best one by an evaluation metric. Restoring goes straight into the target
shardings, so a run can resume on a different mesh.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers as policies

from jaxformer import storage
from jaxformer.config import ConfigError, DataConfig, ExperimentConfig, ModelConfig, TrainConfig, from_dict, to_dict

CONFIG_FILE = "config.json"
LOWER_IS_BETTER = {"loss", "nll", "perplexity"}
IMPORTED = "imported_from"  # key of an imported model's checkpoint (step 0) in its JSON item
# Model options that change how the same parameters are used, not which parameters exist; a run may
# resume (or fine-tune an imported model) with other values.
RUNTIME_FIELDS = ("dropout_rate", "attention_dropout_rate", "relu_dropout_rate", "dtype", "attention_impl",
                  "scan_layers", "remat")
# Data options that a resumed run may change: where the caches live and what is evaluated. Every
# other data option decides what the model's ids mean (the tokenizer and the text it learns from)
# or which batch comes next (the dataset, the length filter, the batching and the shuffle seed).
EVAL_DATA_FIELDS = ("data_dir", "eval_split", "test_split", "eval_batch_size")


def _trained(workdir: Path) -> bool:
    """Whether the workdir holds checkpoints of training: steps > 0 (an import writes step 0 only)."""
    folder = workdir / "checkpoints"
    return folder.is_dir() and any(p.name.isdigit() and int(p.name) > 0 for p in folder.iterdir())


def has_steps(workdir: Path) -> bool:
    """Whether the workdir holds any finished checkpoint, an imported model's step 0 included."""
    folder = workdir / "checkpoints"
    return folder.is_dir() and any(p.name.isdigit() for p in folder.iterdir())


UNFINISHED = ".orbax-checkpoint-tmp"  # Orbax writes step N into "N.orbax-checkpoint-tmp*", then renames it


def remove_unfinished_saves(workdir: str | os.PathLike) -> list[str]:
    """Deletes the temporary folders of saves that a kill interrupted (never a finished step) and
    returns their names. Only a run holding the workdir's lock may call it: a live run's save in
    progress looks the same."""
    folder = Path(workdir) / "checkpoints"
    stale = sorted(p for p in folder.glob(f"*{UNFINISHED}*") if p.is_dir()) if folder.is_dir() else []
    for p in stale:
        shutil.rmtree(p)
    return [p.name for p in stale]


def write_config(workdir: Path, exp: ExperimentConfig) -> None:
    """Writes the run's config, refusing a workdir whose checkpoints belong to another model, or
    whose training (steps > 0) another state-shaping train option or other data would continue
    wrongly. Called before any data is prepared, so a refusal changes nothing there or here; an
    imported model (step 0 only) may take any data options, which is how fine-tuning sets them."""
    path = workdir / CONFIG_FILE
    if path.is_file():
        old = read_config(workdir)
        changed = [k for k in to_dict(exp.model) if getattr(old.model, k) != getattr(exp.model, k)]
        if [k for k in changed if k not in RUNTIME_FIELDS] and has_steps(workdir):
            diff = ", ".join(f"{k}: {getattr(old.model, k)!r} there, {getattr(exp.model, k)!r} here" for k in changed)
            raise ConfigError(f"{workdir} holds checkpoints of another model ({diff}); use a new --workdir "
                              "or the config it was trained with")
        if _trained(workdir):
            for name, there in _state_options(old.train).items():
                if there != _state_options(exp.train)[name]:
                    raise ConfigError(
                        f"{workdir} holds checkpoints trained with train.{name}={getattr(old.train, name)!r}, and "
                        f"train.{name}={getattr(exp.train, name)!r} here saves another training state; resume "
                        "with the value they were trained with or use a new --workdir")
            if changed := data_changes(old.data, exp.data):
                raise ConfigError(
                    f"{workdir} holds checkpoints trained on other data ({'; '.join(changed)}): the token ids or "
                    "the order of batches would change under them; resume with the values they were trained "
                    "with (`jaxformer train --workdir` without --config continues with them) or use a new --workdir")
    workdir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(to_dict(exp), indent=2))
    os.replace(tmp, path)


def data_changes(old: DataConfig, new: DataConfig) -> list[str]:
    """"data.X: old there, new here" for each data option in use that differs, EVAL_DATA_FIELDS aside.

    Only options in use count, so that one without effect may change: with a pretrained tokenizer
    only its folder, and for each batching mode only its own sizes.
    """
    def in_use(d: DataConfig) -> set[str]:
        names = {f.name for f in dataclasses.fields(d)} - set(EVAL_DATA_FIELDS) - {"tokenizer"}
        names -= {"batch_size", "pack_length", "shards"} if d.batching == "bucket" else {"tokens_per_batch",
                                                                                        "bucket_boundaries"}
        tok = ["pretrained"] if d.tokenizer.pretrained else [f.name for f in dataclasses.fields(d.tokenizer)]
        return names | {f"tokenizer.{k}" for k in tok}

    def value(d: Any, name: str) -> Any:
        for part in name.split("."):
            d = getattr(d, part)
        return d

    compared = in_use(old) | in_use(new)
    order = [f.name for f in dataclasses.fields(DataConfig) if f.name != "tokenizer"] + \
        [f"tokenizer.{f.name}" for f in dataclasses.fields(old.tokenizer)]
    return [f"data.{k}: {value(old, k)!r} there, {value(new, k)!r} here" for k in order
            if k in compared and value(old, k) != value(new, k)]


def _state_options(t: TrainConfig) -> dict[str, bool]:
    """The training options that shape the saved state, not only its values."""
    return {"ema_decay": t.ema_decay > 0, "clip_grad_norm": t.clip_grad_norm > 0, "decay_over": t.decay_over == "time"}


def read_config(workdir: str | os.PathLike) -> ExperimentConfig:
    path = Path(workdir) / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"{workdir} has no {CONFIG_FILE}; is it the --workdir of a training run?")
    try:
        return from_dict(ExperimentConfig, json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError) as e:
        raise ConfigError(f"{path} is not a valid config ({e}); restore it or start a new workdir") from None


class SaveFailed(ConfigError):
    """The checkpoint of `step` was not written: the disk refused it (`fault`). A ConfigError, so that
    one not handled by the caller still ends the command with its line; the training loop handles it
    as train.on_save_error says (`jaxformer.save_errors`)."""

    def __init__(self, step: int | None, fault: storage.Fault, workdir: Path):
        super().__init__(f"the checkpoint of step {step} could not be saved ({fault}); "
                         f"{storage.fix(fault, workdir)} and try again")
        self.step, self.fault = step, fault


class Checkpoints:
    """The checkpoints of one workdir."""

    def __init__(self, workdir: str | os.PathLike, *, keep: int = 3, best_metric: str | None = "bleu",
                 async_save: bool = True):
        self.directory = Path(workdir).absolute() / "checkpoints"
        self.best_metric = best_metric
        keep_policies: list[Any] = [policies.LatestN(n=keep)]
        if best_metric:
            keep_policies.append(policies.BestN(
                get_metric_fn=lambda m: m[best_metric], reverse=best_metric in LOWER_IS_BETTER, n=1,
                keep_checkpoints_without_metrics=False))
        self._options = ocp.CheckpointManagerOptions(
            preservation_policy=policies.AnyPreservationPolicy(keep_policies), create=True,
            enable_async_checkpointing=async_save,
            best_fn=(lambda m: m[best_metric]) if best_metric else None,
            best_mode="min" if best_metric in LOWER_IS_BETTER else "max",
            # Step folders made at once, in the caller's thread: made in the background, a folder the
            # disk refuses leaves Orbax's writer threads waiting minutes for it (and the process with them).
            async_options=ocp.AsyncOptions(create_directories_asynchronously=False))
        self.manager = self._open()
        self._in_flight: int | None = None  # the step of an asynchronous save not yet waited for
        self._failed_steps: set[int] = set()

    def _open(self) -> ocp.CheckpointManager:
        return ocp.CheckpointManager(
            self.directory, options=self._options,
            item_handlers={"state": ocp.StandardCheckpointHandler(), "data": ocp.JsonCheckpointHandler()})

    def _failed(self, step: int | None, error: Exception) -> SaveFailed | None:
        """The SaveFailed of `error` after cleaning up, or None when it is no storage error.

        Orbax has by then dropped from its list the old steps this save would have replaced (they
        are still on disk) and may hold more errors of the same save in its metadata writers, so the
        manager is closed (each leftover error surfaces once) and reopened from what is on disk.
        """
        found = storage.fault(error)
        if found is None:
            return None
        storage.saw_failed_save()
        for _ in range(5):
            try:
                self.manager.close()
                break
            except Exception:  # noqa: BLE001 - the same failed save, surfacing again
                continue
        _join_save_threads(timeout=10)
        if step is not None:
            self._failed_steps.add(step)
        self._remove_failed()
        self.manager = self._open()
        return SaveFailed(step, found, self.directory.parent)

    def _remove_failed(self) -> None:
        """Removes the temporary folders of failed saves. Again at each later save and at close:
        TensorStore writes still in flight when a save failed can recreate parts of its folder."""
        if jax.process_index() == 0:
            for step in self._failed_steps:
                for tmp in self.directory.glob(f"{step}{UNFINISHED}*"):
                    shutil.rmtree(tmp, ignore_errors=True)

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def best_step(self) -> int | None:
        return self.manager.best_step()

    def save(self, step: int, state: Any, data_state: dict[str, Any] | None = None,
             metrics: dict[str, float] | None = None) -> None:
        """Starts an asynchronous save; training continues while it is written. Raises SaveFailed
        for the save before it (found while waiting for it) or for this one (refused at once)."""
        self.wait()
        self._remove_failed()
        if metrics is not None and self.best_metric and self.best_metric not in metrics:
            metrics = None
        try:
            self.manager.save(step, args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), data=ocp.args.JsonSave(data_state or {})),
                metrics={k: float(v) for k, v in metrics.items()} if metrics else None, force=True)
        except Exception as e:
            if (failed := self._failed(step, e)) is None:
                raise
            raise failed from e
        self._in_flight = step

    def read_data(self, step: int) -> dict[str, Any]:
        """The JSON item of `step` alone (data positions, seconds used, an import's origin)."""
        try:
            out = self.manager.restore(step, args=ocp.args.Composite(data=ocp.args.JsonRestore()))
        except Exception as e:
            raise ConfigError(f"checkpoint {self.directory / str(step)} cannot be read ({type(e).__name__}: "
                              f"{_first_line(e)}); delete that step folder to fall back to an earlier one") from None
        return dict(out["data"] or {})

    def restore_params_as_saved(self, step: int) -> Any:
        """The parameters of `step` in the layout they were saved with, whatever the training
        options of the state around them (an imported model's step 0 under a fine-tuning config)."""
        meta = self.manager.item_metadata(step)["state"]
        abstract = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype), _tree(meta))
        try:
            out = self.manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))
        except Exception as e:
            raise ConfigError(f"checkpoint {self.directory / str(step)} cannot be read ({type(e).__name__}: "
                              f"{_first_line(e)}); delete that step folder to fall back to an earlier one") from None
        return out["state"]["params"]

    def wait(self) -> None:
        """Waits for the save in flight; SaveFailed when the disk refused it."""
        step, self._in_flight = self._in_flight, None
        try:
            self.manager.wait_until_finished()
        except Exception as e:
            if (failed := self._failed(step, e)) is None:
                raise
            raise failed from e

    def restore(self, step: int, target: Any) -> tuple[Any, dict[str, Any]]:
        """(state, data iterator state) of `step`, laid out like `target` (a pytree of arrays or
        ShapeDtypeStructs with shardings). Mismatched shapes and damaged files are ConfigErrors;
        nothing on disk is changed."""
        abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, "sharding", None)),
                                target)
        self._check_shapes(step, abstract)
        try:
            out = self.manager.restore(step, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract), data=ocp.args.JsonRestore()))
        except ConfigError:
            raise
        except Exception as e:  # damaged or truncated files
            raise ConfigError(f"checkpoint {self.directory / str(step)} cannot be read ({type(e).__name__}: "
                              f"{_first_line(e)}); delete that step folder to fall back to an earlier one") from None
        return out["state"], dict(out["data"] or {})

    def _check_shapes(self, step: int, abstract: Any) -> None:
        try:
            meta = self.manager.item_metadata(step)["state"]
        except Exception as e:
            raise ConfigError(f"checkpoint {self.directory / str(step)} has no readable metadata ({type(e).__name__}: "
                              f"{_first_line(e)}); delete that step folder to fall back to an earlier one") from None
        if meta is None:
            raise ConfigError(f"checkpoint {self.directory / str(step)} has no train state; delete that step folder")
        # The parameters decide whether a checkpoint fits (model shape, vocabulary); the optimiser
        # state mirrors them.
        saved = {jax.tree_util.keystr(p, simple=True, separator="/"): tuple(getattr(m, "shape", ()))
                 for p, m in jax.tree_util.tree_flatten_with_path(_tree(meta)["params"])[0]}
        wanted = {jax.tree_util.keystr(p, simple=True, separator="/"): tuple(a.shape)
                  for p, a in jax.tree_util.tree_flatten_with_path(_tree(abstract)["params"])[0]}
        for name in sorted(wanted.keys() | saved.keys()):
            if saved.get(name) != wanted.get(name):
                raise ConfigError(
                    f"checkpoint {self.directory / str(step)} does not fit this model: params/{name} is "
                    f"{saved.get(name, 'absent')} there and {wanted.get(name, 'absent')} here (another model "
                    "shape or vocabulary?); use the config it was trained with or a new --workdir")
        # The same parameters under other training options: the optimiser state or EMA differ.
        there, here = _paths(_tree(meta)), _paths(_tree(abstract))
        if there != here:
            odd = sorted(there - here)[:1] or sorted(here - there)[:1]
            raise ConfigError(
                f"checkpoint {self.directory / str(step)} was saved with another optimiser or EMA state "
                f"({odd[0]} is {'in the checkpoint only' if odd[0] in there else 'in this config only'}): "
                "train.ema_decay or train.clip_grad_norm was switched on or off, or train.decay_over changed; use "
                "the config it was trained with or a new --workdir")

    def close(self) -> None:
        """Waits for a save in flight and releases the manager; a second call does nothing. A save
        that fails here is cleaned up but not raised: the loop waits (and reports) before closing,
        so only a run already ending on another error gets here with one."""
        if not getattr(self, "_closed", False):
            self._closed = True
            try:
                self.wait()
            except SaveFailed:
                pass
            self.manager.close()
            self._remove_failed()


def _join_save_threads(timeout: float) -> None:
    """Waits (up to `timeout` seconds in all) for Orbax's worker threads of a failed save: they
    outlive its error, and until they end they can still create files in its folder."""
    deadline = time.monotonic() + timeout
    for t in threading.enumerate():
        if t is not threading.current_thread() and type(t).__module__.startswith("orbax."):
            try:
                t.join(max(deadline - time.monotonic(), 0))
            except Exception:  # noqa: BLE001 - Orbax's threads re-raise their error on join; it is known
                pass


def _tree(x: Any) -> Any:
    """A state as nested dicts (Orbax metadata comes back as dicts; dataclasses need flattening)."""
    if hasattr(x, "__dataclass_fields__"):
        return {k: _tree(getattr(x, k)) for k in x.__dataclass_fields__}
    if hasattr(x, "_fields"):  # optax states are named tuples; Orbax names their fields
        return {k: _tree(getattr(x, k)) for k in x._fields}
    if isinstance(x, dict):
        return {k: _tree(v) for k, v in x.items() if v is not None}
    if isinstance(x, (list, tuple)) and not hasattr(x, "shape"):
        return {str(i): _tree(v) for i, v in enumerate(x)}
    return x


def _paths(tree: Any) -> set[str]:
    return {jax.tree_util.keystr(p, simple=True, separator="/") for p, _ in jax.tree_util.tree_flatten_with_path(tree)[0]}


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else ""


def load_model_params(workdir: str | os.PathLike, step: int | None = None, *, ema: bool = False,
                      mesh=None) -> tuple[ModelConfig, Any, int]:
    """(model config, params, step) from a workdir: the latest (or `step`) checkpoint, for the
    translate / evaluate / average commands; with `mesh`, restored sharded by the run's rules."""
    exp = read_config(workdir)
    ckpt = Checkpoints(workdir, best_metric=None, async_save=False)
    step = ckpt.latest_step() if step is None else step
    if step is None:
        raise ConfigError(f"{workdir} has no checkpoint yet; train first (jaxformer train --workdir {workdir})")
    from jaxformer import train  # here to keep imports light for the config-only helpers above
    if step == 0 and IMPORTED in ckpt.read_data(0):  # an imported model, saved under the import's options
        params = ckpt.restore_params_as_saved(0)
        ckpt.close()
        if mesh is not None:
            params = jax.device_put(params, train.state_shardings(exp, mesh).params)
        return exp.model, params, step
    shapes = jax.eval_shape(lambda: train.init_state(exp))
    if mesh is not None:
        shapes = jax.tree.map(lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh), shapes,
                              train.state_shardings(exp, mesh))
    state, _ = ckpt.restore(step, shapes)
    ckpt.close()
    params = state.ema if ema and state.ema is not None else state.params
    return exp.model, params, step
