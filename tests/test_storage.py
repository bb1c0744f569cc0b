"""The disk under a run, on small tmpfs disks made in the test (skipped where mounting is not
allowed): the workdir refused before any work when it is read-only or too full; a save that the
disk refuses (full, read-only, no permission, at once or in Orbax's background commit) is one
SaveFailed naming its step, and the previous checkpoint stays the latest and restorable; metrics
on a full disk drop whole records; Orbax's background tracebacks of such errors are silenced."""

import errno
import logging
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import fill, remount
from jaxformer import checkpoint, storage
from jaxformer.config import ConfigError
from jaxformer.metrics import MetricWriter, read_metrics
from jaxformer.save_errors import SaveGuard

# TensorStore writes still in flight when a save fails call back into its closed event loop; the
# training loop drops those ("Event loop is closed"), pytest's own hook only reports them.
pytestmark = pytest.mark.filterwarnings("ignore:Exception ignored in. None:pytest.PytestUnraisableExceptionWarning")


def shapes(mib: int) -> dict:
    """The abstract state of a model whose parameters and optimiser state take `mib` MiB."""
    return {"params": {"w": jax.ShapeDtypeStruct((mib * 2**18,), jnp.float32)}}


def test_storage_errors_are_told_from_bugs():
    full = OSError(errno.ENOSPC, "No space left on device")
    assert str(storage.fault(full)) == "No space left on device [ENOSPC]"
    tensorstore = ValueError('RESOURCE_EXHAUSTED: Error writing local file "x": Failed to write 8884 bytes to '
                             "file 11: Permission denied [os_error_code='13']")
    assert storage.fault(tensorstore) == storage.Fault(errno.EACCES, "Permission denied")
    try:
        try:
            raise OSError(errno.EROFS, "Read-only file system")
        except OSError as e:
            raise RuntimeError("Save Finalize thread failed") from e
    except RuntimeError as e:
        assert storage.fault(e).errno == errno.EROFS
    assert storage.fault(ExceptionGroup("saves", [ValueError("x"), full])).errno == errno.ENOSPC
    assert storage.fault(ValueError("a bug")) is None


def test_a_read_only_workdir_is_refused_before_anything_is_written(tmpfs):
    disk = tmpfs("1m", "ro")
    with pytest.raises(ConfigError) as e:
        storage.check_workdir(disk / "wd", shapes(1), keep=3, best=True)
    assert str(e.value) == (f"cannot create --workdir {disk / 'wd'}: {disk} is not writable (Read-only file system); "
                            "choose a directory path you can write to")
    disk = tmpfs("1m")
    (disk / "wd").mkdir()
    remount(disk, "ro")
    with pytest.raises(ConfigError) as e:
        storage.check_workdir(disk / "wd", shapes(1), keep=3, best=True)
    assert str(e.value) == (f"--workdir {disk / 'wd'} is not writable (Read-only file system); fix its permissions "
                            "or mount, or choose another --workdir")


def test_a_workdir_without_write_permission_is_refused(tmp_path, monkeypatch):
    """Root may write anywhere, so the permission answers are faked here."""
    monkeypatch.setattr(storage.os, "access", lambda path, mode: False)
    with pytest.raises(ConfigError) as e:
        storage.check_workdir(tmp_path / "new" / "wd", shapes(1), keep=3, best=True)
    assert str(e.value) == (f"cannot create --workdir {tmp_path / 'new' / 'wd'}: {tmp_path} is not writable "
                            "(Permission denied); choose a directory path you can write to")
    (tmp_path / "wd" / "checkpoints").mkdir(parents=True)
    real = storage.tempfile.TemporaryFile

    def refused(dir):
        if Path(dir).name == "checkpoints":
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(dir=dir)
    monkeypatch.setattr(storage.tempfile, "TemporaryFile", refused)
    with pytest.raises(ConfigError) as e:
        storage.check_workdir(tmp_path / "wd", shapes(1), keep=3, best=True)
    assert str(e.value) == (f"--workdir {tmp_path / 'wd'} is not writable (Permission denied: "
                            f"{tmp_path / 'wd' / 'checkpoints'}); fix its permissions or mount, or choose another "
                            "--workdir")


def test_a_workdir_without_room_for_a_checkpoint_is_refused_and_a_tight_one_warned(tmpfs):
    disk = tmpfs("8m")
    with pytest.raises(ConfigError) as e:
        storage.check_workdir(disk / "wd", shapes(16), keep=3, best=True)
    assert str(e.value) == (f"--workdir {disk / 'wd'} has 8.0 MiB free but a checkpoint of this model needs about "
                            "84.0 MiB (16.0 MiB of parameters and optimiser state x 1.25 + 64.0 MiB for the run's "
                            "other files); free space there or choose another --workdir")
    assert list(disk.iterdir()) == []  # nothing written
    disk = tmpfs("100m")
    assert storage.check_workdir(disk / "wd", shapes(4), keep=3, best=True) is None  # 5 x 5 MiB + 64 MiB fit
    warning = storage.check_workdir(disk / "wd", shapes(8), keep=3, best=True)  # one fits, five do not
    assert warning == (f"warning: --workdir {disk / 'wd'} has 100.0 MiB free but the run may need about 114.0 MiB "
                       "more (5 more checkpoint(s) of about 10.0 MiB, as it holds train.keep_checkpoints=3, the best "
                       "and one being written, + 64.0 MiB for its other files); saves will fail once the disk is "
                       "full (see train.on_save_error)")


def small_state(seed: int) -> dict:
    """1 MiB of random values (constants would compress to nothing on disk)."""
    return {"params": {"w": jnp.asarray(np.random.default_rng(seed).standard_normal(2**18), jnp.float32)}}


def listing(workdir) -> list[str]:
    return sorted(p.name for p in (workdir / "checkpoints").iterdir())


def test_a_save_that_fills_the_disk_fails_and_the_previous_checkpoint_stays_the_latest(tmpfs):
    disk = tmpfs("8m")
    ckpt = checkpoint.Checkpoints(disk / "wd", keep=1, best_metric=None)  # keep 1: step 2 would replace step 1
    ckpt.save(1, small_state(1), {"n": 1})
    ckpt.wait()
    fill(disk, leave=64 * 1024)
    with pytest.raises(checkpoint.SaveFailed) as e:
        ckpt.save(2, small_state(2), {"n": 2})
        ckpt.wait()  # the error of an asynchronous save is found here
    assert (e.value.step, e.value.fault.errno) == (2, errno.ENOSPC)
    assert str(e.value) == ("the checkpoint of step 2 could not be saved (No space left on device [ENOSPC]); free "
                            f"space on the disk of {disk / 'wd'} and try again")
    assert ckpt.all_steps() == [1] and listing(disk / "wd") == ["1"]  # the half-written folder removed
    state, data = ckpt.restore(1, small_state(0))
    assert data == {"n": 1} and np.array_equal(state["params"]["w"], small_state(1)["params"]["w"])
    (disk / "ballast").unlink()
    ckpt.save(3, small_state(3), {"n": 3})
    ckpt.wait()
    assert ckpt.all_steps() == [3] and listing(disk / "wd") == ["3"]  # and the manager keeps 1 again
    ckpt.close()


def test_a_read_only_disk_and_refused_permissions_are_save_failures(tmpfs, monkeypatch):
    from orbax.checkpoint._src.path import atomicity
    disk = tmpfs("8m")
    ckpt = checkpoint.Checkpoints(disk / "wd", keep=2, best_metric=None)
    ckpt.save(1, small_state(1))
    ckpt.wait()
    remount(disk, "ro")
    with pytest.raises(checkpoint.SaveFailed) as e:
        ckpt.save(2, small_state(2))
        ckpt.wait()
    assert (e.value.step, e.value.fault.errno) == (2, errno.EROFS)
    assert "(Read-only file system [EROFS]); remount the filesystem of" in str(e.value)
    remount(disk, "rw")

    commit = atomicity.AtomicRenameTemporaryPath.finalize

    async def refused(self, *args, **kwargs):  # the rename that commits step 3, in Orbax's background thread
        if self._final_path.name == "3":
            raise PermissionError(errno.EACCES, "Permission denied", str(self._final_path))
        return await commit(self, *args, **kwargs)
    monkeypatch.setattr(atomicity.AtomicRenameTemporaryPath, "finalize", refused)
    with pytest.raises(checkpoint.SaveFailed) as e:
        ckpt.save(3, small_state(3))
        ckpt.wait()
    assert (e.value.step, e.value.fault.errno) == (3, errno.EACCES)
    assert f"(Permission denied [EACCES]); make {disk / 'wd'} and its checkpoints/ writable" in str(e.value)

    def refuse_at_once(*args, **kwargs):
        raise PermissionError(errno.EPERM, "Operation not permitted")
    monkeypatch.setattr(ckpt.manager, "save", refuse_at_once)
    with pytest.raises(checkpoint.SaveFailed) as e:
        ckpt.save(4, small_state(4))
    assert (e.value.step, e.value.fault.errno) == (4, errno.EPERM)

    def bug(*args, **kwargs):
        raise ValueError("a bug")
    monkeypatch.setattr(ckpt.manager, "save", bug)  # the manager was reopened after the failure above
    with pytest.raises(ValueError, match="a bug"):
        ckpt.save(5, small_state(5))
    assert ckpt.all_steps() == [1] and listing(disk / "wd") == ["1"]
    ckpt.close()


def test_save_guard_trains_on_or_stops_as_train_on_save_error_says(tmpfs, monkeypatch):
    disk, said = tmpfs("8m"), []
    workdir, ckpt = disk / "wd", checkpoint.Checkpoints(disk / "wd", keep=2, best_metric=None)
    real_save = ckpt.save

    def save(step, *args, **kwargs):  # the guard has waited for the save before by then
        if step == 4:
            (disk / "ballast").unlink()
        return real_save(step, *args, **kwargs)
    monkeypatch.setattr(ckpt, "save", save)
    good = f"the last good checkpoint is step 1 in {workdir / 'checkpoints'}"
    guard = SaveGuard(ckpt, "continue", log=said.append)
    guard.save(1, small_state(1), {}, None, last=False)
    guard.finish()
    fill(disk, leave=64 * 1024)
    guard.save(2, small_state(2), {}, None, last=False)  # fails (in the background)
    guard.save(3, small_state(3), {}, None, last=False)  # finds that, and fails too
    guard.save(4, small_state(4), {}, None, last=False)  # finds that; the disk has room again
    guard.finish()  # saved
    assert said == [f"warning: the checkpoint of step {step} could not be saved (No space left on device [ENOSPC]); "
                    f"{good}; training goes on (train.on_save_error=continue) and saves again at the next "
                    f"checkpoint; free space on the disk of {workdir}" for step in (2, 3)]
    assert ckpt.all_steps() == [1, 4] and listing(workdir) == ["1", "4"]

    fill(disk, leave=64 * 1024)  # the last save of a run has no next one: its failure ends the run
    guard.save(5, small_state(5), {}, None, last=True)
    with pytest.raises(ConfigError) as e:
        guard.finish()
    assert str(e.value) == (
        f"the checkpoint of step 5 could not be saved (No space left on device [ENOSPC]); the last good checkpoint "
        f"is step 4 in {workdir / 'checkpoints'}; that was the run's last save (train.on_save_error=continue): free "
        f"space on the disk of {workdir}, then resume with `jaxformer train --workdir {workdir}` to redo the steps "
        "after 4")

    stop = SaveGuard(ckpt, "stop", log=said.append)
    stop.save(6, small_state(6), {}, None, last=False)
    with pytest.raises(ConfigError) as e:
        stop.save(7, small_state(7), {}, None, last=False)
    assert str(e.value) == (
        f"the checkpoint of step 6 could not be saved (No space left on device [ENOSPC]); the last good checkpoint "
        f"is step 4 in {workdir / 'checkpoints'}; stopped (train.on_save_error=stop): free space on the disk of "
        f"{workdir}, then resume with `jaxformer train --workdir {workdir}`")
    assert ckpt.all_steps() == [1, 4] and listing(workdir) == ["1", "4"] and len(said) == 2
    ckpt.close()


def test_metrics_on_a_full_disk_lose_whole_records_and_say_so_once(tmpfs):
    disk, said = tmpfs("1m"), []
    writer = MetricWriter(disk / "wd", log=said.append)
    writer.write(1, "train", {"loss": 1.0})
    fill(disk)
    for step in (2, 3):  # a record longer than a page needs a new one, which the full disk refuses
        writer.write(step, "train", {"loss": float(step), "note": "x" * 6000})
    (disk / "ballast").unlink()
    writer.write(4, "train", {"loss": 4.0})
    writer.close()
    assert [r["step"] for r in read_metrics(disk / "wd")] == [1, 4]
    assert said == [f"warning: cannot write {disk / 'wd' / 'metrics.jsonl'} (No space left on device); metrics "
                    "from step 2 on are lost until it can be written again",
                    f"metrics are written to {disk / 'wd' / 'metrics.jsonl'} again from step 4 (lost: steps 2-3)"]


def test_orbax_tracebacks_of_storage_errors_are_dropped_and_others_kept():
    drop = storage._DropSaveTracebacks()

    def record(name: str, path: str, error: BaseException) -> logging.LogRecord:
        try:
            raise error
        except BaseException:
            return logging.LogRecord(name, logging.ERROR, path, 1, "failed", None, sys.exc_info())

    orbax = "/venv/site-packages/orbax/checkpoint/_src/futures/future.py"
    assert not drop.filter(record("absl", orbax, OSError(errno.ENOSPC, "No space left on device")))
    assert not drop.filter(record("asyncio", "/lib/asyncio/base_events.py",
                                  ValueError("Failed to write 15999 bytes: [os_error_code='28']")))
    assert drop.filter(record("absl", orbax, ValueError("a bug")))
    assert drop.filter(record("absl", "/venv/site-packages/tensorflow_datasets/x.py", OSError(errno.ENOSPC, "x")))
    assert drop.filter(logging.LogRecord("absl", logging.ERROR, orbax, 1, "no exception", None, None))
