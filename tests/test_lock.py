"""The workdir lock: a live holder is refused with one line naming it, a dead one's lock is taken
over with a warning, another host's is refused, and release leaves the workdir free."""

import json
import os
import socket
import subprocess

import pytest

from jaxformer import cli
from jaxformer.config import ConfigError
from jaxformer.lock import LOCK_FILE, WorkdirLock

HOST = socket.gethostname()


def write_holder(workdir, pid, host=HOST, since="2026-01-02 03:04:05 UTC"):
    (workdir / LOCK_FILE).write_text(json.dumps({"host": host, "pid": pid, "since": since}))


def test_a_live_holder_is_refused_then_its_dead_lock_is_taken_over(tmp_path, capsys):
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        write_holder(tmp_path, sleeper.pid)
        with pytest.raises(ConfigError, match=rf"{tmp_path} is in use by another training run \(pid {sleeper.pid} on "
                                              rf"{HOST} since 2026-01-02 03:04:05 UTC\)"):
            WorkdirLock(tmp_path).acquire()
        # The command line: one line on stderr, status 2, before any data is prepared.
        assert cli.main(["train", "--workdir", str(tmp_path), "--set", f"data.data_dir={tmp_path / 'data'}"]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and f"pid {sleeper.pid} on {HOST}" in err
        assert not (tmp_path / "data").exists() and not (tmp_path / "config.json").exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    said = []
    with WorkdirLock(tmp_path, log=said.append):
        held = json.loads((tmp_path / LOCK_FILE).read_text())
        assert held["pid"] == os.getpid() and held["host"] == HOST
        with pytest.raises(ConfigError, match=rf"in use by another training run \(pid {os.getpid()} on {HOST}"):
            WorkdirLock(tmp_path).acquire()  # a second holder, even in this process
    assert len(said) == 1 and f"no longer alive (pid {sleeper.pid} on {HOST}" in said[0]
    assert (tmp_path / LOCK_FILE).read_text() == ""  # released: free for the next run
    with WorkdirLock(tmp_path, log=said.append):
        pass
    assert len(said) == 1  # an empty lock file is taken silently


def test_another_hosts_lock_is_refused_and_disabled_locks_do_nothing(tmp_path):
    write_holder(tmp_path, 1, host="elsewhere")
    with pytest.raises(ConfigError, match=r"\(pid 1 on elsewhere since .*\) \(another host: .*delete .*train.lock"):
        WorkdirLock(tmp_path).acquire()
    with WorkdirLock(tmp_path, enabled=False):  # processes other than 0 of a multi-process run
        pass
    assert json.loads((tmp_path / LOCK_FILE).read_text())["host"] == "elsewhere"


def test_a_workdir_that_cannot_be_created_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot create --workdir /dev/null/x: Not a directory"):
        WorkdirLock("/dev/null/x").acquire()
