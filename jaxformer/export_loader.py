"""Load and run a model exported by `jaxformer export`, with jax, numpy and sentencepiece only.

`jaxformer export` copies this file into the export folder as load.py; it must never import
jaxformer. Usage, from any program:

    import load
    translator = load.Translator("path/to/export")
    print(translator(["The cook buys two red apples."]))

Batches are formed as `jaxformer translate` forms them (length-sorted, 32 rows, padded to a few
widths), so the outputs are the same.
"""

import json
import math
import os

import jax
import numpy as np
import sentencepiece as spm
from jax import export

PAD, EOS = 0, 1


def _width(n):
    """jaxformer.data.batching.bucket_width, repeated here (tests/test_translate.py holds them equal)."""
    return max(16, math.ceil(n / 16) * 16) if n <= 64 else 1 << (n - 1).bit_length()


class Translator:
    def __init__(self, folder, batch_size=32):
        path = lambda name: os.path.join(folder, name)  # noqa: E731
        self.meta = json.load(open(path("export.json")))
        with open(path("search.jaxexport"), "rb") as f:
            self.search = export.deserialize(bytearray(f.read()))
        with open(path("encoder.jaxexport"), "rb") as f:
            self.encoder = export.deserialize(bytearray(f.read()))
        self.params = {}
        for key, value in np.load(path("params.npz")).items():  # "a/b/c" -> nested dicts
            *parents, leaf = key.split("/")
            node = self.params
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = value
        self.source = spm.SentencePieceProcessor(model_file=path("source.spm"))
        self.target = spm.SentencePieceProcessor(model_file=path("target.spm"))
        self.vocab = json.load(open(path("vocab.json"), encoding="utf-8")) if self.meta["vocab"] else None
        self.pieces = {i: p for p, i in (self.vocab or {}).items()}
        self.batch_size = batch_size

    def encode(self, text):
        """Source text -> ids ending with EOS."""
        if self.vocab is None:
            return self.source.encode(text) + [EOS]
        code = []
        if text.startswith(">>") and text.find("<<") != -1:  # a target-language code, kept whole
            end = text.find("<<")
            code, text = [text[: end + 2]], text[end + 2:]
        pieces = code + self.source.encode(text, out_type=str)
        return [self.vocab.get(p, self.meta["unk_id"]) for p in pieces] + [EOS]

    def decode(self, ids):
        out = []
        for i in ids:
            if i == EOS:
                break
            if i != PAD:
                out.append(int(i))
        if self.vocab is None:
            return self.target.decode(out)
        return self.target.decode_pieces([self.pieces[i] for i in out if i != self.meta["unk_id"] and i in self.pieces]).strip()

    def __call__(self, texts, max_input_tokens=256):
        ids = [self.encode(t)[:-1][: max_input_tokens - 1] + [EOS] if t.strip() else None for t in texts]
        out = ["" for _ in texts]
        todo = sorted((i for i, x in enumerate(ids) if x is not None), key=lambda i: len(ids[i]))
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start:start + self.batch_size]
            src = np.zeros((self.batch_size, _width(max(len(ids[i]) for i in chunk))), np.int32)
            src[len(chunk):, 0] = EOS  # padding rows: an empty sentence
            for r, i in enumerate(chunk):
                src[r, :len(ids[i])] = ids[i]
            best = np.asarray(jax.block_until_ready(self.search.call(self.params, src)))
            for r, i in enumerate(chunk):
                out[i] = self.decode(best[r])
        return out
