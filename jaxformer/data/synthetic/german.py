"""German: case, gender and adjective declension in noun phrases, contracted prepositions, and
clauses with verb-second, verb-first and verb-final order."""

from __future__ import annotations

from jaxformer.data.synthetic.lexicon import (ADJS, CITIES, CITY_PREPS, DE_HABEN, DE_SEIN, MODALS, NAMES, NOUNS, PLACES,
                                              POSS, PRON, VERBS, Noun, definite, many, person)
from jaxformer.data.synthetic.numbers import age_phrase, is_past, numeral, price_phrase, time_phrase
from jaxformer.data.synthetic.spec import NP, Clause


_CASES = ("nom", "acc", "dat", "gen")
_DE_DEF = {"nom": ("der", "die", "das", "die"), "acc": ("den", "die", "das", "die"),
           "dat": ("dem", "der", "dem", "den"), "gen": ("des", "der", "des", "der")}
_DE_EIN = {"nom": ("", "e", "", "e"), "acc": ("en", "e", "", "e"),  # ein, kein, mein ... endings
           "dat": ("em", "er", "em", "en"), "gen": ("es", "er", "es", "er")}
_DE_WEAK = {"nom": ("e", "e", "e", "en"), "acc": ("en", "e", "e", "en"),
            "dat": ("en",) * 4, "gen": ("en",) * 4}
_DE_STRONG = {"nom": ("er", "e", "es", "e"), "acc": ("en", "e", "es", "e"),
              "dat": ("em", "er", "em", "en"), "gen": ("en", "er", "en", "er")}
_DE_CONTRACT = {("in", "dem"): "im", ("in", "das"): "ins", ("an", "dem"): "am", ("an", "das"): "ans",
                ("zu", "dem"): "zum", ("zu", "der"): "zur"}


def _de_noun(nn: Noun, case: str, plural: bool) -> str:
    if plural:
        pl = nn.de[1]
        return pl + "n" if case == "dat" and pl[-1] not in "ns" else pl  # den Kindern, den Autos
    return nn.de[0] if case == "nom" else nn.de_gen if case == "gen" else nn.de_obl


def _de_det(np: NP, case: str, slot: int, kein: bool) -> tuple[str, dict[str, tuple[str, ...]]]:
    """The determiner and the adjective declension it calls for (weak, strong; mixed via ein-words)."""
    if np.of is not None and np.of.head in NAMES:
        return np.of.head + "s", _DE_STRONG  # Annas rotes Auto
    if np.det == "the":
        return _DE_DEF[case][slot], _DE_WEAK
    if np.det in ("", "num") and not kein:
        return (numeral(np.n, np.digits, "de", attributive=True) if np.det == "num" else ""), _DE_STRONG
    stem = "kein" if kein else "ein" if np.det == "a" else POSS[np.det].de[3]
    end = _DE_EIN[case][slot]
    return stem + end, _DE_WEAK if end else _DE_STRONG


def _de_np(np: NP, case: str, kein: bool = False) -> str:
    """`kein` turns an indefinite or bare noun phrase into its negation (kein Buch, keine Äpfel)."""
    h = np.head
    if h in PRON:
        return PRON[h].de[_CASES.index(case)]
    if h in NAMES:
        return h + "s" if case == "gen" else h
    if h in CITIES:
        return CITIES[h][1]
    nn = NOUNS[np.unit or h]
    plural = np.n > 1
    slot = 3 if plural else "mfn".index(nn.g)
    det, table = _de_det(np, case, slot, kein)
    words = [det]
    if np.unit:  # the substance stands in the same case, without article, adjective strong
        s = NOUNS[h]
        words.append(_de_noun(nn, case, plural))
        if np.adj:
            words.append(ADJS[np.adj].de_stem + _DE_STRONG[case][3 if many(np) else "mfn".index(s.g)])
        words.append(_de_noun(s, case, many(np)))
    else:
        if np.adj:
            words.append(ADJS[np.adj].de_stem + table[case][slot])
        words.append(_de_noun(nn, case, plural))
    if np.of is not None and np.of.head not in NAMES:
        words.append(_de_np(np.of, "gen"))
    return " ".join(w for w in words if w)


def _de_pp(prep: str, np: NP, case: str) -> str:
    s = _de_np(np, case)
    art, _, rest = s.partition(" ")
    short = _DE_CONTRACT.get((prep, art)) if np.det == "the" and rest else None
    return f"{short} {rest}" if short else f"{prep} {s}"


def _de_place(np: NP, to: bool) -> str:
    if np.head in CITIES:
        return f"{CITY_PREPS[2 if to else 1]} {_de_np(np, 'dat')}"
    prep = PLACES[np.head][2 if to else 1]
    return _de_pp(prep, np, "acc" if to and prep != "zu" else "dat")


def de_clause(c: Clause, mode: str) -> str:
    """Verb-second (main), verb-first (ask), verb-final (sub). The middle field runs: definite
    objects (dative before accusative), time, with, place, indefinite objects, nicht, direction or
    predicate; then the non-finite verb and particle."""
    p = person(c.subj)
    time = time_phrase(c.time, "de") if c.time is not None else ""
    first = time if c.front and time and mode == "main" else ""
    particle = nonfinite = ""
    early: list[str] = []
    late: list[str] = []
    final: list[str] = []
    nicht = c.neg
    if c.kind == "exist":
        subj, finite = "es", "gibt"
        kein = c.neg
        nicht = False
        late.append(_de_np(c.obj, "acc", kein=kein))
        where = _de_place(c.place, False)
        if mode == "main":
            first = where
        else:
            early.append(where)
    elif c.kind in ("be", "age"):
        subj, finite = _de_np(c.subj, "nom"), DE_SEIN[p]
        final.append(ADJS[c.adj].de if c.kind == "be" else age_phrase(c.num, c.digits, "de"))
    else:
        v = VERBS[c.verb]
        subj = _de_np(c.subj, "nom")
        if is_past(c.time):
            finite, nonfinite = (DE_SEIN if v.de_sein else DE_HABEN)[p], v.de_part
        elif c.modal:
            finite, nonfinite = MODALS[c.modal][1][p], v.de_inf
        else:
            finite, particle = v.de[p], v.de_particle
        objs = [(c.to, "dat"), (c.obj, "dat" if v.frame == "d" else "acc")]
        for np, case in objs:
            if np is None:
                continue
            kein = c.neg and np is c.obj and np.det in ("a", "") and v.frame == "a"
            nicht = nicht and not kein
            (early if definite(np) else late).append(_de_np(np, case, kein=kein))
        if c.dest is not None:
            final.append(_de_place(c.dest, True))
        if v.frame == "c":
            final.append("bis " + numeral(c.num, c.digits, "de"))
        if v.frame == "p":
            final.append(price_phrase(c.num, c.digits, "de"))
    middle = early + [time if first != time else ""]
    if c.with_ is not None:
        middle.append("mit " + _de_np(c.with_, "dat"))
    if c.place is not None and c.kind != "exist":
        middle.append(_de_place(c.place, False))
    middle += late + (["nicht"] if nicht else []) + final
    if mode == "sub":
        verbs = [particle + finite] if particle else [nonfinite, finite]
        words = [subj] + middle + verbs
    elif mode == "ask":
        words = [finite, subj] + middle + [nonfinite, particle]
    else:
        words = ([first, finite, subj] if first else [subj, finite]) + middle + [nonfinite, particle]
    return " ".join(w for w in words if w)
