"""The disk under a run: the workdir checked before any work starts, and save errors told apart
from bugs.

A run that learns at its first save, an hour in, that its workdir is read-only or full has
wasted that hour; so `check_workdir` refuses it before any data is prepared or anything is
written. A disk that fills (or turns read-only) later shows up as errors from Orbax's save, many
of them from background threads and logged with tracebacks; `fault` recognises them (an OSError,
or TensorStore's ValueError carrying an `os_error_code`) so that the loop can say it in one line
(`jaxformer.save_errors`), and `quiet_background_save_errors` keeps Orbax's copies of those
tracebacks off the terminal.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import jax

from jaxformer.config import ConfigError

# A checkpoint is the train state's arrays plus Orbax's files around them (metadata, shardings,
# about 1-2 KB per array), and the workdir also holds the config, tokenizer, metrics and events.
MARGIN = 1.25
MINIMUM = 64 * 2**20


@dataclasses.dataclass(frozen=True)
class Fault:
    """A storage error: its errno (None when unknown) and its text, e.g. "No space left on device"."""

    errno: int | None
    text: str

    def __str__(self) -> str:
        name = errno.errorcode.get(self.errno) if self.errno is not None else None
        return f"{self.text} [{name}]" if name else self.text


_TENSORSTORE_OS_ERROR = re.compile(r"os_error_code='?(\d+)")


def fault(error: BaseException) -> Fault | None:
    """The storage error inside `error` (itself, its cause or context, or a member of an
    exception group), or None when it is not one (a bug should stay a traceback)."""
    todo, seen = [error], set()
    while todo:
        e = todo.pop(0)
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, OSError):
            return Fault(e.errno, e.strerror or str(e) or type(e).__name__)
        if match := _TENSORSTORE_OS_ERROR.search(str(e)):
            code = int(match.group(1))
            return Fault(code, os.strerror(code))
        todo += [e.__cause__, e.__context__, *getattr(e, "exceptions", ())]
    return None


def fix(f: Fault, workdir: Path) -> str:
    """What to do about `f`, in a few words."""
    if f.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"free space on the disk of {workdir}"
    if f.errno in (errno.EACCES, errno.EPERM):
        return f"make {workdir} and its checkpoints/ writable"
    if f.errno == errno.EROFS:
        return f"remount the filesystem of {workdir} read-write"
    return f"check the disk of {workdir}"


def size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


def state_bytes(state_shapes: Any) -> int:
    """Bytes of a train state's arrays (a pytree of arrays or ShapeDtypeStructs)."""
    return sum(int(x.size) * x.dtype.itemsize for x in jax.tree.leaves(state_shapes))


def _nearest_existing(path: Path) -> Path:
    """`path`, or its nearest ancestor that exists (one this user may not look into counts as absent)."""
    while path != path.parent:
        try:
            if path.exists():
                break
        except OSError:
            pass
        path = path.parent
    return path


def _unwritable(folder: Path, *, probe: bool) -> str | None:
    """Why `folder` cannot be written to, or None. `probe` creates (and at once drops) an unnamed
    file there, the only test that root, ACLs and network filesystems all answer truly."""
    if os.statvfs(folder).f_flag & os.ST_RDONLY:
        return os.strerror(errno.EROFS)
    if not probe:
        return None if os.access(folder, os.W_OK | os.X_OK) else os.strerror(errno.EACCES)
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        return e.strerror or str(e)
    return None


def check_workdir(workdir: Path, state_shapes: Any, *, keep: int, best: bool) -> str | None:
    """Refuses (a one-line ConfigError) a workdir that cannot be written or whose disk has less free
    space than one more checkpoint of this state needs; writes nothing there. Returns a warning when
    the disk cannot hold all the checkpoints the run keeps at once (`keep` latest, the `best`, one
    being written), else None. A path under a file is left to the lock, which names it."""
    workdir = Path(workdir).absolute()
    here = _nearest_existing(workdir)
    if not here.is_dir():
        return None
    if here == workdir:
        for folder in (workdir, workdir / "checkpoints"):
            if folder.is_dir() and (why := _unwritable(folder, probe=True)):
                where = "" if folder == workdir else f": {folder}"
                raise ConfigError(f"--workdir {workdir} is not writable ({why}{where}); fix its permissions or "
                                  "mount, or choose another --workdir")
    elif why := _unwritable(here, probe=False):
        raise ConfigError(f"cannot create --workdir {workdir}: {here} is not writable ({why}); choose a directory "
                          "path you can write to")
    stat = os.statvfs(here)
    free = stat.f_bavail * stat.f_frsize
    one = int(state_bytes(state_shapes) * MARGIN)
    if free < one + MINIMUM:
        raise ConfigError(f"--workdir {workdir} has {size(free)} free but a checkpoint of this model needs about "
                          f"{size(one + MINIMUM)} ({size(state_bytes(state_shapes))} of parameters and optimiser "
                          f"state x {MARGIN} + {size(MINIMUM)} for the run's other files); free space there or "
                          "choose another --workdir")
    folder = workdir / "checkpoints"
    saved = sum(p.name.isdigit() for p in folder.iterdir()) if folder.is_dir() else 0
    held = keep + int(best) + 1
    more = max(held - saved, 1)
    if free < more * one + MINIMUM:
        return (f"warning: --workdir {workdir} has {size(free)} free but the run may need about "
                f"{size(more * one + MINIMUM)} more ({more} more checkpoint(s) of about {size(one)}, as it holds "
                f"train.keep_checkpoints={keep}, the best and one being written, + {size(MINIMUM)} for its other "
                "files); saves will fail once the disk is full (see train.on_save_error)")
    return None


class _DropSaveTracebacks(logging.Filter):
    """Drops the records of Orbax's threads (and of asyncio's leftover tasks) that carry a storage
    error: the loop reports that error itself, in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is None or fault(error) is None:
            return True
        return not (record.name == "asyncio" or f"{os.sep}orbax{os.sep}" in (record.pathname or ""))


_failed_saves = False  # whether a save failed in this process (then its leftovers at exit are dropped)


def _unraisable(hook):
    """A sys.unraisablehook that drops what TensorStore's writes still in flight when a save failed
    raise into that save's event loop, closed by then ("Event loop is closed", from no object: a
    callback nothing can receive any more), and, once a save failed, the same at interpreter
    shutdown; everything else goes to `hook`."""
    def quiet(u: Any) -> None:
        text = str(u.exc_value)
        if u.object is None and isinstance(u.exc_value, RuntimeError) and text == "Event loop is closed":
            return
        if _failed_saves and "Python is likely shutting down" in text:
            return
        hook(u)
    quiet.jaxformer = True
    return quiet


def quiet_background_save_errors() -> None:
    """Installs (once per process) the filters above; other records and errors pass unchanged."""
    for name in ("absl", "asyncio"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropSaveTracebacks) for f in logger.filters):
            logger.addFilter(_DropSaveTracebacks())
    if not getattr(sys.unraisablehook, "jaxformer", False):
        sys.unraisablehook = _unraisable(sys.unraisablehook)


def saw_failed_save() -> None:
    global _failed_saves
    _failed_saves = True
