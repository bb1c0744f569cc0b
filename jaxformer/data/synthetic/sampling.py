"""Random sentence specs: which clause kinds, subjects, objects, times and modifiers are drawn,
with which probabilities, so that every spec renders correctly in all three languages."""

from __future__ import annotations

import random

from jaxformer.data.synthetic.lexicon import ADJS, CITIES, EXIST, MODALS, NAMES, NOUNS, POSS, TIMES, UNITS, VERBS
from jaxformer.data.synthetic.spec import NP, Clause, Sentence


_BY_CLASS: dict[str, list[str]] = {}
for _k, _n in NOUNS.items():
    _BY_CLASS.setdefault(_n.cls, []).append(_k)
_ADJ_BY_CLASS = {c: [k for k, a in ADJS.items() if c in a.cls] for c in "ptfmdla"}
_PERSONAL = ("I", "you", "he", "she", "we", "they")
_NAME_KEYS, _CITY_KEYS, _POSS_KEYS = tuple(NAMES), tuple(CITIES), tuple(POSS)
_MODAL_KEYS, _ADJ_KEYS, _EXIST_KEYS = tuple(MODALS), tuple(ADJS), tuple(EXIST)
_DO_VERBS = [k for k, v in VERBS.items() if v.frame in "adm"]
_SAY_VERBS = [k for k, v in VERBS.items() if v.frame == "s"]
_HABITUAL = [k for k, t in TIMES.items() if not t[3]]
_PAST = [k for k, t in TIMES.items() if t[3]]


def _count(rng: random.Random) -> int:
    """A plural count that every language can use before a noun (no 101: German hundertein)."""
    r = rng.random()
    n = rng.randint(2, 20) if r < 0.4 else rng.randint(21, 99) if r < 0.85 else rng.randint(100, 2000)
    return n if n % 100 != 1 else n + 1


def _adj(rng: random.Random, cls: str, p: float = 0.3) -> str:
    return rng.choice(_ADJ_BY_CLASS[cls]) if cls in _ADJ_BY_CLASS and rng.random() < p else ""


def _noun_np(rng: random.Random, key: str, dets: str, p_adj: float = 0.3) -> NP:
    """dets: letters t(he) a num(n) b(are) p(ossessive) g(enitive) q(uantity) to choose among."""
    if key == "name":
        return NP(rng.choice(_NAME_KEYS))
    if key == "city":
        return NP(rng.choice(_CITY_KEYS))
    nn = NOUNS[key]
    allowed = [d for d in dets if (d not in "an" or nn.count) and (d != "q" or key in UNITS)
               and (d != "g" or nn.cls != "l")]
    d = rng.choice(allowed or ["t"])
    adj = _adj(rng, nn.cls, p_adj)
    if d == "q":
        unit = rng.choice(UNITS[key])
        if rng.random() < 0.4:
            return NP(key, "a", 1, adj, unit=unit)
        return NP(key, "num", rng.randint(2, 12), adj, unit=unit, digits=rng.random() < 0.3)
    plural = nn.count and rng.random() < 0.3
    if d == "n":
        return NP(key, "num", _count(rng), adj, digits=rng.random() < 0.3)
    if d == "a":
        return NP(key, "a", 1, adj)
    if d == "b":
        return NP(key, "", 2 if nn.count else 1, adj)
    if d == "p":
        return NP(key, rng.choice(_POSS_KEYS), 2 if plural else 1, adj)
    if d == "g":
        owner = _person_np(rng, "t", p_adj=0.0, names=0.4)
        if owner.head != key:  # not "the teacher's teacher"
            return NP(key, "the", 2 if plural else 1, adj, of=owner)
    return NP(key, "the", 2 if plural else 1, adj)


def _person_np(rng: random.Random, dets: str = "ttapg", p_adj: float = 0.25, names: float = 0.35,
               animals: bool = False) -> NP:
    if rng.random() < names:
        return NP(rng.choice(_NAME_KEYS))
    pool = _BY_CLASS["p"] + (_BY_CLASS["a"] if animals else [])
    return _noun_np(rng, rng.choice(pool), dets, p_adj)


def _subject(rng: random.Random, classes: str, mode: str, gendered: bool = False) -> NP:
    """gendered: French agreement needs the subject's gender, so no I / you / we."""
    if rng.random() < 0.22:
        options = ("he", "she", "they") if gendered else _PERSONAL[1:] if mode == "ask" else _PERSONAL
        return NP(rng.choice(options))
    np = _person_np(rng, "ttttapgn", animals="a" in classes and rng.random() < 0.3)
    if np.det == "num":  # a sentence starts with a short number in words
        return NP(np.head, "num", rng.randint(2, 12), np.adj)
    return np


def _do_clause(rng: random.Random, mode: str) -> Clause:
    key = rng.choice(_DO_VERBS)
    v = VERBS[key]
    past = "x" not in v.flags and rng.random() < 0.3
    modal = "" if past or "y" in v.flags or rng.random() > 0.2 else rng.choice(_MODAL_KEYS)
    neg = mode != "ask" and modal != "must" and rng.random() < 0.2
    subj = _subject(rng, v.subj, mode, gendered=past and v.fr_etre)
    time = None
    if past:
        r = rng.random()
        time = (rng.choice(_PAST) if r < 0.5 else rng.randint(1990, 2024) if r < 0.65 else
                (rng.randint(1, 28), rng.randint(1, 12), rng.randint(1950, 2024)))
    elif not neg and "x" not in v.flags and rng.random() < 0.3:
        time = rng.choice(_HABITUAL)
    obj = to = dest = place = with_ = None
    if v.frame == "m":
        k = rng.choice(v.objs)
        dest = NP(rng.choice(_CITY_KEYS)) if k == "city" else NP(k, adj=_adj(rng, "l", 0.15))
    else:
        k = rng.choice(v.objs)
        if neg:  # negation of definite objects uses nicht / ne ... pas; of indefinite ones kein / pas de
            dets = "ttpga" + ("b" if "b" in v.flags else "") if v.frame == "a" and "k" not in v.flags else "ttpg"
        else:
            dets = "tttaapgn" + ("bb" if "b" in v.flags else "") + ("qq" if "q" in v.flags else "")
            if v.frame == "d":
                dets = "tttpga"
        obj = (NP(rng.choice(_CITY_KEYS)) if k == "city" else
               _person_np(rng, dets) if k == "name" or NOUNS[k].cls == "p" else _noun_np(rng, k, dets))
        if obj == subj:
            obj = NP("Anna") if subj != NP("Anna") else NP("Tom")
        if "R" in v.flags or ("r" in v.flags and rng.random() < 0.5):
            to = _person_np(rng, "ttpg" if neg else "ttapg")
    if not neg and "x" not in v.flags:
        if rng.random() < 0.2:
            with_ = NP(rng.choice(_PERSONAL)) if rng.random() < 0.3 else _person_np(rng, "ttpg")
            if with_.head in (subj.head, obj and obj.head, to and to.head) or {with_.head, subj.head} == {"I", "we"}:
                with_ = None
        if v.frame != "m" and rng.random() < 0.2:
            place = NP(rng.choice(_CITY_KEYS)) if rng.random() < 0.15 else NP(rng.choice(_BY_CLASS["l"]),
                                                                                    adj=_adj(rng, "l", 0.15))
        if time is not None and with_ is not None and place is not None:
            with_ = None
    front = mode == "main" and time is not None and rng.random() < 0.4
    return Clause("do", subj, key, obj, to, dest, place, with_, time=time, modal=modal, neg=neg, front=front)


def _clause(rng: random.Random, mode: str = "main") -> Clause:
    r = rng.random()
    if r < 0.58:
        return _do_clause(rng, mode)
    neg = mode != "ask" and rng.random() < 0.25
    if r < 0.70:  # the house is (not) big
        adj = rng.choice(_ADJ_KEYS)
        cls = rng.choice([c for c in ADJS[adj].cls if c in _BY_CLASS])
        if cls == "p":
            subj = _subject(rng, "p", mode, gendered=True)
        else:
            subj = _noun_np(rng, rng.choice(_BY_CLASS[cls]), "tttpg", p_adj=0.0)
        return Clause("be", subj, adj=adj, neg=neg)
    if r < 0.77:  # Anna is 23 years old
        return Clause("age", _subject(rng, "pa", mode), num=rng.randint(2, 99), digits=rng.random() < 0.4)
    if r < 0.85:  # the book costs 3.50 euros
        cls = rng.choice("tfmd")
        subj = _noun_np(rng, rng.choice(_BY_CLASS[cls]), "ttp", p_adj=0.3)
        if rng.random() < 0.3:
            num: int | str = f"{rng.randint(2, 99)}.{rng.choice(range(5, 100, 5)):02d}"
        else:
            num = 1 if rng.random() < 0.1 else _count(rng)
        return Clause("do", subj, "cost", num=num, digits=rng.random() < 0.5)
    if r < 0.90:  # Anna counts to 1000
        n = rng.randint(2, 100) if rng.random() < 0.6 else rng.randint(100, 9999)
        return Clause("do", _subject(rng, "p", mode), "count", num=n, digits=rng.random() < 0.3)
    where = rng.choice(_EXIST_KEYS)  # there are three trees in the garden
    key = rng.choice(EXIST[where])
    what = _noun_np(rng, key, "ab" if neg else "aanb", p_adj=0.3)
    return Clause("exist", obj=what, place=NP(where, adj=_adj(rng, "l", 0.15)), neg=neg)


def sample(rng: random.Random) -> Sentence:
    r = rng.random()
    if r < 0.10:
        return Sentence(_clause(rng, "ask"), ask=True)
    if r < 0.22:
        return Sentence(_clause(rng), "because", _clause(rng, "sub"))
    if r < 0.32:
        say = Clause("do", _subject(rng, "p", "main"), rng.choice(_SAY_VERBS))
        return Sentence(say, "that", _clause(rng, "sub"))
    return Sentence(_clause(rng))
