"""A Marian (OPUS-MT layout) model folder made offline with transformers, for the import tests
and the Marian decoding benchmark: sentencepiece models trained here on generated English and
German, a vocab.json over both, and a `MarianMTModel` saved with `save_pretrained`. Trained briefly on word-for-word translation, so that its outputs depend on the
input, vary in length, and greedy and beam search disagree; untrained when `train_steps=0`.

Needs the `marian` extra (torch, transformers).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

EN = ("the a cook buys two red apples house small big dog cat sees runs we they green old new under near with one "
      "three blue tree").split()
DE = ("der ein koch kauft zwei rote äpfel haus kleine große hund katze sieht läuft wir sie grüne alte neue unter "
      "nahe mit eins drei blaue baum").split()


def sentences(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """`n` generated English sentences and their word-for-word German."""
    rng = np.random.default_rng(seed)
    src, tgt = [], []
    for _ in range(n):
        idx = rng.integers(0, len(EN), size=rng.integers(2, 9))
        src.append(" ".join(EN[i] for i in idx) + ".")
        tgt.append(" ".join(DE[i] for i in idx) + ".")
    return src, tgt


def _spm(lines: list[str], size: int) -> bytes:
    import sentencepiece as spm
    out = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=out, vocab_size=size,
                                   model_type="unigram", character_coverage=1.0, minloglevel=2)
    return out.getvalue()


def build(folder: str | Path, *, d_model: int = 32, layers: int = 2, heads: int = 4, ffn: int = 64,
          pieces: int = 40, min_vocab: int = 0, vocab_multiple: int = 1, train_steps: int = 200,
          max_length: int = 24, num_beams: int = 4, corpus: tuple[list[str], list[str]] | None = None,
          seed: int = 0) -> Path:
    """Writes a Marian folder. vocab.json is padded with unused entries to at least `min_vocab` entries (a
    realistic size) and to a multiple of `vocab_multiple` (to split the vocabulary over a mesh axis).
    `corpus` (source lines, target lines): real text to train the two sentencepiece models on, so
    that real input splits into realistically many pieces (training still uses generated pairs)."""
    import sentencepiece as spm
    import torch
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    src, tgt = sentences(400, seed)
    protos = (_spm(corpus[0] if corpus else src, pieces), _spm(corpus[1] if corpus else tgt, pieces))
    (folder / "source.spm").write_bytes(protos[0])
    (folder / "target.spm").write_bytes(protos[1])
    vocab = {"</s>": 0, "<unk>": 1}
    for proto in protos:
        sp = spm.SentencePieceProcessor(model_proto=proto)
        for i in range(sp.get_piece_size()):
            if sp.id_to_piece(i) not in ("<unk>", "<s>", "</s>"):
                vocab.setdefault(sp.id_to_piece(i), len(vocab))
    while len(vocab) + 1 < min_vocab or (len(vocab) + 1) % vocab_multiple:  # +1: <pad>
        vocab[f"▁unused{len(vocab)}"] = len(vocab)
    vocab["<pad>"] = pad = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({"source_lang": "en", "target_lang": "de"}))
    V = len(vocab)
    config = MarianConfig(
        vocab_size=V, decoder_vocab_size=V, d_model=d_model, encoder_layers=layers, decoder_layers=layers,
        encoder_attention_heads=heads, decoder_attention_heads=heads, encoder_ffn_dim=ffn, decoder_ffn_dim=ffn,
        max_position_embeddings=512, pad_token_id=pad, eos_token_id=0, decoder_start_token_id=pad,
        forced_eos_token_id=0, activation_function="swish", scale_embedding=True, dropout=0.0)
    torch.manual_seed(seed)
    model = MarianMTModel(config)
    with torch.no_grad():  # a random logits bias, so that the import of final_logits_bias is tested
        model.final_logits_bias.normal_(0.0, 0.1)
    if train_steps:
        tok = MarianTokenizer(str(folder / "source.spm"), str(folder / "target.spm"), str(folder / "vocab.json"))
        opt = torch.optim.Adam(model.parameters(), lr=5e-3)
        rng = np.random.default_rng(seed)
        model.train()
        for _ in range(train_steps):
            pick = rng.integers(0, len(src), size=32)
            batch = tok([src[i] for i in pick], text_target=[tgt[i] for i in pick], padding=True, return_tensors="pt")
            labels = batch["labels"].masked_fill(batch["labels"] == pad, -100)
            loss = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():  # as in OPUS-MT's converted models, whose <pad> row was added as zeros (the tied
        model.model.shared.weight[pad].zero_()  # output projection trained it here); CTranslate2 relies on it
    gen = model.generation_config
    gen.num_beams, gen.max_length, gen.bad_words_ids = num_beams, max_length, [[pad]]
    model.save_pretrained(folder)
    return folder


def reference(folder: str | Path):
    """(MarianMTModel, MarianTokenizer) of a folder, in evaluation mode."""
    from transformers import MarianMTModel, MarianTokenizer
    folder = Path(folder)
    model = MarianMTModel.from_pretrained(folder).eval()
    tok = MarianTokenizer(str(folder / "source.spm"), str(folder / "target.spm"), str(folder / "vocab.json"),
                          source_lang="en", target_lang="de")
    return model, tok
