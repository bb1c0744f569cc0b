"""The training loop end to end on a small generated corpus: outputs in the workdir, exact
resume after an interruption (in-process and SIGKILL), SIGTERM's final save, and clear errors
for corrupt and incompatible checkpoints that leave the directory as it was."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import fill
from jaxformer import checkpoint, loop, sharding
from jaxformer.cli import load_experiment
from jaxformer.config import ConfigError, apply_overrides
from jaxformer.metrics import read_metrics

WORDS = "the a cat dog house tree red blue green small big sees has runs under near with one two three".split()

CONFIG = '''
from jaxformer.config import DataConfig, ExperimentConfig, MeshConfig, TokenizerConfig, TrainConfig, preset

def get_config():
    d = {root!r}
    return ExperimentConfig(
        model=preset("tiny", vocab_size=43, d_model=32, d_ff=64, num_heads=4, dropout_rate=0.1),
        data=DataConfig(dataset="files", files=(("train", (d + "/train",)), ("validation", (d + "/val",)),
                                                ("test", (d + "/test",))),
                        data_dir=d + "/data", tokenizer=TokenizerConfig(vocab_size=43, model_type="word"),
                        max_length=16, batch_size=8, pack_length=32, eval_batch_size=16),
        train=TrainConfig(num_steps=12, schedule="constant", peak_learning_rate=3e-3, log_every=1,
                          eval_every=1000, checkpoint_every=3, eval_bleu_examples=8, test_beam_size=2,
                          profile_steps=(2, 4)),
        mesh=MeshConfig(data=-1))
'''


@pytest.fixture(scope="module")
def config_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("loop")
    rng = np.random.default_rng(0)
    for split, n in (("train", 300), ("val", 20), ("test", 20)):
        lines = [" ".join(rng.choice(WORDS, size=rng.integers(2, 12))) for _ in range(n)]
        (root / f"{split}.en").write_text("\n".join(lines) + "\n")
        (root / f"{split}.de").write_text("\n".join(line.upper() for line in lines) + "\n")
    path = root / "exp.py"
    path.write_text(CONFIG.format(root=str(root)))
    return path


def train_losses(workdir):
    """The last logged train loss of every step (a resumed run logs some steps twice)."""
    out = {}
    for r in read_metrics(workdir):
        if r["split"] == "train":
            out[r["step"]] = r["loss"]
    return out


def tree_digest(directory: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(directory.rglob("*")):
        h.update(str(p.relative_to(directory)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def uninterrupted(config_file, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("full")
    result = loop.run(load_experiment(str(config_file), []), workdir, log=lambda *a, **k: None)
    return workdir, result


def test_workdir_is_self_describing(uninterrupted):
    workdir, result = uninterrupted
    assert result["step"] == 12 and "bleu" in result["test"] and result["test"]["sentences"] == 20
    assert (workdir / "config.json").is_file() and (workdir / "tokenizer.model").is_file()
    assert list((workdir / "tensorboard").iterdir())
    assert checkpoint.Checkpoints(workdir).all_steps()[-1] == 12
    assert checkpoint.read_config(workdir).train.num_steps == 12
    assert sorted(train_losses(workdir)) == list(range(1, 13))
    assert list((workdir / "profile").rglob("*.xplane.pb"))  # the requested profiler trace
    assert result["test"]["beam_size"] == 2 and "tok_bleu" in result["test"]


def test_interrupted_and_resumed_run_equals_uninterrupted(config_file, uninterrupted, tmp_path):
    exp = load_experiment(str(config_file), [])
    loop.run(exp, tmp_path, log=lambda *a, **k: None, stop_after=5)
    assert checkpoint.Checkpoints(tmp_path).latest_step() == 5
    loop.run(exp, tmp_path, log=lambda *a, **k: None)
    expected = train_losses(uninterrupted[0])
    assert train_losses(tmp_path) == expected  # exactly: same batches, same updates


@pytest.mark.slow  # three short runs, one in a new process: about 40 s on 2 cores
def test_resume_in_a_new_process_equals_uninterrupted_with_subword_sampling(config_file, tmp_path):
    """BPE-dropout draws depend only on (data seed, position in the stream): a run resumed in a
    new process segments the remaining pairs as the uninterrupted one did."""
    said = []
    overrides = ["data.subword_sampling=0.2", "data.tokenizer.model_type=bpe", "data.tokenizer.vocab_size=60",
                 "model.vocab_size=60", "train.num_steps=6", "train.profile_steps=()", "train.test_beam_size=1",
                 "train.eval_bleu_examples=0"]
    exp = apply_overrides(load_experiment(str(config_file), []), overrides)
    loop.run(exp, tmp_path / "full", log=lambda *a, **k: said.append(" ".join(map(str, a))))
    assert any("segmented by sampling" in line for line in said)
    loop.run(exp, tmp_path / "resumed", log=lambda *a, **k: None, stop_after=3)
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    subprocess.run([sys.executable, "-m", "jaxformer.cli", "train", "--config", str(config_file), "--workdir",
                    str(tmp_path / "resumed"), *[a for o in overrides for a in ("--set", o)]],
                   env=env, check=True, capture_output=True)
    assert train_losses(tmp_path / "resumed") == train_losses(tmp_path / "full")


def _start(config_file, workdir):
    """A training process to signal. No profiler trace: these tests are about signals, and the
    trace (tested in-process above) once crashed this process in CI while it stopped."""
    env = dict(os.environ, JAX_PLATFORMS="cpu")  # the same 8 CPU devices as this process
    return subprocess.Popen([sys.executable, "-m", "jaxformer.cli", "train", "--config", str(config_file),
                             "--workdir", str(workdir), "--set", "train.num_steps=40",
                             "--set", "train.profile_steps=()"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_step(workdir, step, proc, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if max(train_losses(workdir) or [0]) >= step:
            return
        if proc.poll() is not None:
            raise AssertionError(proc.stdout.read())
        time.sleep(0.2)
    raise AssertionError("training did not reach step %d" % step)


@pytest.mark.slow  # two fresh processes and a reference run: about 2 minutes on 2 cores
def test_sigkill_then_resume_gives_the_uninterrupted_losses(config_file, tmp_path):
    full = tmp_path / "full"
    reference = loop.run(apply_overrides(load_experiment(str(config_file), []), ["train.num_steps=40"]), full,
                         log=lambda *a, **k: None)
    assert reference["step"] == 40
    killed = tmp_path / "killed"
    proc = _start(config_file, killed)
    _wait_for_step(killed, 20, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    latest = checkpoint.Checkpoints(killed).latest_step()
    assert latest is not None and latest < 40
    proc = _start(config_file, killed)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    assert f"resumed from step {latest}" in out
    assert train_losses(killed) == train_losses(full)


# Preemption, and Ctrl-C (one handler for both: the second a slow test, ~50 s each on 2 cores).
@pytest.mark.parametrize("sig", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)])
def test_sigterm_and_ctrl_c_save_before_exit(config_file, tmp_path, sig):
    proc = _start(config_file, tmp_path)
    _wait_for_step(tmp_path, 4, proc)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert f"({sig.name})" in out
    step = int(out.split("stopping at step ")[1].split()[0])
    assert checkpoint.Checkpoints(tmp_path).latest_step() == step
    assert (tmp_path / "train.lock").read_text() == ""  # the workdir is free again


def test_incompatible_checkpoint_is_refused_and_left_intact(config_file, uninterrupted):
    workdir = uninterrupted[0]
    before = tree_digest(workdir / "checkpoints")
    other = apply_overrides(load_experiment(str(config_file), []), ["model.d_model=64"])
    with pytest.raises(ConfigError, match="holds checkpoints of another model .*d_model: 32 there, 64 here"):
        loop.run(other, workdir, log=lambda *a, **k: None)
    # Even past the config check, restoring refuses a checkpoint of another shape.
    from jaxformer import train
    import jax
    ckpt = checkpoint.Checkpoints(workdir)
    with pytest.raises(ConfigError, match=r"does not fit this model: params/.* is \(.*\) there and \(.*\) here"):
        ckpt.restore(12, jax.eval_shape(lambda: train.init_state(other)))
    ckpt.close()
    # The same model under a training option that changes the state (here an EMA of the parameters):
    # refused before anything is written, config.json included; and again by restore itself.
    config_before = (workdir / "config.json").read_bytes()
    with_ema = apply_overrides(load_experiment(str(config_file), []), ["train.ema_decay=0.99"])
    with pytest.raises(ConfigError, match=r"holds checkpoints trained with train.ema_decay=0.0, and "
                                          r"train.ema_decay=0.99 here saves another training state"):
        loop.run(with_ema, workdir, log=lambda *a, **k: None)
    assert (workdir / "config.json").read_bytes() == config_before
    ckpt = checkpoint.Checkpoints(workdir)
    with pytest.raises(ConfigError, match=r"/12 was saved with another optimiser or EMA state \(ema/.* is in this "
                                          r"config only\): train.ema_decay or train.clip_grad_norm"):
        ckpt.restore(12, jax.eval_shape(lambda: train.init_state(with_ema)))
    ckpt.close()
    assert tree_digest(workdir / "checkpoints") == before


def test_corrupt_checkpoint_gets_a_clear_error_and_is_left_intact(config_file, uninterrupted, tmp_path):
    import shutil
    workdir = tmp_path / "copy"
    shutil.copytree(uninterrupted[0], workdir)
    state_dir = workdir / "checkpoints" / "12" / "state"
    victims = [p for p in state_dir.rglob("*") if p.is_file() and p.stat().st_size > 0]
    for p in victims:
        p.write_bytes(b"\x00garbage" * 3)
    before = tree_digest(workdir / "checkpoints")
    with pytest.raises(ConfigError, match=r"checkpoint .*/12 (cannot be read|has no readable metadata)"):
        loop.run(load_experiment(str(config_file), []), workdir, log=lambda *a, **k: None)
    assert tree_digest(workdir / "checkpoints") == before


def test_time_budget_ends_the_run_with_evaluation_and_test(config_file, tmp_path):
    exp = apply_overrides(load_experiment(str(config_file), []),
                          ["train.num_steps=1000", "train.max_train_seconds=0.001", "train.test_beam_size=1"])
    result = loop.run(exp, tmp_path, log=lambda *a, **k: None)
    assert result["step"] == 1 and "bleu" in result["eval"] and "bleu" in result["test"]
    assert checkpoint.Checkpoints(tmp_path).latest_step() == 1


def test_time_decay_anneals_to_zero_at_the_budget_and_a_resumed_run_keeps_the_clock(config_file, tmp_path,
                                                                                      monkeypatch):
    from jaxformer import budget
    from test_budget import FakeClock
    monkeypatch.setattr(budget, "time", FakeClock(1.0))  # every reading of the budget's clock: 1 s later
    exp = apply_overrides(load_experiment(str(config_file), []),
                          ["train.warmup_steps=2", "train.num_steps=1000", "train.schedule=linear_decay",
                           "train.max_train_seconds=24", "train.decay_over=time", "train.test_beam_size=1"])
    loop.run(exp, tmp_path, log=lambda *a, **k: None, stop_after=6)
    said = []
    result = loop.run(exp, tmp_path, log=lambda line, **_: said.append(line))
    assert any("resumed from step 6" in line and "s of training used" in line for line in said)
    rates = [r["learning_rate"] for r in read_metrics(tmp_path) if r["split"] == "train"]
    steps = [r["step"] for r in read_metrics(tmp_path) if r["split"] == "train"]
    assert steps == list(range(1, result["step"] + 1)) and 12 < result["step"] < 24  # ended by the budget
    peak = exp.train.peak_learning_rate
    assert rates[1] == pytest.approx(peak * (1 - 1 / 24), rel=1e-5)  # one reading (1 s) after step 1
    assert all(b < a for a, b in zip(rates[1:], rates[2:]))  # down all the way, across the resume too
    assert rates[-1] < 0.1 * peak and "bleu" in result["test"]
    # Launched again with its budget used up: no further update, only the test.
    latest = checkpoint.Checkpoints(tmp_path).latest_step()
    again = loop.run(exp, tmp_path, log=lambda *a, **k: None)
    assert again["step"] == result["step"] == latest == checkpoint.Checkpoints(tmp_path).latest_step()
    assert again["test"]["bleu"] == result["test"]["bleu"]


def test_batch_not_divisible_by_the_mesh_is_a_clear_error(config_file, tmp_path):
    exp = apply_overrides(load_experiment(str(config_file), []), ["data.batch_size=12"])
    with pytest.raises(ConfigError, match="a batch of 12 rows cannot be split over the 8 devices"):
        loop.run(exp, tmp_path, log=lambda *a, **k: None)


def test_prepare_command_builds_data_once_for_train(config_file, tmp_path, capsys):
    from jaxformer import cli
    data_dir = tmp_path / "prepared"
    assert cli.main(["prepare", "--config", str(config_file), "--set", f"data.data_dir={data_dir}"]) == 0
    out = capsys.readouterr().out
    assert "train 300" in out and str(data_dir) in out
    assert any(data_dir.rglob("tokenizer.model"))
    assert cli.main(["prepare", "--config", str(config_file), "--set", "data.nope=1"]) == 2


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("jaxformer: error:"), err
    return err


def test_a_config_with_a_syntax_error_is_one_line(tmp_path, capsys):
    from jaxformer import cli
    (tmp_path / "bad.py").write_text("from jaxformer.config import ExperimentConfig\n\ndef get_config(:\n    pass\n")
    assert cli.main(["train", "--config", str(tmp_path / "bad.py"), "--workdir", str(tmp_path / "wd")]) == 2
    assert f"{tmp_path / 'bad.py'} line 3: invalid syntax" in one_error_line(capsys)
    assert not (tmp_path / "wd").exists()


def test_a_workdir_that_cannot_be_created_is_one_line(config_file, capsys):
    from jaxformer import cli
    assert cli.main(["train", "--config", str(config_file), "--workdir", "/dev/null/x"]) == 2
    assert "cannot create --workdir /dev/null/x: Not a directory" in one_error_line(capsys)


def test_the_mesh_is_checked_before_any_data_is_prepared(config_file, tmp_path):
    exp = apply_overrides(load_experiment(str(config_file), []),
                          ["mesh.data=3", f"data.data_dir={tmp_path / 'data'}"])
    with pytest.raises(ConfigError, match="mesh data=3 x fsdp=1 x tensor=1 needs 3 devices but 8 are available"):
        loop.run(exp, tmp_path / "wd", log=lambda *a, **k: None)
    assert not (tmp_path / "data").exists() and not (tmp_path / "wd" / "config.json").exists()


def test_unfinished_saves_are_removed_on_start_and_the_manager_closed_on_error(config_file, uninterrupted, tmp_path,
                                                                               monkeypatch):
    import shutil
    workdir = tmp_path / "copy"
    shutil.copytree(uninterrupted[0], workdir)
    stale = workdir / "checkpoints" / "15.orbax-checkpoint-tmp"  # what a save killed in flight leaves
    (stale / "state").mkdir(parents=True)
    (stale / "state" / "partial").write_bytes(b"half")
    closed = []
    monkeypatch.setattr(checkpoint.Checkpoints, "close", lambda self: closed.append(self.directory))
    monkeypatch.setattr(loop.pipeline, "train_batches", lambda *a, **k: 1 / 0)  # fails after the manager opened
    said = []
    with pytest.raises(ZeroDivisionError):
        loop.run(load_experiment(str(config_file), []), workdir, log=said.append)
    assert "removed 1 unfinished checkpoint folder(s) of an interrupted save: 15.orbax-checkpoint-tmp" in said
    assert not stale.exists() and checkpoint.Checkpoints(workdir).latest_step() == 12
    assert closed == [workdir / "checkpoints"] and (workdir / "train.lock").read_text() == ""


def poison_training_batches(monkeypatch, steps):
    """Training batches of these steps get token ids past the vocabulary: a NaN loss there."""
    real, calls = sharding.global_batch, []

    def poisoned(batch, mesh, rules, fields=sharding.MODEL_FIELDS):
        if fields is sharding.MODEL_FIELDS:
            calls.append(1)
            if len(calls) in steps:
                batch = dict(batch, inputs=np.where(np.asarray(batch["inputs"]) > 0, 10_000, 0).astype(np.int32))
        return real(batch, mesh, rules, fields)
    monkeypatch.setattr(sharding, "global_batch", poisoned)


def test_a_nan_loss_stops_the_run_naming_the_step_and_the_last_good_checkpoint(config_file, tmp_path, monkeypatch):
    poison_training_batches(monkeypatch, {5})
    exp = apply_overrides(load_experiment(str(config_file), []), ["train.profile_steps=()"])
    with pytest.raises(ConfigError, match=r"^the loss or gradient became NaN or infinite at step 5 \(1 update\(s\) "
                                          r"dropped in this run, train.skip_nonfinite=0 allowed\); stopped without "
                                          r"saving: the last good checkpoint is step 3 in .*checkpoints; resume"):
        loop.run(exp, tmp_path, log=lambda *a, **k: None)
    assert checkpoint.Checkpoints(tmp_path).all_steps() == [3]
    import jax
    _, params, _ = checkpoint.load_model_params(tmp_path)
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(params))
    assert (tmp_path / "train.lock").read_text() == ""


def test_skip_nonfinite_drops_bad_updates_and_counts_them(config_file, tmp_path, monkeypatch):
    poison_training_batches(monkeypatch, {5, 7})
    exp = apply_overrides(load_experiment(str(config_file), []),
                          ["train.skip_nonfinite=2", "train.test_beam_size=1", "train.profile_steps=()"])
    result = loop.run(exp, tmp_path, log=lambda *a, **k: None)
    assert result["step"] == 12 and np.isfinite(result["test"]["loss"])
    train = {r["step"]: r for r in read_metrics(tmp_path) if r["split"] == "train"}
    assert [s for s in train if not np.isfinite(train[s]["loss"])] == [5, 7]
    assert train[4]["dropped_updates"] == 0 and train[12]["dropped_updates"] == 2


KILL_DURING_SAVE = '''
import asyncio, sys
from pathlib import Path
from orbax.checkpoint._src.path import atomicity
commit = atomicity.AtomicRenameTemporaryPath.finalize
async def finalize(self, *args, **kwargs):  # the rename that commits a step; step {step}'s never comes
    if self._final_path.name == "{step}":
        Path({marker!r}).write_text(str(self._tmp_path))
        await asyncio.sleep(3600)
    return await commit(self, *args, **kwargs)
atomicity.AtomicRenameTemporaryPath.finalize = finalize
from jaxformer.cli import main
sys.exit(main(sys.argv[1:]))
'''


@pytest.mark.slow  # a killed process, a resumed one and the reference run: about 2 minutes on 2 cores
def test_sigkill_during_a_save_resumes_from_the_last_complete_checkpoint(config_file, uninterrupted, tmp_path):
    script, marker, workdir = tmp_path / "kill_during_save.py", tmp_path / "saving", tmp_path / "wd"
    script.write_text(KILL_DURING_SAVE.format(step=6, marker=str(marker)))
    proc = subprocess.Popen([sys.executable, str(script), "train", "--config", str(config_file),
                             "--workdir", str(workdir)],
                            env=dict(os.environ, JAX_PLATFORMS="cpu"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 240
    while not marker.exists():  # step 6's files are written; its commit is pending
        assert proc.poll() is None, proc.stdout.read()
        assert time.time() < deadline, "the save of step 6 never started"
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (workdir / "checkpoints" / "6.orbax-checkpoint-tmp").is_dir()
    assert checkpoint.Checkpoints(workdir).latest_step() == 3
    said = []
    loop.run(load_experiment(str(config_file), []), workdir, log=lambda line, **_: said.append(line))
    assert any("taking over the lock" in line and f"pid {proc.pid}" in line for line in said)
    assert "removed 1 unfinished checkpoint folder(s) of an interrupted save: 6.orbax-checkpoint-tmp" in said
    assert any(f"resumed from step 3 in {workdir}" in line for line in said)
    assert train_losses(workdir) == train_losses(uninterrupted[0])  # nothing lost past the last checkpoint


def test_a_resume_with_other_data_is_refused_before_any_data_work(config_file, uninterrupted, tmp_path, capsys):
    from jaxformer import cli
    workdir = uninterrupted[0]
    kept = {name: (workdir / name).read_bytes() for name in ("config.json", "tokenizer.model")}
    before = tree_digest(workdir / "checkpoints")
    other = apply_overrides(load_experiment(str(config_file), []),
                            ["data.tokenizer.model_type=bpe", "data.shards=2", f"data.data_dir={tmp_path / 'data'}"])
    with pytest.raises(ConfigError, match=r"holds checkpoints trained on other data \(data.shards: 0 there, 2 here; "
                                          r"data.tokenizer.model_type: 'word' there, 'bpe' here\): the token ids"):
        loop.run(other, workdir, log=lambda *a, **k: None)
    assert cli.main(["train", "--config", str(config_file), "--workdir", str(workdir),
                     "--set", "data.tokenizer.vocab_size=40"]) == 2
    assert (f"jaxformer: error: {workdir} holds checkpoints trained on other data (data.tokenizer.vocab_size: 43 "
            "there, 40 here): the token ids or the order of batches would change under them; resume with the values "
            "they were trained with (`jaxformer train --workdir` without --config continues with them) or use a new "
            "--workdir") == one_error_line(capsys)
    assert not (tmp_path / "data").exists()  # refused before any data was prepared
    assert {name: (workdir / name).read_bytes() for name in kept} == kept
    assert tree_digest(workdir / "checkpoints") == before


def test_a_resume_may_move_the_data_cache_and_change_what_is_evaluated(config_file, uninterrupted, tmp_path):
    """The tokenizer is trained again in the new data_dir: it must come out the same (else the
    workdir's one would be replaced, and that is refused)."""
    import shutil
    workdir = tmp_path / "copy"
    shutil.copytree(uninterrupted[0], workdir)
    tokenizer = (workdir / "tokenizer.model").read_bytes()
    exp = apply_overrides(load_experiment(str(config_file), []),
                          [f"data.data_dir={tmp_path / 'moved'}", "data.eval_batch_size=8", "train.test_beam_size=1"])
    result = loop.run(exp, workdir, log=lambda *a, **k: None)
    assert result["step"] == 12 and result["test"]["sentences"] == 20 and result["test"]["beam_size"] == 1
    assert checkpoint.read_config(workdir).data.eval_batch_size == 8
    assert (workdir / "tokenizer.model").read_bytes() == tokenizer
    assert any((tmp_path / "moved").rglob("tokenizer.model"))


def before_saves(monkeypatch, events):
    """Runs events[step]() when the checkpoint of that step is about to start (the loop has waited
    for the save before it by then)."""
    real = checkpoint.Checkpoints.save

    def save(self, step, *args, **kwargs):
        if step in events:
            events[step]()
        return real(self, step, *args, **kwargs)
    monkeypatch.setattr(checkpoint.Checkpoints, "save", save)


def test_a_workdir_without_room_or_write_access_is_refused_in_one_line_before_any_work(config_file, tmpfs, capsys):
    from jaxformer import cli
    disk = tmpfs("8m")
    assert cli.main(["train", "--config", str(config_file), "--workdir", str(disk / "wd")]) == 2
    assert one_error_line(capsys) == (
        f"jaxformer: error: --workdir {disk / 'wd'} has 8.0 MiB free but a checkpoint of this model needs about "
        "64.6 MiB (517.1 KiB of parameters and optimiser state x 1.25 + 64.0 MiB for the run's other files); free "
        "space there or choose another --workdir")
    read_only = tmpfs("1m", "ro")
    assert cli.main(["train", "--config", str(config_file), "--workdir", str(read_only / "wd")]) == 2
    assert one_error_line(capsys) == (
        f"jaxformer: error: cannot create --workdir {read_only / 'wd'}: {read_only} is not writable (Read-only file "
        "system); choose a directory path you can write to")
    assert list(disk.iterdir()) == [] and list(read_only.iterdir()) == []


def test_a_full_disk_during_a_save_stops_the_run_in_one_line_and_keeps_the_last_checkpoint(config_file, tmpfs,
                                                                                           monkeypatch, capfd):
    from jaxformer import cli
    disk = tmpfs("80m")
    workdir = disk / "wd"
    before_saves(monkeypatch, {6: lambda: fill(disk)})
    assert cli.main(["train", "--config", str(config_file), "--workdir", str(workdir),
                     "--set", "train.profile_steps=()"]) == 2
    err = capfd.readouterr().err  # (tfds's progress bars aside) the one line, Orbax's tracebacks silenced
    assert "Traceback" not in err and "orbax" not in err and err.count("jaxformer: error:") == 1
    assert err.strip().splitlines()[-1:] == [
        f"jaxformer: error: the checkpoint of step 6 could not be saved (No space left on device [ENOSPC]); the last "
        f"good checkpoint is step 3 in {workdir / 'checkpoints'}; stopped (train.on_save_error=stop): free space on "
        f"the disk of {workdir}, then resume with `jaxformer train --workdir {workdir}`"]
    assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == ["3"]  # 6's folder removed
    assert (workdir / "train.lock").read_text() == ""
    import jax
    _, params, step = checkpoint.load_model_params(workdir)
    assert step == 3 and all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(params))


@pytest.mark.slow  # a whole run (tests/test_storage.py checks the same policy on saves alone, in seconds)
def test_on_save_error_continue_trains_through_a_full_disk_and_a_refused_commit(config_file, tmpfs, monkeypatch):
    import errno

    from orbax.checkpoint._src.path import atomicity
    disk = tmpfs("80m")
    workdir = disk / "wd"
    commit = atomicity.AtomicRenameTemporaryPath.finalize

    async def refused(self, *args, **kwargs):  # the rename that commits step 9 (Orbax's background thread)
        if self._final_path.name == "9":
            raise PermissionError(errno.EACCES, "Permission denied", str(self._final_path))
        return await commit(self, *args, **kwargs)
    monkeypatch.setattr(atomicity.AtomicRenameTemporaryPath, "finalize", refused)
    before_saves(monkeypatch, {6: lambda: fill(disk), 9: lambda: (disk / "ballast").unlink()})
    exp = apply_overrides(load_experiment(str(config_file), []),
                          ["train.on_save_error=continue", "train.profile_steps=()", "train.test_beam_size=1"])
    said = []
    result = loop.run(exp, workdir, log=lambda line, **_: said.append(line))
    assert result["step"] == 12 and result["test"]["sentences"] == 20
    good = f"the last good checkpoint is step 3 in {workdir / 'checkpoints'}"
    assert [line for line in said if "could not be saved" in line] == [
        f"warning: the checkpoint of step 6 could not be saved (No space left on device [ENOSPC]); {good}; training "
        f"goes on (train.on_save_error=continue) and saves again at the next checkpoint; free space on the disk of "
        f"{workdir}",
        f"warning: the checkpoint of step 9 could not be saved (Permission denied [EACCES]); {good}; training goes on "
        f"(train.on_save_error=continue) and saves again at the next checkpoint; make {workdir} and its "
        "checkpoints/ writable"]
    assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == ["12", "3"]
    assert checkpoint.load_model_params(workdir)[2] == 12
    assert read_metrics(workdir)[-1]["split"] == "test"  # every line whole


@pytest.mark.slow  # a stopped run and its resume: about 40 s on 2 cores
def test_a_run_stopped_by_a_full_disk_resumes_from_its_last_checkpoint_with_the_uninterrupted_losses(
        config_file, uninterrupted, tmpfs, monkeypatch):
    disk = tmpfs("80m")
    workdir = disk / "wd"
    before_saves(monkeypatch, {6: lambda: fill(disk)})
    exp = apply_overrides(load_experiment(str(config_file), []), ["train.profile_steps=()"])
    with pytest.raises(ConfigError, match=r"^the checkpoint of step 6 could not be saved \(No space left on device "
                                          r"\[ENOSPC\]\); the last good checkpoint is step 3 in "):
        loop.run(exp, workdir, log=lambda *a, **k: None)
    monkeypatch.undo()
    (disk / "ballast").unlink()
    said = []
    loop.run(exp, workdir, log=lambda line, **_: said.append(line))
    assert any(f"resumed from step 3 in {workdir}" in line for line in said)
    assert train_losses(workdir) == train_losses(uninterrupted[0])  # nothing lost past the last checkpoint
