"""JAX's persistent compilation cache, kept in the workdir, so that a second `translate`,
`evaluate` or resumed `train` on the same model loads its executables instead of compiling
them again (on 2 CPU cores a base-size beam search compiles in tens of seconds per batch shape).

The folder is `WORKDIR/compile_cache` unless `JAXFORMER_COMPILE_CACHE` names another one
(a user cache shared by several workdirs) or is `off`. Entries are keyed by JAX on the program,
the devices and the jax/jaxlib versions, so a stale entry is never used: an upgrade only misses.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

ENV = "JAXFORMER_COMPILE_CACHE"
FOLDER = "compile_cache"

_counts = {"requests": 0, "hits": 0}
_state: dict[str, Path] = {}  # "folder": the cache in use


def _count(event: str, **_) -> None:
    if event == "/jax/compilation_cache/compile_requests_use_cache":
        _counts["requests"] += 1
    elif event == "/jax/compilation_cache/cache_hits":
        _counts["hits"] += 1


def enable(workdir: str | Path) -> Path | None:
    """Points JAX's persistent cache at the workdir's (or $JAXFORMER_COMPILE_CACHE's) folder and
    caches every executable, however quick to compile; returns the folder, or None when the
    cache is off or the folder cannot be written (a read-only workdir: no cache, no error).
    Call it before the process compiles anything: JAX decides once whether to use the cache."""
    choice = os.environ.get(ENV, "")
    if choice.lower() == "off":
        return None
    folder = Path(choice) if choice else Path(workdir) / FOLDER
    existing = next((p for p in (folder, *folder.absolute().parents) if p.exists()), None)
    if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK):
        return None  # JAX creates the folder at the first compile, after the command's own checks
    jax.config.update("jax_compilation_cache_dir", str(folder.absolute()))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    if not _state:
        jax.monitoring.register_event_listener(_count)
    _state["folder"] = folder
    return folder


def summary() -> str | None:
    """What this process saved: "compilation cache DIR: N executable(s) loaded, M compiled"
    (None when the cache is off)."""
    if not _state:
        return None
    hits = _counts["hits"]
    return f"compilation cache {_state['folder']}: {hits} executable(s) loaded, {_counts['requests'] - hits} compiled"
