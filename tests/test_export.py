"""`jaxformer export`: the artifacts round-trip (search and encoder equal the live functions at
other batch sizes and lengths than any seen before), and load.py, run in a process that cannot
import jaxformer, translates exactly as `jaxformer translate` does."""

import json
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import export as jax_export

import jaxformer as jf
from jaxformer import checkpoint, cli, decode, train
from jaxformer.config import DataConfig, ExperimentConfig, MeshConfig, TokenizerConfig, TrainConfig, preset
from jaxformer.data.tokenizer import train_or_load

WORDS = "the a cat dog house tree red blue green sees has runs".split()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A workdir whose random model (wide weights, so outputs vary) has a word-level tokenizer."""
    wd = tmp_path_factory.mktemp("wd")
    tok = train_or_load(wd / "tok", lambda: iter(WORDS + [w.upper() for w in WORDS]),
                        TokenizerConfig(vocab_size=27, model_type="word"))
    shutil.copy(wd / "tok" / "tokenizer.model", wd / "tokenizer.model")
    exp = ExperimentConfig(model=preset("tiny", vocab_size=tok.vocab_size, d_model=32, d_ff=64, num_heads=4),
                           data=DataConfig(target_lang="de"), train=TrainConfig(test_beam_size=3, beam_alpha=0.8),
                           mesh=MeshConfig(data=-1))
    checkpoint.write_config(wd, exp)
    state = train.init_state(exp)
    state = state.replace(params=jax.tree.map(lambda x: x * 3.0, state.params))
    ckpt = checkpoint.Checkpoints(wd, keep=5, best_metric=None, async_save=False)
    ckpt.save(1, state)
    ckpt.wait()
    ckpt.close()
    return wd


@pytest.fixture(scope="module")
def exported(workdir, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "model"
    assert cli.main(["export", "--workdir", str(workdir), "--out", str(out)]) == 0
    return out


def test_artifacts_equal_the_live_search_and_encoder_at_new_shapes(workdir, exported):
    exp = checkpoint.read_config(workdir)
    _, params, _ = checkpoint.load_model_params(workdir)
    search = jax_export.deserialize(bytearray((exported / "search.jaxexport").read_bytes()))
    encoder = jax_export.deserialize(bytearray((exported / "encoder.jaxexport").read_bytes()))
    assert [str(d) for d in search.in_avals[-1].shape] == ["b", "s"]
    rng = np.random.default_rng(0)
    for batch, width in ((1, 5), (3, 17)):
        src = rng.integers(3, exp.model.vocab_size, size=(batch, width)).astype(np.int32)
        src[:, -1] = 1
        want = decode.beam_search(params, jnp.asarray(src), config=exp.model, beam_size=3, alpha=0.8)[0][:, 0]
        np.testing.assert_array_equal(search.call(params, src), want)
        memory, valid = encoder.call(params, src)
        ref_memory, ref_valid = jf.encode(params, jnp.asarray(src), config=exp.model)
        np.testing.assert_allclose(memory, ref_memory, atol=1e-6)
        np.testing.assert_array_equal(valid, ref_valid)
    meta = json.loads((exported / "export.json").read_text())
    assert (meta["beam_size"], meta["alpha"], meta["source"]) == (3, 0.8, "step 1")


def test_loader_without_jaxformer_translates_as_translate_does(workdir, exported, tmp_path):
    rng = np.random.default_rng(1)
    lines = [" ".join(rng.choice(WORDS, size=rng.integers(1, 9))) for _ in range(40)] + ["", "unknown words ☃"]
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n")
    assert cli.main(["translate", "--workdir", str(workdir), "--input", str(tmp_path / "in.txt"),
                     "--output", str(tmp_path / "out.txt")]) == 0
    code = ("import json, sys\n"
            "sys.modules['jaxformer'] = None  # any import of jaxformer now fails\n"
            f"sys.path.insert(0, {str(exported)!r})\n"
            "import load\n"
            f"lines = open({str(tmp_path / 'in.txt')!r}, encoding='utf-8').read().splitlines()\n"
            f"print(json.dumps(load.Translator({str(exported)!r})(lines)))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == (tmp_path / "out.txt").read_text().splitlines()


def test_export_refuses_a_folder_that_is_not_an_export(workdir, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("keep me")
    assert cli.main(["export", "--workdir", str(workdir), "--out", str(tmp_path)]) == 2
    assert "is not an export folder" in capsys.readouterr().err and (tmp_path / "notes.txt").exists()
