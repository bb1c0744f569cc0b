"""Where a training run starts: the latest checkpoint of its workdir (state, every process's data
iterator position, the training seconds used), an imported model's parameters with a fresh
optimiser, or a fresh state; and what a save holds beside the state.

Resuming is exact: a checkpoint holds the state after `step` updates and the data iterator state
after `step` batches, so an interrupted run continues with the same batches and updates. Orbax
writes the JSON item from process 0 only, so the iterator states of all processes are gathered
into it (`gather_data_states`) and each process takes its own back (`own_data_state`).
"""

from __future__ import annotations

import json
from typing import Any, Callable

import jax
import numpy as np
from jax.experimental import multihost_utils

from jaxformer import checkpoint, train
from jaxformer.config import ConfigError, ExperimentConfig


def gather_data_states(state: dict[str, Any]) -> dict[str, Any]:
    """Every process's data iterator state in one dict (Orbax writes the JSON item from process 0
    only): {"processes": [state of process 0, state of process 1, ...]} with several processes."""
    if jax.process_count() == 1:
        return state
    raw = np.frombuffer(json.dumps(state).encode(), np.uint8)
    size = int(np.max(multihost_utils.process_allgather(np.asarray([raw.size], np.int64))))
    padded = np.zeros(size, np.uint8)
    padded[: raw.size] = raw
    rows = multihost_utils.process_allgather(padded)  # [processes, size]
    return {"processes": [json.loads(bytes(r).rstrip(b"\0").decode()) for r in np.asarray(rows)]}


def saved_progress(data_item: dict[str, Any]) -> tuple[dict[str, Any], float]:
    """(data iterator states, training seconds used) of a checkpoint's JSON item. Checkpoints
    written before the time budget was saved hold the iterator states alone (and 0 seconds)."""
    if "data_iterator" in data_item:
        return data_item["data_iterator"], float(data_item.get("train_seconds", 0.0))
    return data_item, 0.0


def own_data_state(saved: dict[str, Any]) -> dict[str, Any]:
    """This process's part of a state written by `gather_data_states`."""
    states = saved["processes"] if "processes" in saved else [saved]
    if len(states) != jax.process_count():
        raise ConfigError(f"the checkpoint holds the data positions of {len(states)} processes but this run has "
                          f"{jax.process_count()}; resume with {len(states)} processes or start a new --workdir")
    return states[jax.process_index()]


def save_item(data_iterator, train_seconds: float) -> dict[str, Any]:
    """The JSON item saved beside the state: every process's iterator position, the seconds used."""
    return {"data_iterator": gather_data_states(data_iterator.get_state()), "train_seconds": train_seconds}


def initial_state(exp: ExperimentConfig, ckpt: checkpoint.Checkpoints, shard: train.TrainState, data_iterator,
                  say: Callable[..., None]) -> tuple[train.TrainState, int, float]:
    """(state, its step, training seconds used) to start from, placed by `shard`; a resumed run's
    `data_iterator` is moved to the batch after that step."""
    start = ckpt.latest_step()
    imported = ckpt.read_data(0).get(checkpoint.IMPORTED) if start == 0 else None
    if imported:  # fine-tune an imported model: its parameters, a fresh optimiser under this config
        params = jax.device_put(ckpt.restore_params_as_saved(0), shard.params)
        state = jax.jit(lambda p: train.state_from_params(exp, p), out_shardings=shard)(params)
        say(f"fine-tuning the model imported from {imported} with a fresh optimiser")
        return state, 0, 0.0
    if start is None:
        return jax.jit(lambda: train.init_state(exp), out_shardings=shard)(), 0, 0.0
    abstract = jax.tree.map(lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh),
                            jax.eval_shape(lambda: train.init_state(exp)), shard)
    state, saved = ckpt.restore(start, abstract)
    data_state, used_s = saved_progress(saved)
    if data_state:
        data_iterator.set_state(own_data_state(data_state))
    used = f" ({used_s:.0f}s of training used)" if used_s else ""
    say(f"resumed from step {start} in {ckpt.directory.parent}{used}")
    return state, start, used_s
