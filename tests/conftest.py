"""Shared test setup: 8 simulated CPU devices and strict rank promotion, set before JAX starts."""

import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()
# Compiling, not running, is most of the suite's time: XLA:CPU compiled the train step of a
# 2+2-layer d_model=32 model 1.4-2.5x faster without LLVM's optimisations (12 s against 17-19 s,
# 9 s against 23 s; a busy 2-core VM). The tests run tiny shapes, so they compile unoptimised (the
# same HLO, slower machine code); set --xla_backend_optimization_level yourself to test at another
# level. The package never sets it.
if "--xla_backend_optimization_level" not in os.environ["XLA_FLAGS"]:
    os.environ["XLA_FLAGS"] += " --xla_backend_optimization_level=0"
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# No persistent compilation cache in tests (and their subprocesses) unless a test asks for one:
# it would follow the first workdir a test translates in for the rest of the process.
os.environ["JAXFORMER_COMPILE_CACHE"] = "off"

import dataclasses  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import jaxformer as jf  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture(scope="session")
def tiny() -> jf.ModelConfig:
    """The tiny preset without dropout, small vocab: fast, deterministic."""
    return jf.preset("tiny", vocab_size=64, d_model=32, d_ff=64, num_heads=4, dropout_rate=0.0, max_len=64)


@pytest.fixture(scope="session")
def tiny_params(tiny):
    return jf.init(tiny, jax.random.key(0))


def random_tokens(rng: np.random.Generator, lengths, width: int, vocab: int) -> np.ndarray:
    """[B, width] int32 rows of real tokens (1..vocab-1) followed by padding (0)."""
    out = np.zeros((len(lengths), width), np.int32)
    for i, n in enumerate(lengths):
        out[i, :n] = rng.integers(1, vocab, size=n)
    return out


@pytest.fixture
def np_rng():
    return np.random.default_rng(1234)


def replace(cfg, **kw):
    return dataclasses.replace(cfg, **kw)


@pytest.fixture
def tmpfs(tmp_path):
    """mount(size, options="") -> a new tmpfs folder under tmp_path (a small disk that a test can
    fill or make read-only), unmounted after the test. Mounting needs root (CI runs as root); the
    test is skipped, saying why, where it is not allowed."""
    import shutil
    import subprocess
    mounted = []

    def mount(size: str, options: str = ""):
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        if not shutil.which("mount"):
            pytest.skip("no mount command here; the disk tests mount a tmpfs")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(filter(None, [f"size={size}", options])),
                               "tmpfs", str(folder)], capture_output=True, text=True)
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode}); the disk tests "
                        "need root (CI runs as root)")
        mounted.append(folder)
        return folder

    yield mount
    for folder in reversed(mounted):
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)  # lazy: a thread may hold a file


def remount(folder, options: str) -> None:
    """Remounts a `tmpfs` folder, e.g. with "ro" to make a disk read-only under a running test."""
    import subprocess
    subprocess.run(["mount", "-o", f"remount,{options}", str(folder)], check=True, capture_output=True)


def fill(folder, leave: int = 0) -> None:
    """Fills the disk of `folder` with a ballast file (folder/ballast), leaving `leave` bytes free."""
    import os
    free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
    with open(os.path.join(folder, "ballast"), "wb") as f:
        f.write(b"\0" * max(free - leave, 0))
