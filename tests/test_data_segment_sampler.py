"""segment_sampler against sentencepiece: the same deterministic pieces at BPE-dropout rate 0, the
same distribution of sampled segmentations, and draws that depend only on the seed, in any process."""

import collections
import hashlib
import io
import random
import subprocess
import sys

import numpy as np
import pytest
import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as model_pb2

from jaxformer.config import ConfigError
from jaxformer.data.segment_sampler import SegmentSampler

SYLLABLES = "ka ro mi tan sel ber un dor lis ve pra gon hu sti mel äu ße".split()
ODD = ["", "   ", "ka  ro\tmi ", "ﬁve ｆｕｌｌ ① ro", "日本 kaya", "ka 😀😀 ro 😀 mi", "<sep>kaka<sep> ro",
       "xkarox"]


def lines(n=400, seed=0):
    rng = np.random.default_rng(seed)
    words = ["".join(rng.choice(SYLLABLES, size=rng.integers(1, 5))) for _ in range(200)]
    return [" ".join(rng.choice(words, size=rng.integers(1, 10))) for _ in range(n)]


def train(model_type, vocab_size=150, **options):
    out = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines()), model_writer=out, vocab_size=vocab_size,
                                   model_type=model_type, minloglevel=2, **options)
    return out.getvalue()


def with_unused_piece(proto: bytes) -> bytes:
    """The model with its highest-scoring merged piece marked unused: sentencepiece then splits it
    back into the two pieces it was merged from."""
    m = model_pb2.ModelProto()
    m.ParseFromString(proto)
    piece = next(p for p in m.pieces if p.type == 1 and len(p.piece) > 2)
    piece.type = 5
    return m.SerializeToString()


@pytest.fixture(scope="module")
def models():
    bpe = train("bpe")
    return {"bpe": bpe, "bpe_bytes": train("bpe", 150 + 256, byte_fallback=True),
            "bpe_user": train("bpe", user_defined_symbols=["<sep>", "kaka"]), "bpe_unused": with_unused_piece(bpe),
            "unigram": train("unigram"), "unigram_bytes": train("unigram", 150 + 256, byte_fallback=True)}


@pytest.mark.parametrize("name", ["bpe", "bpe_bytes", "bpe_user", "bpe_unused"])
def test_bpe_at_rate_zero_is_sentencepieces_encoding(models, name):
    sp, sampler = spm.SentencePieceProcessor(model_proto=models[name]), SegmentSampler(models[name], 0.0)
    texts = lines(300, seed=1) + ODD
    assert [sampler.pieces(t, random.Random(0)) for t in texts] == [sp.encode(t, out_type=str) for t in texts]


def frequencies(draw, n=6000):
    return collections.Counter(tuple(draw()) for _ in range(n))


def total_variation(a, b, n=6000):
    return 0.5 * sum(abs(a[k] - b[k]) for k in a.keys() | b.keys()) / n


@pytest.mark.parametrize("name,rate", [("bpe", 0.1), ("bpe_bytes", 0.1), ("unigram", 0.1), ("unigram_bytes", 0.1)])
def test_samples_follow_sentencepieces_distribution(models, name, rate):
    """Within sampling noise of sentencepiece's own draws (two runs of sentencepiece differ by up
    to about 0.045 in total variation here, ours at most 0.056 in 36 tries); half the rate is 0.18 or more away."""
    sp, rng = spm.SentencePieceProcessor(model_proto=models[name]), random.Random(1)
    ours, off = SegmentSampler(models[name], rate), SegmentSampler(models[name], rate / 2)
    for text in ("kaberdor", "tanselmi ro", "mel 😀 äuße"):
        reference = frequencies(lambda: sp.encode(text, out_type=str, enable_sampling=True, alpha=rate, nbest_size=-1))
        assert len(reference) > 3
        assert total_variation(frequencies(lambda: ours.pieces(text, rng)), reference) < 0.08
        assert total_variation(frequencies(lambda: off.pieces(text, rng)), reference) > 0.12


DIGEST = """
import hashlib, random, sys
from pathlib import Path
from jaxformer.data.segment_sampler import SegmentSampler
model, rate, texts = Path(sys.argv[1]).read_bytes(), float(sys.argv[2]), Path(sys.argv[3]).read_text().splitlines()
sampler, rng = SegmentSampler(model, rate), random.Random(7)
print(hashlib.sha256(repr([sampler.pieces(t, rng) for t in texts]).encode()).hexdigest())
"""


@pytest.mark.parametrize("name,rate", [("bpe", 0.1), ("unigram", 0.1)])
def test_draws_depend_only_on_the_generator_state_in_any_process(models, name, rate, tmp_path):
    texts = lines(200, seed=2)
    (tmp_path / "m.model").write_bytes(models[name])
    (tmp_path / "t.txt").write_text("\n".join(texts))
    sampler = SegmentSampler(models[name], rate)
    here = [sampler.pieces(t, random.Random(7)) for t in texts[:1]]
    rng = random.Random(7)
    mine = hashlib.sha256(repr([sampler.pieces(t, rng) for t in texts]).encode()).hexdigest()
    assert here[0] == sampler.pieces(texts[0], random.Random(7))
    elsewhere = {subprocess.run([sys.executable, "-c", DIGEST, str(tmp_path / "m.model"), str(rate),
                                 str(tmp_path / "t.txt")], check=True, capture_output=True, text=True).stdout.strip()
                 for _ in range(2)}
    assert elsewhere == {mine}
    rng = random.Random(8)
    assert hashlib.sha256(repr([sampler.pieces(t, rng) for t in texts]).encode()).hexdigest() != mine


def test_a_model_that_cannot_sample_is_refused_in_one_line():
    out = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines()), model_writer=out, vocab_size=100,
                                   model_type="word", minloglevel=2)
    with pytest.raises(ConfigError, match=r"^subword sampling needs a bpe or unigram sentencepiece model; this one "
                                          r"is word: set data.subword_sampling=0$"):
        SegmentSampler(out.getvalue(), 0.1)
