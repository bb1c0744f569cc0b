"""OPUS-MT / Marian import against transformers on the same weights (a small MarianMTModel made and
trained here): the tokenizer gives the same ids and text, logits agree within 1e-5 on a padded
batch, greedy and beam-4 outputs equal `generate()` token for token, both weight formats load,
8 devices (fsdp_tp) equal 1, the imported workdir translates, evaluates, averages and
fine-tunes, and broken folders get one-line errors."""

import json
import shutil
import struct
import subprocess
import sys

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import jaxformer as jf  # noqa: E402
from experiments.benchmarks.marian_reference import build, reference, sentences  # noqa: E402
from jaxformer import checkpoint, decode, sharding  # noqa: E402
from jaxformer.cli import main  # noqa: E402
from jaxformer.config import ConfigError  # noqa: E402
from jaxformer.pretrained import from_marian  # noqa: E402
from jaxformer.pretrained.weights import read_weights  # noqa: E402

MAX_LENGTH = 24  # generate()'s max_length (decoder start included) = our bound + 1
TEXTS = ["the cook buys two red apples.", "we see the dog.", "a big green tree near the old house with three cats.",
         "they run.", "one blue dog sees two small cats under a tree."]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    torch.set_num_threads(1)
    return build(tmp_path_factory.mktemp("marian") / "opus-mt-en-de", max_length=MAX_LENGTH, vocab_multiple=8)


@pytest.fixture(scope="module")
def imported(folder):
    return from_marian(folder)


@pytest.fixture(scope="module")
def ref(folder):
    return reference(folder)


def _batch(tok, texts):
    """Our ids [B, S], padded with 0, and the same in the checkpoint's numbering (padded with its pad)."""
    ids = [tok.encode(t) for t in texts]
    out = np.zeros((len(ids), max(map(len, ids))), np.int32)
    for i, x in enumerate(ids):
        out[i, :len(x)] = x
    return out


def _strip(row, eos=1):
    row = [int(x) for x in row]
    return row[:row.index(eos) + 1] if eos in row else row


def test_tokenizer_gives_transformers_ids_and_text(imported, ref):
    _, _, tok = imported
    _, hf_tok = ref
    for text in TEXTS + ["unknown wörds ☃ here."]:
        assert tok.to_marian(tok.encode(text)).tolist() == hf_tok(text)["input_ids"]
    targets = sentences(5, seed=3)[1]
    for text in targets:
        ids = tok.encode_target(text)
        assert tok.to_marian(ids).tolist() == hf_tok(text_target=text)["input_ids"]
        assert tok.decode(ids) == hf_tok.decode(tok.to_marian(ids).tolist(), skip_special_tokens=True)


def test_logits_equal_transformers_on_a_padded_batch(imported, ref):
    config, params, tok = imported
    model, _ = ref
    src = _batch(tok, TEXTS)
    ids = [tok.encode_target(text) for text in sentences(len(TEXTS), seed=5)[1]]
    tgt = np.zeros((len(TEXTS), max(map(len, ids))), np.int32)
    for i, x in enumerate(ids):
        tgt[i, :len(x)] = x
    ours = np.asarray(jf.apply(params, src, tgt, config=config))
    with torch.no_grad():
        theirs = model(input_ids=torch.tensor(tok.to_marian(src)), attention_mask=torch.tensor(src != 0),
                       labels=torch.tensor(tok.to_marian(tgt))).logits.numpy()[..., tok.order]
    real = tgt != 0
    assert real.sum() > 30 and (~real).sum() > 5  # a padded batch
    np.testing.assert_allclose(ours[real], theirs[real], atol=1e-5, rtol=0)


@pytest.mark.parametrize("beams", [1, 4])
def test_search_equals_generate_token_for_token(imported, ref, beams):
    config, params, tok = imported
    model, _ = ref
    src = _batch(tok, TEXTS + sentences(11, seed=7)[0])
    with torch.no_grad():
        hf = model.generate(input_ids=torch.tensor(tok.to_marian(src)), attention_mask=torch.tensor(src != 0),
                            num_beams=beams, max_length=MAX_LENGTH).numpy()
    if beams == 1:
        ours = decode.greedy(params, src, config=config, max_len=MAX_LENGTH - 1, force_eos=True)
    else:
        ours = decode.beam_search(params, src, config=config, beam_size=beams, alpha=1.0, max_len=MAX_LENGTH - 1,
                                  convention="hf", force_eos=True)[0][:, 0]
    theirs = [_strip(tok.from_marian(row[1:])) for row in hf]
    mine = [_strip(row) for row in np.asarray(ours)]
    assert mine == theirs
    assert len({len(r) for r in theirs}) > 3  # outputs of several lengths, most ended by EOS
    if beams == 4:  # the beam changes some outputs, so the comparison tests the search itself
        with torch.no_grad():
            greedy = model.generate(input_ids=torch.tensor(tok.to_marian(src)), attention_mask=torch.tensor(src != 0),
                                    num_beams=1, max_length=MAX_LENGTH).numpy()
        assert any(_strip(tok.from_marian(g[1:])) != t for g, t in zip(greedy, theirs))


def test_pytorch_bin_gives_the_same_parameters(folder, imported, ref, tmp_path):
    model, _ = ref
    binary = tmp_path / "bin"
    shutil.copytree(folder, binary)
    (binary / "model.safetensors").unlink()
    torch.save(model.state_dict(), binary / "pytorch_model.bin")  # with the tied copies, as old OPUS-MT files
    _, params, _ = from_marian(binary)
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)), params, imported[1])
    assert read_weights(binary)[1] == "pytorch_model.bin"


def test_eight_devices_fsdp_tp_equal_one(imported):
    config, params, tok = imported
    src = _batch(tok, TEXTS[:4])
    tgt = _batch(tok, TEXTS[4:] + TEXTS[:3])[:, :8]
    ref_logits = np.asarray(jf.apply(params, src, tgt, config=config))
    mesh = sharding.make_mesh(data=2, fsdp=2, tensor=2)
    p_shard = sharding.param_shardings(params, jf.logical_axes(config), mesh, "fsdp_tp")
    b_shard = sharding.batch_sharding(mesh, "fsdp_tp")
    with sharding.use_rules(mesh, "fsdp_tp"):
        logits = jax.jit(lambda p, s, t: jf.apply(p, s, t, config=config), in_shardings=(p_shard, b_shard, b_shard))(
            jax.device_put(params, p_shard), src, tgt)
    assert params["embed"]["embedding"].shape[0] % 2 == 0
    np.testing.assert_allclose(np.asarray(logits), ref_logits, rtol=1e-5, atol=1e-5)


def test_imported_workdir_translates_evaluates_and_averages(folder, ref, tmp_path, capsys):
    model, hf_tok = ref
    wd = tmp_path / "wd"
    assert main(["import-marian", "--model-dir", str(folder), "--workdir", str(wd)]) == 0
    exp = checkpoint.read_config(wd)
    assert (exp.train.test_beam_size, exp.train.max_decode_length, exp.train.search_convention) == (4, MAX_LENGTH - 1, "hf")
    src_file, ref_file, out_file = tmp_path / "src.en", tmp_path / "ref.de", tmp_path / "out.de"
    srcs, refs = sentences(20, seed=11)
    src_file.write_text("\n".join(srcs) + "\n")
    ref_file.write_text("\n".join(refs) + "\n")
    assert main(["translate", "--workdir", str(wd), "--input", str(src_file), "--output", str(out_file),
                 "--batch-size", "8"]) == 0
    with torch.no_grad():
        batch = hf_tok(srcs, padding=True, return_tensors="pt")
        expected = hf_tok.batch_decode(model.generate(**batch, num_beams=4, max_length=MAX_LENGTH),
                                       skip_special_tokens=True)
    assert out_file.read_text().splitlines() == expected
    # The export's loader (jax and sentencepiece only) gives the same translations.
    assert main(["export", "--workdir", str(wd), "--out", str(tmp_path / "export")]) == 0
    code = ("import json, sys\nsys.modules['jaxformer'] = None\n"
            f"sys.path.insert(0, {str(tmp_path / 'export')!r})\nimport load\n"
            f"print(json.dumps(load.Translator({str(tmp_path / 'export')!r})({srcs!r})))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == expected
    assert main(["evaluate", "--workdir", str(wd), "--source", str(src_file), "--reference", str(ref_file)]) == 0
    assert "sacreBLEU" in capsys.readouterr().out
    assert main(["average", "--workdir", str(wd), "--last", "1"]) == 0
    for which in ("averaged", "0", "ema", "best"):
        code = main(["translate", "--workdir", str(wd), "--input", str(src_file), "--output", str(out_file),
                     "--checkpoint", which, "--beam-size", "1"])
        assert code == (2 if which == "best" else 0), which  # best: no evaluated checkpoint yet
    assert main(["import-marian", "--model-dir", str(folder), "--workdir", str(wd)]) == 2  # never over a run
    assert "already holds checkpoints" in capsys.readouterr().err


def test_fine_tuning_the_imported_workdir_lowers_the_loss(folder, tmp_path, capsys):
    wd, data = tmp_path / "wd", tmp_path / "data"
    data.mkdir()
    for split, seed, n in (("train", 21, 200), ("dev", 22, 16), ("test", 23, 16)):
        srcs, tgts = sentences(n, seed=seed)
        tgts = [t.upper() for t in tgts]  # a new target style: the imported model must adapt
        (data / f"{split}.en").write_text("\n".join(srcs) + "\n")
        (data / f"{split}.de").write_text("\n".join(tgts) + "\n")
    assert main(["import-marian", "--model-dir", str(folder), "--workdir", str(wd)]) == 0
    sets = [f"data.files=(('train', ('{data}/train',)), ('validation', ('{data}/dev',)), ('test', ('{data}/test',)))",
            "data.dataset=files", f"data.data_dir={tmp_path / 'prepared'}", "data.batch_size=8",
            "data.pack_length=64", "data.max_length=32", "train.num_steps=30", "train.peak_learning_rate=3e-3",
            "train.eval_every=30", "train.checkpoint_every=30", "train.log_every=10", "train.eval_bleu_examples=0",
            "train.test_beam_size=1", "train.ema_decay=0.99", "model.dropout_rate=0.0"]
    assert main(["train", "--workdir", str(wd)] + [a for s in sets for a in ("--set", s)]) == 0
    assert "fine-tuning the model imported from" in capsys.readouterr().out
    config, before, _ = checkpoint.load_model_params(wd, 0)
    _, after, step = checkpoint.load_model_params(wd)
    assert step == 30
    tok = from_marian(folder)[2]
    srcs, tgts = sentences(16, seed=22)
    src, tgt = _batch(tok, srcs), np.zeros((16, 32), np.int32)
    for i, t in enumerate(tgts):
        ids = tok.encode_target(t.upper())[:32]
        tgt[i, :len(ids)] = ids

    def loss(params):
        logp = jax.nn.log_softmax(jf.apply(params, src, tgt, config=config))
        nll = -np.take_along_axis(np.asarray(logp), tgt[..., None], -1)[..., 0]
        return float((nll * (tgt != 0)).sum() / (tgt != 0).sum())

    assert loss(after) < 0.8 * loss(before)


def _broken(folder, tmp_path, name):
    out = tmp_path / name
    shutil.copytree(folder, out)
    return out


def test_broken_folders_get_one_line_errors(folder, tmp_path, capsys):
    cases = {}
    d = _broken(folder, tmp_path, "bart")
    cfg = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**cfg, "model_type": "bart"}))
    cases[d] = "model_type='bart', not 'marian'"
    d = _broken(folder, tmp_path, "prenorm")
    (d / "config.json").write_text(json.dumps({**cfg, "normalize_before": True, "activation_function": "tanh"}))
    cases[d] = "normalize_before=True; activation_function='tanh'"
    d = _broken(folder, tmp_path, "noweights")
    (d / "model.safetensors").unlink()
    cases[d] = "has no model.safetensors or pytorch_model.bin"
    d = _broken(folder, tmp_path, "truncated")
    data = (d / "model.safetensors").read_bytes()
    (d / "model.safetensors").write_bytes(data[: len(data) // 2])
    cases[d] = "model.safetensors is truncated"
    d = _broken(folder, tmp_path, "badheader")
    (d / "model.safetensors").write_bytes(struct.pack("<Q", 10**6) + b"{")
    cases[d] = "no readable safetensors header"
    d = _broken(folder, tmp_path, "shape")
    (d / "config.json").write_text(json.dumps({**cfg, "encoder_ffn_dim": 48, "decoder_ffn_dim": 48}))
    cases[d] = "has shape (64, 32) but config.json implies (48, 32)"
    d = _broken(folder, tmp_path, "novocab")
    (d / "vocab.json").unlink()
    cases[d] = "lacks the tokenizer files ['vocab.json']"
    d = _broken(folder, tmp_path, "badbin")
    (d / "model.safetensors").unlink()
    (d / "pytorch_model.bin").write_bytes(b"PK\x03\x04 not really a zip")
    cases[d] = "cannot be read as PyTorch weights"
    cases[tmp_path / "absent"] = "is not a folder"
    for path, message in cases.items():
        with pytest.raises(ConfigError, match=None) as e:
            from_marian(path)
        assert message in str(e.value) and "\n" not in str(e.value), (path.name, str(e.value))
        assert main(["import-marian", "--model-dir", str(path), "--workdir", str(tmp_path / f"wd_{path.name}")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("jaxformer: error:") and len(err.splitlines()) == 1 and message in err
        assert not (tmp_path / f"wd_{path.name}").exists()  # nothing written for a refused import


def test_the_import_needs_no_torch(folder):
    """The core package and a safetensors import never import torch or transformers."""
    code = ("import sys, jaxformer as jf, jaxformer.cli, jaxformer.pretrained.importer\n"
            f"config, params, tok = jf.from_marian({str(folder)!r})\n"
            "assert config.activation == 'silu' and tok.vocab_size == config.vocab_size\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-1500:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
