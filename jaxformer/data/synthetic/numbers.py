"""Numbers in words (British English, German, traditional French spelling), and the numerals,
dates, times, prices and ages built on them."""

from __future__ import annotations

from jaxformer.data.synthetic.lexicon import MONTHS, TIMES
from jaxformer.data.synthetic.spec import LANGS, Time


_EN_SMALL = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
             "fifteen sixteen seventeen eighteen nineteen").split()
_EN_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_DE_SMALL = ("null eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf dreizehn vierzehn "
             "fünfzehn sechzehn siebzehn achtzehn neunzehn").split()
_DE_TENS = "_ _ zwanzig dreißig vierzig fünfzig sechzig siebzig achtzig neunzig".split()
_FR_SMALL = ("zéro un deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze quinze "
             "seize dix-sept dix-huit dix-neuf").split()
_FR_TENS = "_ _ vingt trente quarante cinquante soixante".split()


def _en_number(n: int) -> str:
    """British: one hundred and five, two thousand and twenty-one."""
    if n < 20:
        return _EN_SMALL[n]
    if n < 100:
        t, u = divmod(n, 10)
        return _EN_TENS[t] + (f"-{_EN_SMALL[u]}" if u else "")
    head, r = (f"{_EN_SMALL[n // 100]} hundred", n % 100) if n < 1000 else \
        (f"{_en_number(n // 1000)} thousand", n % 1000)
    return head if not r else f"{head} and {_en_number(r)}" if r < 100 else f"{head} {_en_number(r)}"


def _de_number(n: int) -> str:
    """One word; the ones before the tens (einundzwanzig); hundert / tausend without ein."""
    if n < 20:
        return _DE_SMALL[n]
    if n < 100:
        t, u = divmod(n, 10)
        return (("ein" if u == 1 else _DE_SMALL[u]) + "und" if u else "") + _DE_TENS[t]
    if n < 1000:
        h, r = divmod(n, 100)
        head = ("" if h == 1 else _DE_SMALL[h]) + "hundert"
    else:
        h, r = divmod(n, 1000)
        head = ("" if h == 1 else _de_number(h).removesuffix("s")) + "tausend"
        if 100 <= r < 200:
            return head + "ein" + _de_number(r)  # tausendeinhundert
    return head + (_de_number(r) if r else "")


def _fr_below_100(n: int) -> str:
    if n < 20:
        return _FR_SMALL[n]
    t, u = divmod(n, 10)
    if t in (7, 9):  # soixante-dix ... soixante-dix-neuf, quatre-vingt-dix ... quatre-vingt-dix-neuf
        return "soixante et onze" if n == 71 else f"{'soixante' if t == 7 else 'quatre-vingt'}-{_FR_SMALL[u + 10]}"
    if t == 8:
        return f"quatre-vingt-{_FR_SMALL[u]}" if u else "quatre-vingts"
    return _FR_TENS[t] + ("" if not u else " et un" if u == 1 else f"-{_FR_SMALL[u]}")


def _fr_number(n: int, final: bool = True) -> str:
    """Traditional spelling; vingts / cents take their s only at the end (quatre-vingt mille)."""
    if n < 100:
        s = _fr_below_100(n)
        return s if final else s.removesuffix("vingts") + "vingt" if s.endswith("vingts") else s
    if n < 1000:
        h, r = divmod(n, 100)
        head = "cent" if h == 1 else f"{_FR_SMALL[h]} cent"
        return f"{head} {_fr_number(r, final)}" if r else head + ("s" if h > 1 and final else "")
    h, r = divmod(n, 1000)
    head = "mille" if h == 1 else f"{_fr_number(h, final=False)} mille"
    return f"{head} {_fr_number(r, final)}" if r else head


def number(n: int, lang: str, feminine: bool = False) -> str:
    """`n` (0 <= n < 1_000_000) in words; German standalone (eins); French feminine makes un une."""
    if not 0 <= n < 1_000_000:
        raise ValueError(f"number {n} is outside 0..999999")
    if lang == "en":
        return _en_number(n)
    if lang == "de":
        return _de_number(n)
    s = _fr_number(n)
    return s + "e" if feminine and (s == "un" or s.endswith((" un", "-un"))) else s


def numeral(n: int, digits: bool, lang: str, feminine: bool = False, attributive: bool = False) -> str:
    if digits:
        return str(n)
    s = number(n, lang, feminine)
    return s[:-1] if attributive and lang == "de" and s.endswith("eins") else s  # hundertein Bücher


def time_phrase(t: Time, lang: str) -> str:
    i = LANGS.index(lang)
    if isinstance(t, tuple):
        d, m, y = t
        month = MONTHS[m - 1][i]
        return (f"on {d} {month} {y}", f"am {d}. {month} {y}", f"le {'1er' if d == 1 else d} {month} {y}")[i]
    if isinstance(t, int):
        return (f"in {t}", f"im Jahr {t}", f"en {t}")[i]
    return TIMES[t][i]


def is_past(t: Time) -> bool:
    return t is not None and (not isinstance(t, str) or TIMES[t][3])


def price_phrase(num: int | str, digits: bool, lang: str) -> str:
    if isinstance(num, str):  # 3.50 euros, 3,50 Euro, 3,50 euros
        return num + " euros" if lang == "en" else num.replace(".", ",") + (" Euro" if lang == "de" else " euros")
    if num == 1 and not digits:
        return {"en": "one euro", "de": "einen Euro", "fr": "un euro"}[lang]
    unit = "Euro" if lang == "de" else "euro" if num == 1 else "euros"
    return f"{numeral(num, digits, lang, attributive=True)} {unit}"


def age_phrase(n: int, digits: bool, lang: str) -> str:
    """23 years old, 23 Jahre alt, 23 ans (French: avoir 23 ans)."""
    one = n == 1
    if lang == "en":
        return f"{numeral(n, digits, 'en')} year{'' if one else 's'} old"
    if lang == "de":
        return f"{'ein' if one and not digits else numeral(n, digits, 'de')} {'Jahr' if one else 'Jahre'} alt"
    return f"{numeral(n, digits, 'fr')} an{'' if one else 's'}"
