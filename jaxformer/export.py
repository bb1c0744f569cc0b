"""`jaxformer export`: a workdir's model as `jax.export` artifacts that serve without jaxformer.

The folder holds the whole search (beam or greedy, with the run's decoding options) and the
encoder, each serialized with a symbolic batch and source length (`b, s`), the parameters
(params.npz, "/"-joined paths), the tokenizer (source.spm, target.spm and, for an imported
Marian model, vocab.json in jaxformer's ids), export.json, and load.py: a loader that needs only
jax, numpy and sentencepiece and batches as `jaxformer translate` does, so it gives the same
output.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import export as jax_export

from jaxformer import functional, inference, translate
from jaxformer.config import ConfigError
from jaxformer.data.tokenizer import Tokenizer

ARTIFACTS = ("search.jaxexport", "encoder.jaxexport", "params.npz", "source.spm", "target.spm", "export.json", "load.py")


def _flat(params: Any) -> dict[str, np.ndarray]:
    return {jax.tree_util.keystr(p, simple=True, separator="/"): np.asarray(x)
            for p, x in jax.tree_util.tree_flatten_with_path(params)[0]}


def export_workdir(workdir: str | Path, out: str | Path, *, which: str = "latest", beam_size: int | None = None,
                   alpha: float | None = None, log=print) -> Path:
    """Writes the export folder `out` for the parameters `which` of `workdir`."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (out / "export.json").is_file():
        raise ConfigError(f"{out} exists and is not an export folder; choose a new --out")
    translator = inference.load(workdir, which=which, beam_size=beam_size, alpha=alpha)
    model = translator.exp.model
    if model.positional == "learned" and translator.exp.train.max_decode_length == 0:
        raise ConfigError("a model with learned positions decodes at most model.max_len tokens, which a symbolic "
                          "source length cannot be checked against; set train.max_decode_length in "
                          f"{Path(workdir) / 'config.json'} (at most {model.max_len}) and export again")
    params = jax.tree.map(jnp.asarray, translator.params)
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), params)
    b, s = jax_export.symbolic_shape("b, s")
    src = jax.ShapeDtypeStruct((b, s), jnp.int32)
    search = jax_export.export(jax.jit(translate.search_fn(model, translator.search)))(abstract, src)
    encoder = jax_export.export(jax.jit(lambda p, x: functional.encode(p, x, config=model)))(abstract, src)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "search.jaxexport").write_bytes(search.serialize())
    (tmp / "encoder.jaxexport").write_bytes(encoder.serialize())
    np.savez(tmp / "params.npz", **_flat(params))
    tok = translator.tokenizer
    opts = translator.search
    meta: dict[str, Any] = {"source": translator.source, "beam_size": opts.beam_size, "alpha": opts.alpha,
                            "max_decode_length": opts.max_decode_length, "search_convention": opts.convention,
                            "jax_version": jax.__version__, "vocab": not isinstance(tok, Tokenizer)}
    if isinstance(tok, Tokenizer):
        (tmp / "source.spm").write_bytes(tok.model_proto)
        (tmp / "target.spm").write_bytes(tok.model_proto)
    else:  # an imported Marian model: its two models and the vocabulary renumbered to our ids
        (tmp / "source.spm").write_bytes(tok.protos[0])
        (tmp / "target.spm").write_bytes(tok.protos[1])
        ours = {p: int(tok.ours[i]) for p, i in tok.vocab.items()}
        (tmp / "vocab.json").write_text(json.dumps(ours, ensure_ascii=False), encoding="utf-8")
        meta["unk_id"] = tok.unk_id
    (tmp / "export.json").write_text(json.dumps(meta, indent=1))
    shutil.copyfile(Path(__file__).with_name("export_loader.py"), tmp / "load.py")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    size = sum(p.stat().st_size for p in out.iterdir()) / 2 ** 20
    log(f"exported {translator.source} of {workdir} ({'beam ' + str(translator.beam_size) if translator.beam_size > 1 else 'greedy'}"
        f", symbolic batch and length) to {out} ({size:.1f} MiB); serve it with load.py: jax {jax.__version__} "
        "or a release up to six months newer")
    return out
