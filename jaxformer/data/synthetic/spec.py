"""What a generated sentence says, before any language: noun phrases, clauses and sentences."""

from __future__ import annotations

from dataclasses import dataclass


LANGS = ("en", "de", "fr")

Time = str | int | tuple[int, int, int] | None  # a TIMES key (lexicon), a year, or (day, month, year)


@dataclass(frozen=True, slots=True)
class NP:
    """A noun phrase. `head` is a noun key, a name, a city, or a pronoun (I you he she we they)."""

    head: str
    det: str = "the"  # the | a | "" (bare plural or mass) | num | my your his her our their
    n: int = 1  # how many; more than one is plural
    adj: str = ""
    of: NP | None = None  # possessor: the teacher's car, Anna's car
    unit: str = ""  # a measure: NP("apple", "num", 5, unit="kilogram") is five kilograms of apples
    digits: bool = False  # write the numeral in digits


@dataclass(frozen=True, slots=True)
class Clause:
    """One clause: kind "do" (a verb from the lexicon), "be" (+ adjective), "age" or "exist"."""

    kind: str = "do"
    subj: NP | None = None
    verb: str = ""
    obj: NP | None = None
    to: NP | None = None  # recipient: German dative, French a + NP
    dest: NP | None = None  # where a motion verb goes
    place: NP | None = None  # where it happens (and where something exists)
    with_: NP | None = None
    adj: str = ""  # predicate of "be"
    num: int | str = 0  # age, count ("counts to 99") or price (int, or "3.50")
    digits: bool = False
    time: Time = None  # past times (yesterday, dates, years) put the verb in the perfect
    modal: str = ""  # want | can | must
    neg: bool = False
    front: bool = False  # the time adverbial comes first (German then inverts subject and verb)


@dataclass(frozen=True, slots=True)
class Sentence:
    """A main clause, optionally joined to a subordinate one (because / that), or a question."""

    main: Clause
    link: str = ""  # "" | because | that (the main verb is then say, think or know)
    sub: Clause | None = None
    ask: bool = False
