"""The persistent compilation cache: `jaxformer translate` fills WORKDIR/compile_cache, and a
second process with the same shapes loads every executable from it and compiles nothing."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import pytest

from jaxformer import checkpoint, compile_cache, train
from jaxformer.config import DataConfig, ExperimentConfig, MeshConfig, TokenizerConfig, preset
from jaxformer.data.tokenizer import train_or_load

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A tiny model's workdir with one (untrained) checkpoint."""
    wd = tmp_path_factory.mktemp("wd")
    words = "the a cat dog house tree red blue green sees has runs".split()
    tok = train_or_load(wd / "tok", lambda: iter(words), TokenizerConfig(vocab_size=15, model_type="word"))
    shutil.copy(wd / "tok" / "tokenizer.model", wd / "tokenizer.model")
    exp = ExperimentConfig(model=preset("tiny", vocab_size=tok.vocab_size, d_model=32, d_ff=64, num_heads=4),
                           data=DataConfig(target_lang="de"), mesh=MeshConfig(data=-1))
    checkpoint.write_config(wd, exp)
    ckpt = checkpoint.Checkpoints(wd, keep=1, best_metric=None)
    ckpt.save(1, train.init_state(exp))
    ckpt.wait()
    ckpt.close()
    return wd


def _translate(wd: Path, text: Path, out: Path, cache: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != compile_cache.ENV}
    if cache:
        env[compile_cache.ENV] = cache
    env["XLA_FLAGS"] = ""  # one device, as a user's
    proc = subprocess.run([sys.executable, "-m", "jaxformer.cli", "translate", "--workdir", str(wd), "--input",
                           str(text), "--output", str(out), "--beam-size", "2"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stderr


def test_a_second_translate_compiles_nothing(workdir, tmp_path):
    text = tmp_path / "in.txt"
    text.write_text("the cat sees a dog\nred tree\n\nthe house has a blue tree and a green dog\n")
    cache = workdir / compile_cache.FOLDER
    first = _translate(workdir, text, tmp_path / "1.txt", None)
    files = sorted(p.name for p in cache.iterdir())
    assert files, "the first run wrote no cache entries"
    assert " 0 executable(s) loaded" in first and " 0 compiled" not in first, first
    second = _translate(workdir, text, tmp_path / "2.txt", None)
    print(first.splitlines()[-1], second.splitlines()[-1], sep="\n")
    assert ", 0 compiled" in second and " 0 executable(s) loaded" not in second, second
    assert sorted(p.name for p in cache.iterdir()) == files  # nothing new written
    assert (tmp_path / "1.txt").read_text() == (tmp_path / "2.txt").read_text()


def test_the_cache_can_live_elsewhere_or_be_off(workdir, tmp_path):
    text = tmp_path / "in.txt"
    text.write_text("the cat\n")
    elsewhere = tmp_path / "user_cache"
    assert "compilation cache" in _translate(workdir, text, tmp_path / "1.txt", str(elsewhere))
    assert any(elsewhere.iterdir())
    shutil.rmtree(workdir / compile_cache.FOLDER, ignore_errors=True)
    assert "compilation cache" not in _translate(workdir, text, tmp_path / "2.txt", "off")
    assert not (workdir / compile_cache.FOLDER).exists()


def test_an_unwritable_place_means_no_cache_not_an_error(monkeypatch):
    monkeypatch.delenv(compile_cache.ENV)
    assert compile_cache.enable(Path("/dev/null/x")) is None  # under a file, not a folder
    assert jax.config.jax_compilation_cache_dir in (None, "")  # this process was left alone
