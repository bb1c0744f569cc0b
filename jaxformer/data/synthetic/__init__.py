"""A generated English->German / English->French parallel corpus from a small bilingual grammar.

Why: the main training job needs data that a tiny Transformer can learn in minutes on a CPU, with
a real (deterministic, structured) mapping so that BLEU means something. Every sentence is a
`Sentence` spec, sampled at random and rendered by `render` into English, German and French. The
grammar covers numbers (words and digits), dates, prices, ages, quantities, German case and gender
(articles, weak nouns, adjective declension after definite, indefinite and no article), German
verb-second, verb-final (weil, dass) and verb-first (questions) order, separable and modal verbs,
negation (nicht / kein, ne ... pas (de)), the perfect with haben / sein and avoir / être (with
agreement), and French elision, contraction, adjective agreement and placement.

Grammar comes before sense: sentences are correct but may be odd ("The soup costs eighty-five
euros."). The English decides the translation: "you" is always du / tu, "they" always sie / ils,
tense follows the time adverbial (past ones give the perfect), and clauses that would need the
gender of I / you / we in French (être, predicative adjectives) are not generated.

Splits are disjoint by construction: a sentence belongs to the split that a stable hash of its
English text picks (`split_of`), whatever the seed or the requested size.

Modules: `spec` (what a sentence says), `lexicon` (the word tables), `numbers` (numbers, dates,
prices, ages in words), `english`, `german`, `french` (one renderer each), `sampling` (random
specs); this one renders a spec in a language and generates the splits.
"""

from __future__ import annotations

import random
import zlib

from jaxformer.data.synthetic.english import en_clause
from jaxformer.data.synthetic.french import fr_clause, fr_fix
from jaxformer.data.synthetic.german import de_clause
from jaxformer.data.synthetic.numbers import number
from jaxformer.data.synthetic.sampling import sample
from jaxformer.data.synthetic.spec import LANGS, NP, Clause, Sentence

__all__ = ["VERSION", "PAIRS", "SPLITS", "SIZES", "NP", "Clause", "Sentence", "generate", "render", "number",
           "split_of", "sample"]

VERSION = 1  # bump whenever the generated text changes, so cached builds of the corpus are not reused

PAIRS = ("en-de", "en-fr")
SPLITS = ("train", "validation", "test")
SIZES = {"train": 100_000, "validation": 1_000, "test": 1_000}
_BUCKETS = 20  # crc32(English) % 20: 0 is validation, 1 is test, the rest train (5%, 5%, 90%)

_CLAUSES = {"en": en_clause, "de": de_clause, "fr": fr_clause}
_LINKS = {"because": {"en": " because ", "de": ", weil ", "fr": " parce que "},
          "that": {"en": " that ", "de": ", dass ", "fr": " que "}}


def render(spec: Sentence | Clause, lang: str) -> str:
    """The sentence in `lang` ("en", "de" or "fr"), capitalised and punctuated."""
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; choose one of {', '.join(LANGS)}")
    s = spec if isinstance(spec, Sentence) else Sentence(spec)
    clause = _CLAUSES[lang]
    if s.ask:
        text, end = clause(s.main, "ask"), (" ?" if lang == "fr" else "?")
    else:
        text, end = clause(s.main, "main"), "."
        if s.link:
            text += _LINKS[s.link][lang] + clause(s.sub, "sub")
    if lang == "fr":
        text = fr_fix(text)
    return _capitalise(text + end)


def split_of(source: str) -> str:
    """The split an English sentence belongs to: a stable hash, so splits never overlap."""
    bucket = zlib.crc32(source.encode("utf-8")) % _BUCKETS
    return SPLITS[1] if bucket == 0 else SPLITS[2] if bucket == 1 else SPLITS[0]


def generate(pair: str, split: str, num_examples: int | None = None, seed: int = 0) -> list[tuple[str, str]]:
    """`num_examples` distinct (English, target) pairs of `split` (default `SIZES[split]`).

    Deterministic in (pair, split, seed); a smaller request is a prefix of a larger one.
    """
    if pair not in PAIRS:
        raise ValueError(f"unknown pair {pair!r}; choose one of {', '.join(PAIRS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    n = SIZES[split] if num_examples is None else num_examples
    if n < 0:
        raise ValueError(f"num_examples must be >= 0, got {n}")
    lang = pair.split("-")[1]
    rng = random.Random(f"{pair}/{split}/{seed}")
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 100 * n + 10_000:
            raise RuntimeError(f"could not find {n} distinct {split} sentences")
        spec = sample(rng)
        en = render(spec, "en")
        if en in seen or split_of(en) != split:
            continue
        seen.add(en)
        out.append((en, render(spec, lang)))
    return out


def _capitalise(s: str) -> str:
    return s[0].upper() + s[1:]
