"""The embedded default experiment: a tiny Transformer on the generated English->German corpus,
sized to finish in a few minutes on two CPU cores and end with a test BLEU that means something."""

from __future__ import annotations

from jaxformer.config import DataConfig, ExperimentConfig, MeshConfig, TokenizerConfig, TrainConfig, preset


def default_experiment() -> ExperimentConfig:
    return ExperimentConfig(
        name="default_synthetic_en_de",
        model=preset("tiny", vocab_size=1000, d_model=128, d_ff=512, num_heads=4, num_encoder_layers=2,
                     num_decoder_layers=2, dropout_rate=0.1, max_len=128),
        data=DataConfig(dataset="synthetic", source_lang="en", target_lang="de",
                        tokenizer=TokenizerConfig(vocab_size=1000, model_type="bpe"),
                        max_length=64, batch_size=32, pack_length=64, eval_batch_size=64),
        train=TrainConfig(num_steps=1000, schedule="rsqrt", warmup_steps=400, learning_rate_scale=2.0,
                          log_every=100, eval_every=500, eval_bleu_examples=200, checkpoint_every=500),
        mesh=MeshConfig(data=-1, rules="dp"),
    )
