"""Logical axes and the only place that maps them to mesh axes.

Model code names every parameter and main activation with logical axes from `AXES`; a rule set
(data, not code) maps each logical axis to zero, one or several mesh axes. The mesh always has
the three axes of `MESH_AXES`, some of size 1, so that every rule set works on every mesh.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from jaxformer.config import ConfigError

__all__ = [
    "AXES", "MESH_AXES", "RULES", "make_mesh", "logical_to_spec", "param_specs",
    "param_shardings", "batch_sharding", "batch_ways", "global_batch", "use_rules", "constrain",
]

# The logical axis glossary: defined here once.
AXES: dict[str, str] = {
    "batch": "examples in a batch (activations)",
    "length": "positions in a sequence (activations)",
    "embed": "d_model, the residual stream width",
    "heads": "attention heads",
    "kv": "per-head width d_k = d_v",
    "mlp": "d_ff, the feed-forward hidden width",
    "vocab": "vocabulary entries",
    "layers": "stacked layers (the leading axis of per-layer parameters)",
}

MESH_AXES = ("data", "fsdp", "tensor")

Rules = dict[str, Any]  # logical axis -> None | mesh axis | tuple of mesh axes

RULES: dict[str, Rules] = {
    # Pure data parallelism: parameters replicated, the batch split over every device.
    "dp": {"batch": ("data", "fsdp")},
    # ZeRO-3 style: parameters split along d_model over "fsdp", the batch over data and fsdp.
    "fsdp": {"batch": ("data", "fsdp"), "embed": "fsdp"},
    # FSDP plus Megatron-style tensor parallelism over heads, d_ff and the vocabulary.
    "fsdp_tp": {
        "batch": ("data", "fsdp"),
        "embed": "fsdp",
        "heads": "tensor",
        "mlp": "tensor",
        "vocab": "tensor",
    },
}


def _rules(rules: str | Rules) -> Rules:
    if isinstance(rules, str):
        if rules not in RULES:
            raise ConfigError(f"unknown sharding rules {rules!r}; choose one of {sorted(RULES)}")
        return RULES[rules]
    unknown = set(rules) - set(AXES)
    if unknown:
        raise ConfigError(f"sharding rules name unknown logical axes {sorted(unknown)}; valid: {list(AXES)}")
    return rules


def make_mesh(data: int = -1, fsdp: int = 1, tensor: int = 1, devices: Sequence[Any] | None = None) -> Mesh:
    """A ("data", "fsdp", "tensor") mesh over `devices` (default: all); -1 takes what is left.

    Axis types are Auto, so logical constraints propagate GSPMD-style.
    """
    devices = list(jax.devices() if devices is None else devices)
    sizes = {"data": data, "fsdp": fsdp, "tensor": tensor}
    fill = [k for k, v in sizes.items() if v == -1]
    if len(fill) > 1:
        raise ConfigError(f"mesh {sizes}: at most one axis may be -1 (fill the remaining devices)")
    fixed = math.prod(v for v in sizes.values() if v != -1)
    if any(v == 0 or v < -1 for v in sizes.values()):
        raise ConfigError(f"mesh {sizes}: sizes must be positive or -1")
    if fill:
        if len(devices) % fixed:
            raise ConfigError(
                f"mesh {sizes}: the fixed axes ({fixed} devices) do not divide the {len(devices)} "
                f"available devices; pick sizes whose product divides {len(devices)}"
            )
        sizes[fill[0]] = len(devices) // fixed
    total = math.prod(sizes.values())
    if total != len(devices):
        raise ConfigError(
            f"mesh data={sizes['data']} x fsdp={sizes['fsdp']} x tensor={sizes['tensor']} needs "
            f"{total} devices but {len(devices)} are available; choose sizes whose product is "
            f"{len(devices)} (or set one axis to -1)"
        )
    shape = tuple(sizes[a] for a in MESH_AXES)
    if devices == list(jax.devices()):
        return jax.make_mesh(shape, MESH_AXES, axis_types=(AxisType.Auto,) * len(MESH_AXES))
    return Mesh(np.asarray(devices).reshape(shape), MESH_AXES, axis_types=(AxisType.Auto,) * 3)


def logical_to_spec(names: Sequence[str | None], rules: str | Rules) -> PartitionSpec:
    """PartitionSpec for an array whose dimensions carry logical `names`.

    A mesh axis is used at most once per array: a later dimension that maps to an axis already
    taken stays unsplit (as in Flax's logical partitioning).
    """
    rules = _rules(rules)
    used: set[str] = set()
    out = []
    for name in names:
        if name is not None and name not in AXES:
            raise ConfigError(f"unknown logical axis {name!r}; valid: {list(AXES)}")
        target = rules.get(name) if name is not None else None
        axes = (target,) if isinstance(target, str) else tuple(target or ())
        axes = tuple(a for a in axes if a not in used)
        used.update(axes)
        out.append(None if not axes else axes[0] if len(axes) == 1 else axes)
    return PartitionSpec(*out)


def _check_divisible(path: str, shape: Sequence[int], names: Sequence[str | None],
                     spec: PartitionSpec, mesh: Mesh) -> None:
    for dim, name, axes in zip(shape, names, tuple(spec) + (None,) * len(shape)):
        if axes is None:
            continue
        axes = (axes,) if isinstance(axes, str) else axes
        size = math.prod(mesh.shape[a] for a in axes)
        if dim % size:
            raise ConfigError(
                f"{path}: dimension {name!r} of size {dim} is not divisible by mesh axis "
                f"{'x'.join(axes)} of size {size}; change that model dimension or the mesh"
            )


def param_specs(axes_tree: Any, rules: str | Rules) -> Any:
    """Maps a pytree of logical-axis tuples (from `jaxformer.logical_axes`) to PartitionSpecs."""
    rules = _rules(rules)
    return jax.tree.map(lambda names: logical_to_spec(names, rules), axes_tree,
                        is_leaf=lambda x: isinstance(x, tuple))


def param_shardings(params_or_shapes: Any, axes_tree: Any, mesh: Mesh, rules: str | Rules) -> Any:
    """NamedShardings for a params pytree, after checking every split dimension divides."""
    specs = param_specs(axes_tree, rules)
    flat_axes = jax.tree_util.tree_flatten_with_path(axes_tree, is_leaf=lambda x: isinstance(x, tuple))[0]
    flat_specs = jax.tree.leaves(specs, is_leaf=lambda x: isinstance(x, PartitionSpec))
    flat_params = jax.tree.leaves(params_or_shapes)
    for (path, names), spec, leaf in zip(flat_axes, flat_specs, flat_params):
        _check_divisible(jax.tree_util.keystr(path, simple=True, separator="/"),
                         leaf.shape, names, spec, mesh)
    return jax.tree.map(lambda s: NamedSharding(mesh, s), specs,
                        is_leaf=lambda x: isinstance(x, PartitionSpec))


def batch_sharding(mesh: Mesh, rules: str | Rules, ndim: int = 2) -> NamedSharding:
    """Sharding of a [B, ...] input array: the batch over the data (and FSDP) axes."""
    return NamedSharding(mesh, logical_to_spec(("batch",) + (None,) * (ndim - 1), rules))


def batch_ways(mesh: Mesh, rules: str | Rules) -> int:
    """Into how many parts the batch axis is split: the product of the mesh axes it maps to."""
    spec = logical_to_spec(("batch",), rules)[0] or ()
    return math.prod(mesh.shape[a] for a in ((spec,) if isinstance(spec, str) else spec))


# The fields of a training batch that the model reads (see data/batching.py).
MODEL_FIELDS = ("inputs", "targets", "inputs_segmentation", "inputs_position",
                "targets_segmentation", "targets_position")


def global_batch(batch: dict[str, np.ndarray], mesh: Mesh, rules: str | Rules,
                 fields: Sequence[str] = MODEL_FIELDS) -> dict[str, jax.Array]:
    """This process's rows of a batch ([B / processes, ...] each) -> global arrays [B, ...] laid
    over the batch axes of the mesh, so that a jitted step sees one batch across all hosts.
    Only `fields` are placed; a row count the batch axes cannot split is a one-line error."""
    out = {}
    for k in fields:
        if k in batch:
            local = np.asarray(batch[k])
            shape = (local.shape[0] * jax.process_count(), *local.shape[1:])
            split = batch_ways(mesh, rules)
            if shape[0] % split:
                raise ConfigError(f"a batch of {shape[0]} rows cannot be split over the {split} devices of the "
                                  "mesh's batch axes; make data.batch_size (or the bucket rows) a multiple of it")
            out[k] = jax.make_array_from_process_local_data(batch_sharding(mesh, rules, local.ndim), local, shape)
    return out


_ACTIVE: contextvars.ContextVar[tuple[Mesh, Rules] | None] = contextvars.ContextVar(
    "jaxformer_sharding", default=None)


@contextlib.contextmanager
def use_rules(mesh: Mesh, rules: str | Rules):
    """Within this context, `constrain` pins activations to the mesh; trace jitted code inside it."""
    token = _ACTIVE.set((mesh, _rules(rules)))
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def constrain(x: jax.Array, names: Sequence[str | None]) -> jax.Array:
    """Annotates activation `x` with logical axes; a no-op outside `use_rules`."""
    active = _ACTIVE.get()
    if active is None:
        return x
    mesh, rules = active
    spec = []
    for dim, axes in zip(x.shape, logical_to_spec(names, rules)):
        size = math.prod(mesh.shape[a] for a in ((axes,) if isinstance(axes, str) else axes or ()))
        spec.append(axes if dim % size == 0 else None)  # e.g. batch 1 while decoding: replicate
    return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, PartitionSpec(*spec)))
