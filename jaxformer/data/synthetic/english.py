"""English: noun phrases, places and clauses (do-support, negation, questions)."""

from __future__ import annotations

import re

from jaxformer.data.synthetic.lexicon import (ADJS, CITIES, CITY_PREPS, EN_BE, NAMES, NOUNS, PLACES, POSS, PRON, VERBS,
                                              many, person)
from jaxformer.data.synthetic.numbers import age_phrase, is_past, numeral, price_phrase, time_phrase
from jaxformer.data.synthetic.spec import NP, Clause


def _en_np(np: NP, obj: bool = False, no: bool = False) -> str:
    h = np.head
    if h in PRON:
        return PRON[h].en[1 if obj else 0]
    if h in NAMES:
        return h
    if h in CITIES:
        return CITIES[h][0]
    nn = NOUNS[np.unit or h]
    plural = np.n > 1
    if no:
        det = "no"
    elif np.of is not None:
        det = _en_np(np.of)
        det += "'" if np.of.n > 1 and det.endswith("s") else "'s"
    else:
        det = numeral(np.n, np.digits, "en") if np.det == "num" else POSS[np.det].en[2] if np.det in POSS \
            else np.det  # the, a, ""
    adj = ADJS[np.adj].en if np.adj else ""
    if np.unit:
        s = NOUNS[h]
        return " ".join(w for w in (det, nn.en[plural], "of", adj, s.en[many(np)]) if w)
    return " ".join(w for w in (det, adj, nn.en[plural]) if w)


def _en_place(np: NP, to: bool) -> str:
    prep = "to" if to else CITY_PREPS[0] if np.head in CITIES else PLACES[np.head][0]
    return f"{prep} {_en_np(np)}"


def en_clause(c: Clause, mode: str) -> str:
    """mode: main (declarative), sub (no fronting), ask (yes/no question, do-support)."""
    p = person(c.subj)
    third = p == 2
    ask = mode == "ask"
    time = time_phrase(c.time, "en") if c.time is not None else ""
    front = time + "," if c.front and time and mode == "main" else ""
    rest: list[str] = []
    if c.kind == "exist":
        subj, aux, verb = "there", "are" if c.obj.n > 1 else "is", ""
        rest = [_en_np(c.obj, obj=True, no=c.neg), _en_place(c.place, False)]
    elif c.kind in ("be", "age"):
        subj, aux, verb = _en_np(c.subj), EN_BE[p] + (" not" if c.neg else ""), ""
        rest = [ADJS[c.adj].en if c.kind == "be" else age_phrase(c.num, c.digits, "en")]
    else:
        v = VERBS[c.verb]
        subj = _en_np(c.subj)
        base = v.en[0]
        past = is_past(c.time)
        do = "did" if past else "does" if third else "do"
        if c.modal in ("can", "must"):
            aux, verb = ("cannot" if c.neg else c.modal), base
        elif ask or c.neg:
            aux = do + (" not" if c.neg else "")
            verb = f"want to {base}" if c.modal == "want" else base
        else:
            aux = ""
            verb = (f"{'wants' if third else 'want'} to {base}" if c.modal == "want" else
                    v.en[2] if past else v.en[1] if third else base)
        if c.obj is not None:
            rest.append(_en_np(c.obj, obj=True))
        if c.to is not None:
            rest.append("to " + _en_np(c.to, obj=True))
        if c.dest is not None:
            rest.append(_en_place(c.dest, True))
        if v.frame == "c":
            rest.append("to " + numeral(c.num, c.digits, "en"))
        if v.frame == "p":
            rest.append(price_phrase(c.num, c.digits, "en"))
    if c.with_ is not None:
        rest.append("with " + _en_np(c.with_, obj=True))
    if c.place is not None and c.kind != "exist":
        rest.append(_en_place(c.place, False))
    if time and not front:
        rest.append(time)
    head = [aux, subj, verb] if ask else [front, subj, aux, verb]
    return re.sub(r"\ba (?=[aeiou])", "an ", " ".join(w for w in head + rest if w))
