"""The paper's WMT setups (section 5): shared by every Table 2 and Table 3 config in this folder.

Batches of about 25000 source and 25000 target tokens (section 5.1): token-budget buckets of
25000 tokens per update; on fewer or smaller devices, keep the update size with gradient
accumulation (`--set train.grad_accum_steps=K`).
Adam(0.9, 0.98, 1e-9), warmup 4000, label smoothing 0.1; base 100k steps, big 300k steps;
checkpoints every 10 minutes in the paper, here every 1000 steps; evaluation on newstest2013
(tfds' validation split), test on newstest2014; beam 4, alpha 0.6.
"""

from __future__ import annotations

import dataclasses

from jaxformer.config import DataConfig, ExperimentConfig, MeshConfig, TokenizerConfig, TrainConfig, preset

# Section 5.1: ~37000 shared BPE tokens for en-de, 32000 word-pieces for en-fr.
VOCAB = {"de": 37000, "fr": 32000}


def wmt14(size: str, target: str, **model_changes) -> ExperimentConfig:
    """Transformer `size` ("base" or "big") on WMT14 en->`target`."""
    vocab = VOCAB[target]
    model = preset(size, vocab_size=vocab, **model_changes)
    return ExperimentConfig(
        name=f"transformer_{size}_wmt14_en{target}",
        model=model,
        data=DataConfig(dataset="wmt14", source_lang="en", target_lang=target, data_dir="~/tensorflow_datasets",
                        tokenizer=TokenizerConfig(vocab_size=vocab, model_type="bpe", character_coverage=1.0),
                        max_length=256, batching="bucket", tokens_per_batch=25000,
                        bucket_boundaries=(16, 24, 32, 48, 64, 96, 128, 192, 256), eval_batch_size=64),
        train=TrainConfig(num_steps=100_000 if size == "base" else 300_000, schedule="rsqrt", warmup_steps=4000,
                          label_smoothing=0.1, log_every=100, eval_every=5000, eval_bleu_examples=500,
                          checkpoint_every=1000, keep_checkpoints=20 if size == "big" else 5, best_metric="bleu"),
        mesh=MeshConfig(data=-1, rules="dp"),
    )


def table3(**changes) -> ExperimentConfig:
    """A Table 3 variation of base en-de: model (and label smoothing) changes, 100k steps, scored
    on newstest2013 with beam search and no checkpoint averaging."""
    train_changes = {k[len("train_"):]: v for k, v in changes.items() if k.startswith("train_")}
    model_changes = {k: v for k, v in changes.items() if not k.startswith("train_")}
    exp = wmt14("base", "de", **model_changes)
    return dataclasses.replace(exp, train=dataclasses.replace(exp.train, **train_changes),
                               data=dataclasses.replace(exp.data, test_split="validation"))
