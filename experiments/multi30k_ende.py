"""Multi30k English->German on two CPU cores within a 45-minute training budget.

The CPU-sized real-data experiment: 29000 training pairs from ../shared/corpora/multi30k (read in
place, never copied), a 4+4-layer d_model=128 Transformer (the size of Wu et al.'s 2021
Transformer-tiny for this corpus) with one shared 6000-token sentencepiece vocabulary, beam 4 and
alpha 1.4 on test_2016_flickr, scored with sacreBLEU (and the paper-style tokenized BLEU beside
it). Run from the repository root:

    jaxformer train --config experiments/multi30k_ende.py --workdir workdir/multi30k

The rate decays to zero when the 45 minutes are used (train.decay_over="time"), so the run
anneals fully on a slow machine and a fast one; how many updates fit depends on the machine.
The bar: eole 0.6.4 (3+3 layers, d_model 256, 8k shared sentencepiece, beam 4, alpha 0.6)
reached 34.65 sacreBLEU after 45 minutes at about 1270 target tokens/s on the 2-core machine of
runs 1-12. This config (run 13, on a faster 2-core machine: 17,641 updates at 8,280 target
tokens/s) reached 38.87 on test and 40.64 on the full validation set (run 14, another seed:
38.91 and 40.72); the same model with the step schedule of that earlier machine (run 11: 7,200
updates at 3,617 tokens/s) 37.60 and 39.06. Since run 17 the config takes batches of 32 packed
rows at a peak rate of 2.8e-3: in one session on one machine it scored 40.01 on the full
validation set against 39.67 for batch 16 (run 16), and at the update count of the slow machines
(run 18) 39.13 against run 11's 39.06. It trains with decoupled weight decay: 0.1 since
2026-12-06 (4+4 at 4,600 updates: 40.37 against 39.46 on the full validation set), 0.2 since
2026-12-07 (at the fast class's 8,200 updates, all on one VM: sacreBLEU 40.73 against 39.98 for
0.1 and 40.49 without, chrF 64.36 against 63.77 and 63.15, NLL 1.588 against 1.613 and 1.668),
0.3 since later that day (the comment at weight_decay gives its runs).
On a machine where this config's step runs below 4,000 target tokens/s it trains 3+3 layers
instead (the speed rule at the end of get_config): on such a VM (run 19, with weight decay 0.2
then, 3,727 tokens/s at start-up) it trained 3+3 and scored 38.38 on test, 39.89 on the full
validation set, against 32.86 for the eole peer trained there in the same session; with other
seeds on both sides (run 20, the same VM) 38.92 and 40.25 against 33.16.
experiments/results/RESULTS.md has all the runs and their curves.
"""

from pathlib import Path

from jaxformer.config import (DataConfig, ExperimentConfig, MeshConfig, SpeedRule, TokenizerConfig, TrainConfig,
                              preset)

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpora" / "multi30k"


def get_config() -> ExperimentConfig:
    d = str(CORPUS)
    return ExperimentConfig(
        name="multi30k_ende",
        model=preset("base", vocab_size=6000, d_model=128, d_ff=256, num_heads=4, num_encoder_layers=4,
                     num_decoder_layers=4, dropout_rate=0.1, max_len=256),
        data=DataConfig(dataset="files", source_lang="en", target_lang="de",
                        files=(("train", (f"{d}/train",)), ("validation", (f"{d}/val",)),
                               ("test", (f"{d}/test_2016_flickr",))),
                        tokenizer=TokenizerConfig(vocab_size=6000, model_type="bpe"),
                        max_length=80, batching="pack", batch_size=32, pack_length=80, eval_batch_size=64),
        # The budget, not the data, is what runs short: the 3+3-layer d_model=256 model (runs 1-10,
        # 7.07M parameters) saw 4.2M target tokens in 45 minutes and its curves still rose at the
        # end. This 2.09M-parameter model takes a step of about 1,200 target tokens 2.2x faster, at
        # a higher rate (2e-3, warm-up 600; for the larger model 1.2e-3 was better than 2e-3 or
        # 8e-4 at matched steps, runs 9 and 10). Runs 11 and 12 set num_steps to what the budget
        # allowed on their machine (7,200 and 7,500; max_train_seconds as the guard); from run 13 on
        # the decay follows the clock instead, so no step count has to be guessed per machine.
        # Kept from the earlier runs: a 6000-piece vocabulary (8000 and 5000 scored lower, runs 4
        # and 6), dropout 0.1 (run 1's 0.2 kept validation loss on training loss; attention and
        # ReLU dropout lowered run 8), and alpha 1.4 (chosen on the full validation set with run 5:
        # beam 4, 36.15 at 0.3, 37.86 at 0.6, 38.06 at 1.0, 38.16 at 1.4; checked again with run
        # 13: 40.54 at 1.0, 40.64 at 1.4, 40.43 at 1.8). num_steps is only an upper bound here.
        # Batch 32 (runs 16-18, one session): 32 rows a step ran 16% more target tokens a second
        # than 16 (6,234 against 5,388), and with the rate scaled by sqrt(2) (2.8e-3; warm-up 300,
        # the same tokens as 600 of batch 16) it scored 40.01 against 39.67 on the full validation
        # set in 45 minutes, and 39.13 at 4,200 updates (what a slow machine fits; run 11, batch
        # 16: 39.06 at 7,200). Evaluations every 2,000 updates: the 4,000 of batch 16 in tokens.
        # Tried and not taken (RESULTS.md): batch 64 (level on validation, behind on loss), label
        # smoothing 0.2 (level), BPE-dropout 0.02 and 0.1 (data.subword_sampling: behind at this size),
        # dropout 0.05 (two seeds at 4,200 updates and one at 7,432: behind on NLL, over-fits).
        train=TrainConfig(num_steps=40_000, max_train_seconds=45 * 60, schedule="linear_decay", decay_over="time",
                          warmup_steps=300, peak_learning_rate=2.8e-3, label_smoothing=0.1, log_every=50,
                          eval_every=2000, eval_bleu_examples=500, checkpoint_every=500, keep_checkpoints=5,
                          best_metric="bleu", beam_alpha=1.4,
                          # Decoupled weight decay 0.3 (RESULTS.md, "Weight decay"). 0.1 first: 4+4 at 4,600
                          # updates 40.37 against 39.46 on the full validation set, NLL 1.638 against 1.708;
                          # at 3,596 39.67, NLL 1.680 (without it 38.83-38.88, 1.761-1.777); 3+3 at 5,700
                          # level (39.96 against 40.04, NLL 1.651 against 1.665). Then 0, 0.05, 0.1, 0.2 at
                          # the fast class's 8,200, all on one VM: sacreBLEU 40.49, 40.40, 39.98, 40.73; chrF
                          # 63.15, 63.75, 63.77, 64.36; NLL 1.668, 1.622, 1.613, 1.588 (0.2 against 0.1: chrF
                          # paired bootstrap p = 0.04, BLEU p = 0.09; against none: chrF p = 0.001). 0.2 at
                          # 4+4's 4,600: 40.48 against 0.1's 40.37, NLL 1.608 against 1.638; at 3+3's 4,445
                          # (the slow class): 39.99 against 40.04 (p = 0.37), NLL 1.637 against 1.673. One
                          # seed each; one value serves both classes. 0.3 at 4,600: NLL 1.566, but 40.45
                          # against 0.2's 40.48 (p = 0.39); at 8,200 ahead of 0.2 on every validation
                          # measure (40.77, chrF 64.66, NLL 1.533 against 40.73, 64.36, 1.588), and on the
                          # slow class (3+3 at 4,445) not behind (40.63 against 39.99, NLL 1.605 against
                          # 1.637): the pre-registered condition for the move, so 0.3. Its check, a second
                          # seed there: 40.52 against 0.2's 40.28, NLL 1.581 against 1.600 (means of two
                          # seeds 40.58 against 40.14, chrF 63.97 against 63.41, NLL 1.593 against 1.619).
                          weight_decay=0.3),
        mesh=MeshConfig(data=-1, rules="dp"),
        # The slow class (issue 21: our step at or below 4,000 target tokens/s, about 3,600 updates
        # in the 45 minutes) is better served by a shallower stack: 3+3 layers of the same width take
        # a 1.24x shorter step, and at the update counts each fits there (4,445 against 3,596; two
        # seeds each, fixed-step runs) scored 39.59 / 39.14 on the full validation set against
        # 38.88 / 38.83, NLL 1.722 / 1.709 against 1.761 / 1.777. On the fast class 4+4 stays: at
        # its update counts there (10,150 against 8,200, one seed) 3+3 scored 40.23 against 41.01,
        # NLL 1.693 against 1.628 (its validation NLL stops falling after 6,000 updates). So a fresh
        # run times this config's step (20 steps on its first batches, jaxformer/speed_rule.py) and
        # below 4,000 target tokens/s trains 3+3; the log and config.json say which. Without weight
        # decay the depths crossed near 5,400 (interpolated; at a ~4,300 machine's counts, 4,600
        # against 5,700 updates, 3+3 led 40.04 to 39.46), and the line sat at 5,000; with weight
        # decay 0.1, 4+4 leads there (40.37 against 39.96, NLL 1.638 against 1.651), so the line is
        # back at the 4,000. Below it, both with weight decay (4,445 against 3,596 updates),
        # 3+3 still leads, by less: 40.04 against 39.67, NLL 1.673 against 1.680 (one seed). With
        # weight decay 0.2 (two seeds each on the slow class) 3+3 leads there on every measure, 40.14
        # against 39.64, chrF 63.41 against 62.98, NLL 1.619 against 1.641; at a ~4,300 machine's
        # counts (4,600 against 5,700 updates) the depths are level, 40.48 against 40.43, NLL 1.608
        # against 1.616; so the line stays at 4,000. With weight decay 0.3 (two seeds each, slow class)
        # 3+3 leads again on every measure: 40.58 against 40.05, chrF 63.97 against 63.43, NLL 1.593
        # against 1.611; the middle pair with 0.3 is not measured.
        speed_rule=SpeedRule(below_tokens_per_second=4000.0,
                             overrides=("model.num_encoder_layers=3", "model.num_decoder_layers=3")),
    )
