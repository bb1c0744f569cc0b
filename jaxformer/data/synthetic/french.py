"""French: noun phrases (adjective agreement and placement, partitive and negated articles),
clauses with ne ... pas and the passe compose, elision and contraction."""

from __future__ import annotations

import re

from jaxformer.data.synthetic.lexicon import (ADJS, CITIES, CITY_PREPS, FR_AVOIR, FR_ETRE, MODALS, NAMES, NOUNS, PLACES,
                                              POSS, PRON, VERBS, Adj, many, person)
from jaxformer.data.synthetic.numbers import age_phrase, is_past, numeral, price_phrase, time_phrase
from jaxformer.data.synthetic.spec import NP, Clause


def _fr_gender(np: NP) -> str:
    h = np.head
    return PRON[h].fg if h in PRON else NAMES[h] if h in NAMES else NOUNS[h].fg


_VOWEL = "aeiouyéèêàâîôûœh"  # French elision before a vowel or a mute h (the lexicon has no aspirate h)


def _vowel(word: str) -> bool:
    return word[:1].lower() in _VOWEL


_FR_ELIDE = re.compile(r"\b(je|le|la|ne|que|de|jusque) (?=[" + _VOWEL + "])", re.IGNORECASE)
_FR_CONTRACT = re.compile(r"\b(à|de) (les?) ")


def fr_fix(s: str) -> str:
    """Elision (l'arbre, qu'il, n'y, j'ai, d'eau), then contraction (au, aux, du, des)."""
    s = _FR_ELIDE.sub(lambda m: m.group(1)[:-1] + "'", s)
    return _FR_CONTRACT.sub(lambda m: {"à le": "au", "à les": "aux", "de le": "du", "de les": "des"}[
        f"{m.group(1)} {m.group(2)}"] + " ", s)


def _fr_adj(a: Adj, fem: bool, plural: bool, before: str) -> str:
    if not fem and not plural and len(a.fr) == 5 and a.pre and _vowel(before):
        return a.fr[4]  # un bel arbre, le nouvel hôpital
    return a.fr[2 * plural + fem]


def _fr_np(np: NP, neg: bool = False) -> str:
    """`neg` turns un / une / des / du into de (pas de livre, pas d'eau)."""
    h = np.head
    if h in PRON:
        return PRON[h].fr[1]
    if h in NAMES:
        return h
    if h in CITIES:
        return CITIES[h][2]
    nn = NOUNS[np.unit or h]
    plural = np.n > 1
    fem = nn.fg == "f"
    noun = nn.fr[plural]
    pre = post = ""
    if np.adj and not np.unit:
        a = ADJS[np.adj]
        form = _fr_adj(a, fem, plural, noun)
        pre, post = (form, "") if a.pre else ("", form)
    after = pre or noun  # the word after the determiner
    if neg and np.det in ("a", ""):
        det = "de"
    elif np.det == "the":
        det = "les" if plural else "la" if fem else "le"
    elif np.det == "a":
        det = "une" if fem else "un"
    elif np.det == "":
        det = ("de" if pre else "des") if plural else "de la" if fem else "de le"  # de grandes pommes
    elif np.det == "num":
        det = numeral(np.n, np.digits, "fr", feminine=fem)
    else:
        m, f, pl = POSS[np.det].fr[2]
        det = pl if plural else f if fem and not _vowel(after) else m  # mon amie, mon école
    words = [det, pre, noun, post]
    if np.unit:
        s = NOUNS[h]
        spre = spost = ""
        if np.adj:
            a = ADJS[np.adj]
            form = _fr_adj(a, s.fg == "f", many(np), s.fr[many(np)])
            spre, spost = (form, "") if a.pre else ("", form)
        words += ["de", spre, s.fr[many(np)], spost]
    if np.of is not None:
        words += ["de", _fr_np(np.of)]
    return " ".join(w for w in words if w)


def _fr_place(np: NP, to: bool) -> str:
    prep = CITY_PREPS[4] if np.head in CITIES else PLACES[np.head][4 if to else 3]
    return f"{prep} {_fr_np(np)}"


def _fr_subject(np: NP) -> str:
    return PRON[np.head].fr[0] if np.head in PRON else _fr_np(np)


def _fr_agree(word: str, np: NP) -> str:
    """Participle agreement with the subject after être: allée, allés, allées."""
    return word + ("e" if _fr_gender(np) == "f" else "") + ("s" if np.n > 1 or person(np) == 4 else "")


def fr_clause(c: Clause, mode: str) -> str:
    """Subject, ne, verb, pas, infinitive or participle, objects, a + recipient, direction, avec,
    place, time. Questions are est-ce que + the statement."""
    p = person(c.subj)
    time = time_phrase(c.time, "fr") if c.time is not None else ""
    front = time + "," if c.front and time and mode == "main" else ""
    nonfinite = ""
    rest: list[str] = []
    if c.kind == "exist":  # il (n')y a (pas): ne goes before y
        head = ["il", "ne", "y", "a", "pas"] if c.neg else ["il", "y", "a"]
        rest = [_fr_np(c.obj, neg=c.neg), _fr_place(c.place, False)]
    elif c.kind in ("be", "age"):
        subj = _fr_subject(c.subj)
        if c.kind == "be":
            a = ADJS[c.adj]
            finite = FR_ETRE[p]
            rest.append(a.fr[2 * (p == 4 or c.subj.n > 1) + (_fr_gender(c.subj) == "f")])
        else:
            finite = FR_AVOIR[p]
            rest.append(age_phrase(c.num, c.digits, "fr"))
    else:
        v = VERBS[c.verb]
        subj = _fr_subject(c.subj)
        if is_past(c.time):
            finite = (FR_ETRE if v.fr_etre else FR_AVOIR)[p]
            nonfinite = _fr_agree(v.fr_part, c.subj) if v.fr_etre else v.fr_part
        elif c.modal:
            finite, nonfinite = MODALS[c.modal][2][p], v.fr_inf
        else:
            finite = v.fr[p]
        if c.obj is not None:
            rest.append(_fr_np(c.obj, neg=c.neg and v.frame == "a"))
        if c.to is not None:
            rest.append("à " + _fr_np(c.to))
        if c.dest is not None:
            rest.append(_fr_place(c.dest, True))
        if v.frame == "c":
            rest.append("jusque à " + numeral(c.num, c.digits, "fr"))
        if v.frame == "p":
            rest.append(price_phrase(c.num, c.digits, "fr"))
    if c.with_ is not None:
        rest.append("avec " + _fr_np(c.with_))
    if c.place is not None and c.kind != "exist":
        rest.append(_fr_place(c.place, False))
    if time and not front:
        rest.append(time)
    if c.kind != "exist":
        head = [subj, "ne", finite, "pas", nonfinite] if c.neg else [subj, finite, nonfinite]
    words = [front] + head + rest
    s = " ".join(w for w in words if w)
    return "est-ce que " + s if mode == "ask" else s
