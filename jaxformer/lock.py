"""The workdir lock of a training run: one `jaxformer train` per workdir at a time.

Two runs writing the same checkpoints and metrics would ruin both, so `train` holds
`workdir/train.lock`, which names its holder (host, pid, start time). A second run is refused
with one line naming that holder. A lock left by a process that died (same host, pid no longer
alive) is taken over with a warning; one from another host cannot be checked from here, so it is
refused with the file to delete. `translate`, `evaluate` and `average` only read a workdir and
take no lock. The file is also `flock`ed while held, so two runs starting at the same instant on
one machine cannot both take it; released, it is left empty (not removed: removing a locked file
races with a process about to lock it).
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import os
import socket
from pathlib import Path
from typing import Any, Callable

from jaxformer.config import ConfigError

LOCK_FILE = "train.lock"


def make_workdir(workdir: Path) -> None:
    """Creates `workdir` (and its parents); an impossible path is a one-line ConfigError."""
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        where = f" ({e.filename})" if e.filename and str(e.filename) != str(workdir) else ""
        raise ConfigError(f"cannot create --workdir {workdir}: {e.strerror or e}{where}; choose a directory path "
                          "you can write to") from None


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (one of another user counts too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder_text(holder: dict[str, Any]) -> str:
    return f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('since')}"


class WorkdirLock:
    """Context manager holding `workdir/train.lock`; `enabled=False` (processes other than 0 of
    a multi-process run) makes it do nothing."""

    def __init__(self, workdir: str | os.PathLike, *, enabled: bool = True, log: Callable[..., None] = print):
        self.path = Path(workdir).absolute() / LOCK_FILE
        self.enabled = enabled
        self.log = log
        self._fd: int | None = None

    def __enter__(self) -> WorkdirLock:
        if self.enabled:
            self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        """Takes the lock, or raises a ConfigError naming the live holder."""
        make_workdir(self.path.parent)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise ConfigError(f"cannot write the lock file {self.path}: {e.strerror}; choose a --workdir you can "
                              "write to") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:  # without flock on this filesystem (some NFS) the recorded holder alone decides
            if e.errno in (errno.EWOULDBLOCK, errno.EACCES):
                os.close(fd)
                holder = _holder_text(self._read())
                raise ConfigError(f"{self.path.parent} is in use by another training run ({holder}); wait for it "
                                  "or stop it, or use another --workdir") from None
        holder = self._read(fd)
        here, pid = socket.gethostname(), holder.get("pid")
        if isinstance(pid, int) and pid > 0 and (holder.get("host"), pid) != (here, os.getpid()):
            if holder.get("host") != here or pid_alive(pid):
                os.close(fd)
                other = "" if holder.get("host") == here else " (another host: whether it runs cannot be checked here)"
                raise ConfigError(f"{self.path.parent} is in use by another training run ({_holder_text(holder)})"
                                  f"{other}; wait for it or stop it, or delete {self.path} if it is not running")
            self.log(f"warning: taking over the lock of {self.path.parent} from a run that is no longer alive "
                     f"({_holder_text(holder)})")
        record = {"host": here, "pid": os.getpid(),
                  "since": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(record).encode(), 0)
            os.fsync(fd)
        except OSError as e:  # e.g. a full disk
            os.close(fd)
            raise ConfigError(f"cannot write the lock file {self.path}: {e.strerror}; free space in or choose "
                              "another --workdir") from None
        self._fd = fd

    def release(self) -> None:
        """Empties and unlocks the file (a later run finds it free)."""
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
        except OSError:  # a disk turned read-only: the holder stays recorded, a dead pid, taken over later
            pass
        finally:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def _read(self, fd: int | None = None) -> dict[str, Any]:
        """The holder recorded in the file ({} when empty or unreadable)."""
        try:
            data = os.pread(fd, 4096, 0) if fd is not None else self.path.read_bytes()
            holder = json.loads(data.decode()) if data.strip() else {}
            return holder if isinstance(holder, dict) else {}
        except (OSError, ValueError):
            return {}
