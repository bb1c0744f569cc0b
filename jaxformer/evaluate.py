"""BLEU as the field reports it, and as the paper did, kept apart.

- sacreBLEU on detokenized output against the raw references, with its signature; chrF beside
  it. This is the number to compare across papers.
- The paper's number is tokenized BLEU: Moses-tokenized text with hyphenated compounds split
  ("##AT##-##AT##", as tensor2tensor's get_ende_bleu.sh does), scored like multi-bleu.perl. It is
  reported as `tok_bleu`, a second number, never mixed with the first.
- Multi30k papers mostly score lowercased, Moses-tokenized text (the task's .lc.norm.tok files)
  with multi-bleu: `lowercase_tokenized_bleu`, a third number for comparing with them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import sacrebleu


def scores(hypotheses: Sequence[str], references: Sequence[str], *, target_lang: str | None = None
           ) -> dict[str, float | str]:
    """{"bleu", "bleu_signature", "chrf", "chrf_signature"} over the whole set, plus
    "tok_bleu" when `target_lang` is given."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    hyps, refs = list(hypotheses), list(references)
    bleu, chrf = sacrebleu.metrics.BLEU(), sacrebleu.metrics.CHRF()
    b, c = bleu.corpus_score(hyps, [refs]), chrf.corpus_score(hyps, [refs])
    out: dict[str, float | str] = {"bleu": b.score, "bleu_signature": str(bleu.get_signature()),
                                   "chrf": c.score, "chrf_signature": str(chrf.get_signature())}
    if target_lang:
        out["tok_bleu"] = tokenized_bleu(hyps, refs, target_lang)
        out["tok_bleu_method"] = f"moses-tok(-l {target_lang}) + compound split ##AT##-##AT## + multi-bleu"
    return out


_COMPOUND = re.compile(r"(\S)-(\S)")


@functools.lru_cache(maxsize=8)
def _moses(lang: str):
    from sacremoses import MosesTokenizer
    return MosesTokenizer(lang=lang)


def paper_tokenize(text: str, lang: str) -> str:
    """tokenizer.perl -l LANG, then perl -ple 's{(\\S)-(\\S)}{$1 ##AT##-##AT## $2}g'."""
    tokens = _moses(lang).tokenize(text, return_str=True, escape=True)
    return _COMPOUND.sub(r"\1 ##AT##-##AT## \2", tokens)


def tokenized_bleu(hypotheses: Sequence[str], references: Sequence[str], lang: str) -> float:
    """BLEU on paper-tokenized text, case-sensitive, unsmoothed, as multi-bleu.perl computes it."""
    hyps = [paper_tokenize(h, lang) for h in hypotheses]
    refs = [paper_tokenize(r, lang) for r in references]
    metric = sacrebleu.metrics.BLEU(tokenize="none", smooth_method="none", force=True)
    return metric.corpus_score(hyps, [refs]).score


def lowercase_tokenized_bleu(hypotheses: Sequence[str], references: Sequence[str], lang: str) -> float:
    """BLEU on lowercased Moses-tokenized text (no compound split), unsmoothed: multi-bleu.perl -lc
    as Multi30k papers use it. Usually a few points above cased, detokenized sacreBLEU."""
    hyps = [_moses(lang).tokenize(h.lower(), return_str=True, escape=False) for h in hypotheses]
    refs = [_moses(lang).tokenize(r.lower(), return_str=True, escape=False) for r in references]
    metric = sacrebleu.metrics.BLEU(tokenize="none", smooth_method="none", force=True)
    return metric.corpus_score(hyps, [refs]).score
