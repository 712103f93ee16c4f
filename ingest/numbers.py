"""Dutch numbers: parse one, find every quantity in running text, and write them back Dutch-style.

Used to check that every number in an answer is traceable to a source passage, so the finder errs on
the side of *not* calling something a quantity: section numbers, footnote markers, labels, days of
the month and ordinals are skipped, and years are kept apart from counts.

Notation (Dutch): "." groups thousands in groups of exactly three digits, "," is the decimal
separator: "176.600" is 176600, "3,5" is 3.5, "1.234,5" is 1234.5.

Decisions worth knowing (each has an example test in tests/test_numbers.py):

* A single dot followed by one or two digits ("1.5", "12.25") is not Dutch thousands grouping, so
  ``parse_number`` reads it as an English-style decimal point. In running text a bare "3.2" is
  almost always a section, figure or version number, so ``find_quantities`` only reads a dotted
  decimal when a unit or scale word is attached ("3.5%", "1.5 mln"); a bare "3.2" is skipped.
* Years: a four-digit 1950-2099 standing alone is kind "year". "Standing alone" means no sign, no
  currency, no unit and no scale word attached: "2025 euro" is money, "-2025" a signed count.
  "2024-2027", "2019 – 2024", "2024/2025" and "2025-26" are two years, never a subtraction.
* Dates: "1 januari 2026", "31-10-2025", "2025-10-31" yield only the year; the day is skipped
  (kind "date" was the alternative, but a day is no quantity an answer could be audited on).
* Ranges: "tussen 25 en 45 jaar", "60 tot 67 jaar", "3-4%", "25- tot 45-jarigen" are one Quantity of
  kind "range" (value = low, high = high). Without "tussen" a unit or scale word is required ("van
  400 tot 500" stays two counts, "1 tot 2 miljoen" is a range), and "van 6 tot 3%" (low > high) is a
  change, not a range: two quantities. A dash must be glued or spaced on both sides on one line:
  "-2%\n-1%" on a chart axis is two negative percentages.
* Verbal quantities ("driekwart", "de helft", "een derde", "zes op de tien", "twee keer zo veel",
  "verdubbeld", "een half miljoen") get kind "word": the value is inferred from wording, not written
  as digits. Their unit says what it is: "%" for fractions and ratios, "x" for multipliers.
* "procentpunt" is kind "percent" with unit "procentpunt".
* "twee keer zo veel" has text "twee keer" (like "4 keer"); the "zo veel" after it is what makes
  it a multiplier rather than a frequency ("twee keer per jaar" is no quantity).
* "1,2 mln." has text "1,2 mln": the dot usually doubles as the sentence end.
* ``format_quantity`` writes money from a billion in "miljard" ("€ 4,4 miljard", as the sources do)
  rather than "€ 4.400 miljoen".
* Not quantities: references ("afbeelding 3.2", "tabel 2", "Box 4.1", "§ 2.3"), footnote digits
  glued to a word or to closing punctuation ("banen1.", "mensen).14"), labels glued with a hyphen
  ("EU-27", "mbo-4"), ordinals ("67e verjaardag"), half years ("eerste helft van 2025").
"""

from __future__ import annotations

import logging
import math
import re
from functools import lru_cache
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Quantity:
    value: float  # in plain units: "1,2 mln" -> 1200000.0, "3,5%" -> 3.5, "4x" -> 4.0
    unit: str  # "", "%", "€", "x", "fte", "uur", "jaar", "procentpunt"
    kind: str  # "number", "percent", "money", "multiplier", "year", "quarter", "range", "word"
    text: str  # exactly as written: text == input[start:end]
    start: int
    end: int
    sign: int = 0  # +1 / -1 only when a sign was written ("+2,8%", "−600")
    high: float | None = None  # upper bound of a range


# --------------------------------------------------------------------------------------------
# Shared regex fragments. [0-9] rather than \d: \d also matches Arabic-Indic and other digits.

# Thousands groups of exactly three, optional decimal comma; never followed by more digits or by
# a separator + digit (so "1.2345" and "3.2.1" are not read as a shorter number).
_TAIL = r"(?![0-9])(?![.,][0-9])"
_NUM_STRICT = rf"(?:[0-9]{{1,3}}(?:\.[0-9]{{3}})+(?:,[0-9]+)?|[0-9]+(?:,[0-9]+)?){_TAIL}"
# Also an English-style dot decimal ("1.5", "12.25"); only used where a unit or scale follows.
_NUM_LOOSE = rf"(?:[0-9]{{1,3}}(?:\.[0-9]{{3}})+(?:,[0-9]+)?|[0-9]+(?:,[0-9]+)?|[0-9]+\.[0-9]{{1,2}}){_TAIL}"
# Hyphen-minus, Unicode minus, en dash (typeset minus). Only a sign when glued to the digits.
_SIGN = "[+\\-\u2212\u2013]"
# A quantity never starts glued to a word or number ("banen1", "CBS2"), right after closing
# punctuation (footnotes: "mensen).14", "blijft.6", "(53%)1", "bijstand’2"), or after a
# letter + hyphen (labels: "EU-27", "mbo-4", "covid-19").
_BEFORE = r"(?<![\w.,)\]’”%])(?<![^\W\d_]-)"
# Words end where letters end (digits may follow: a footnote marker after "miljoen9").
_END = r"(?![^\W\d_])"
_YEAR = r"(?:19[5-9][0-9]|20[0-9]{2})"

_SCALE_EXP = {"duizend": 3, "mln": 6, "miljoen": 6, "mld": 9, "mrd": 9, "miljard": 9}
_SCALE = rf"(?:duizend|mln|miljoen|mld|mrd|miljard){_END}"

# Unit words after a number, per canonical unit. Order matters where one is a prefix of another
# ("procentpunt" before "procent", "%-punt" before "%").
_UNIT_PATTERNS = {
    "procentpunt": rf"(?:procentpunt(?:en)?|%-?punt(?:en)?|pp){_END}",
    "%": rf"(?:%|(?:procent|pct){_END})",
    "€": rf"(?:euro|eur){_END}",
    "x": rf"(?:[x×]|keer|maal){_END}",
    "fte": rf"fte(?:['’]s)?{_END}",
    "uur": rf"(?:uur|uren){_END}",
    "jaar": rf"(?:jaar|-?jarig(?:e|en)?){_END}",
}
_UNIT_MATCHERS = {unit: re.compile(pattern, re.IGNORECASE) for unit, pattern in _UNIT_PATTERNS.items()}
_ANY_UNIT = "(?:" + "|".join(_UNIT_PATTERNS.values()) + ")"
_UNIT_KIND = {"": "number", "%": "percent", "procentpunt": "percent", "€": "money", "x": "multiplier",
              "fte": "number", "uur": "number", "jaar": "number"}

_NUMBER_WORDS = {"een": 1, "één": 1, "twee": 2, "drie": 3, "vier": 4, "vijf": 5, "zes": 6, "zeven": 7,
                 "acht": 8, "negen": 9, "tien": 10, "honderd": 100}
_NUMBER_WORD = "(?:" + "|".join(_NUMBER_WORDS) + f"){_END}"
_ORDINAL_WORDS = {"eerste": 1, "tweede": 2, "derde": 3, "vierde": 4}
_MONTHS = (r"(?:januari|februari|maart|april|mei|juni|juli|augustus|september|oktober|november|december"
           r"|jan|feb|mrt|apr|jun|jul|aug|sept?|okt|nov|dec)")

_MAX_DIGITS = 400  # far beyond float range; int() refuses strings over 4300 digits


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _signed(name: str, number: str) -> str:
    """A number group `name` with an optional glued sign group `name_sign`."""
    return rf"(?P<{name}_sign>{_SIGN})?(?P<{name}>{number})"


# --------------------------------------------------------------------------------------------
# Parsing one number


_PARSE_ONE = re.compile(rf"\s*{_signed('num', _NUM_LOOSE)}\s*")
_DOT_DECIMAL = re.compile(r"[0-9]+\.[0-9]{1,2}")


def _sign_of(sign: str | None) -> int:
    if not sign:
        return 0
    return 1 if sign == "+" else -1


def _magnitude(number: str, scale_exp: int = 0) -> float | None:
    """Unsigned value of a number as matched by _NUM_LOOSE, times 10**scale_exp; None on overflow.

    Integer arithmetic: "4,1 mln" is exactly 4100000.0, where 4.1 * 1e6 gives 4099999.9999999995.
    """
    if "," in number:
        whole, frac = number.split(",")
        whole = whole.replace(".", "")
    elif _DOT_DECIMAL.fullmatch(number):
        whole, frac = number.split(".")
    else:
        whole, frac = number.replace(".", ""), ""
    digits = whole + frac
    if len(digits) > _MAX_DIGITS:
        return None
    exp = scale_exp - len(frac)
    try:  # both raise OverflowError rather than return inf
        return float(int(digits) * 10**exp) if exp >= 0 else int(digits) / 10**-exp
    except OverflowError:
        return None


def parse_number(text: str) -> float | None:
    """One number in Dutch notation ("9.500", "1.234,5", "-4,2", "+2,8", "−600"); None if invalid.

    A single dot followed by one or two digits ("1.5") is read as a decimal point: three digits
    after a dot are thousands ("1.500" is 1500), one or two cannot be.
    """
    m = _PARSE_ONE.fullmatch(text)
    if m is None:
        return None
    magnitude = _magnitude(m["num"])
    if magnitude is None:
        return None
    return -magnitude if _sign_of(m["num_sign"]) < 0 else magnitude


# --------------------------------------------------------------------------------------------
# Finding quantities: forms, each one compiled regex and a handler. A handler returns the
# quantities for its match, [] to consume the text silently (references, days), or None to decline
# so the next form is tried at the same position.

Handler = Callable[[re.Match[str]], "list[Quantity] | None"]


@dataclass(frozen=True)
class _Form:
    name: str
    pattern: re.Pattern[str]
    handle: Handler


def _quantity(m: re.Match[str], value: float, unit: str, kind: str, *, group: int | str = 0,
              sign: int = 0, high: float | None = None) -> Quantity:
    start, end = m.span(group)
    return Quantity(value, unit, kind, m.string[start:end], start, end, sign, high)


def _signed_value(m: re.Match[str], name: str, scale: str | None = None) -> tuple[float, int] | None:
    """(value, sign) of the signed number group `name`, scaled by a scale word; None on overflow."""
    magnitude = _magnitude(m[name], _SCALE_EXP[scale.lower()] if scale else 0)
    if magnitude is None:
        return None
    sign = _sign_of(m[f"{name}_sign"])
    return (-magnitude if sign < 0 else magnitude), sign


def _canonical_unit(written: str | None) -> str:
    if not written:
        return ""
    written = written.strip()
    return next(unit for unit, matcher in _UNIT_MATCHERS.items() if matcher.fullmatch(written))


def _skip(m: re.Match[str]) -> list[Quantity]:
    return []


# References: "afbeelding 3.2", "tabel 2", "Box 4.1", "hoofdstuk 6", "§ 2.3", "tabellen 1 en 2".
_REF_WORDS = (r"afbeelding(?:en)?|afb\.|figu(?:ur|ren)|fig\.|tabel(?:len)?|grafiek(?:en)?|kaart(?:en)?"
              r"|box(?:en)?|kader|paragra(?:af|fen)|par\.|hoofdstuk(?:ken)?|hfst\.|bijlage(?:n)?"
              r"|pagina(?:'s)?|blz\.|p\.|pp\.|voetno(?:ot|ten)|noot|artikel(?:en)?|art\.|lid|versie"
              r"|niveau|fase|stap|week")
# A reference number: "2", "3.2", "4.1a"; not one with a unit after it ("week 16 uur").
_REF_NUM = rf"[0-9]{{1,3}}(?:\.[0-9]{{1,3}})*[a-z]?(?![0-9]){_END}(?!\s*(?:{_ANY_UNIT}|{_SCALE}))"
REFERENCE = _compile(
    rf"(?:§|\b(?:{_REF_WORDS}))\s*{_REF_NUM}"
    rf"(?:\s*(?:,|en|t/m|tot(?:\s+en\s+met)?|[-–])\s*{_REF_NUM})*"
)


# "1 januari 2026", "31 okt. 2025", "29 april": the day is skipped, the year kept.
DATE = _compile(rf"{_BEFORE}(?P<day>[0-9]{{1,2}})\s+{_MONTHS}{_END}\.?(?:\s+(?P<year>[0-9]{{4}}){_TAIL})?")
# "31-10-2025", "1/1/2026", "2025-10-31".
NUMERIC_DATE = _compile(
    rf"{_BEFORE}(?:(?P<day>[0-9]{{1,2}})[-/.](?P<month>[0-9]{{1,2}})[-/.](?P<year>[0-9]{{4}})"
    rf"|(?P<iso_year>[0-9]{{4}})-(?P<iso_month>[0-9]{{2}})-(?P<iso_day>[0-9]{{2}})){_TAIL}{_END}"
)


def _date(m: re.Match[str]) -> list[Quantity] | None:
    day = m["day"] or m.groupdict().get("iso_day")
    month = m.groupdict().get("month") or m.groupdict().get("iso_month")
    if not 1 <= int(day) <= 31 or (month is not None and not 1 <= int(month) <= 12):
        return None
    group = "year" if m["year"] else ("iso_year" if m.groupdict().get("iso_year") else None)
    if group is None:
        return []
    return [_quantity(m, float(m[group]), "", "year", group=group)]


# "2024-2027", "2019 – 2024", "2024/2025", "2025-26": two years. The two-digit form must be glued
# ("In 2023 - 45% ..." is no period).
YEAR_RANGE = _compile(
    rf"{_BEFORE}(?P<first>{_YEAR})(?:\s*[-–—/]\s*(?P<second>{_YEAR})|[-–/](?P<short>[0-9]{{2}}))"
    rf"{_TAIL}{_END}(?!\s*%)"
)


def _year_range(m: re.Match[str]) -> list[Quantity] | None:
    first = int(m["first"])
    if m["short"]:
        second = first // 100 * 100 + int(m["short"])
        if second <= first:  # "2025-10" is a month, not a period
            return None
        return [_quantity(m, float(first), "", "year", group="first"),
                _quantity(m, float(second), "", "year", group="short")]
    return [_quantity(m, float(first), "", "year", group="first"),
            _quantity(m, float(m["second"]), "", "year", group="second")]


# "tussen 25 en 45 jaar", "60 tot 67 jaar", "3-4%", "25- tot 45-jarigen", "tussen € 1 en 2 mln".
RANGE = _compile(
    rf"(?:(?P<tussen>tussen)\s+(?:de\s+)?)?{_BEFORE}(?P<lo_cur>€\s*)?{_signed('lo', _NUM_STRICT)}"
    rf"(?:\s*(?P<lo_scale>{_SCALE}))?(?:\s*(?P<lo_unit>{_ANY_UNIT}))?-?"
    # A dash joins glued ("3-4%") or spaced on both sides ("3 - 4%") on one line; "-2%\n-1%" (chart
    # axis) or "3 -4%" are two numbers.
    rf"(?P<conn>[-–—]|[ \t]+[-–—][ \t]+|\s+(?:tot(?:\s+en\s+met)?|t/m|en|à|a)\s+)"
    rf"(?P<hi_cur>€\s*)?{_signed('hi', _NUM_STRICT)}(?:\s*(?P<hi_scale>{_SCALE}))?"
    rf"(?:\s*(?P<hi_unit>{_ANY_UNIT})|{_END})"
)


def _range(m: re.Match[str]) -> list[Quantity] | None:
    lo_unit, hi_unit = _canonical_unit(m["lo_unit"]), _canonical_unit(m["hi_unit"])
    if lo_unit and lo_unit != hi_unit:  # "10 jaar tot 5%"
        return None
    unit = "€" if (m["lo_cur"] or m["hi_cur"]) and hi_unit in ("", "€") else hi_unit
    if m["conn"].strip() == "en" and not m["tussen"]:
        return None  # "12 en 15 jaar" is a list
    hi_scale = m["hi_scale"]
    if not unit and not m["tussen"] and not hi_scale:
        return None  # "van 400 tot 500" may be a change, "12-15" two numbers; "1 tot 2 miljoen" is a range
    low = _signed_value(m, "lo", m["lo_scale"] or hi_scale)  # "1 tot 2 miljoen": scale for both
    high = _signed_value(m, "hi", hi_scale)
    if low is None or high is None or low[0] > high[0]:
        return None  # low > high: "van 6 tot 3%" is a change
    if not unit and all(re.fullmatch(_YEAR, m[n]) for n in ("lo", "hi")):
        return None  # "tussen 2005 en 2016": two years
    return [_quantity(m, low[0], unit, "range", sign=low[1], high=high[0])]


# "tweede kwartaal", "2e kwartaal", "Q2", "kwartaal 3".
QUARTER = _compile(
    rf"{_BEFORE}(?:(?P<word>eerste|tweede|derde|vierde)\s+kwartaal"
    rf"|(?P<ordinal>[1-4])\s*(?:e|de|ste)\s+kwartaal|q(?P<q>[1-4])(?![0-9])"
    rf"|kwartaal\s+(?P<after>[1-4])(?![0-9]|[.,][0-9])){_END}"
)


def _quarter(m: re.Match[str]) -> list[Quantity]:
    value = _ORDINAL_WORDS[m["word"].lower()] if m["word"] else int(m["ordinal"] or m["q"] or m["after"])
    return [_quantity(m, float(value), "", "quarter")]


# "eerste helft van 2025" is a half year, not 50 %.
HALF_YEAR = _compile(rf"\b(?:eerste|tweede|laatste|[12]e|[12]ste|2de)\s+(?:helft|halfjaar|jaarhelft){_END}")

# "zes op de tien", "6 op de 10", "een op de vijf" -> percentage.
RATIO = _compile(
    rf"{_BEFORE}(?P<a>{_NUMBER_WORD}|[0-9]{{1,3}}(?![0-9]))\s+op\s+de\s+"
    rf"(?P<b>{_NUMBER_WORD}|[0-9]{{1,4}}{_TAIL}{_END})"
)


def _count_word(word: str) -> int:
    return int(word) if word.isdigit() else _NUMBER_WORDS[word.lower()]


def _ratio(m: re.Match[str]) -> list[Quantity] | None:
    a, b = _count_word(m["a"]), _count_word(m["b"])
    if b == 0 or a > b:
        return None
    return [_quantity(m, a / b * 100, "%", "word")]


# "een derde", "twee derde", "een kwart", "drie kwart", "driekwart", "de helft". "Derde" is also an
# ordinal ("een derde partij"), so it must be followed by "van"/"deel" or punctuation.
FRACTION = _compile(
    rf"\b(?:(?P<num>{_NUMBER_WORD})\s+(?P<den>kwart|(?:derde|vijfde)(?=\s+(?:van|deel)\b|\s*[(),.;:!?]|\s*$))"
    rf"|(?P<three_quarters>driekwart)|(?P<half>(?:de\s+)?helft)){_END}"
)
_DENOMINATORS = {"kwart": 4, "derde": 3, "vijfde": 5}


def _fraction(m: re.Match[str]) -> list[Quantity] | None:
    if m["half"]:
        value = 50.0
    elif m["three_quarters"]:
        value = 75.0
    else:
        numerator, denominator = _NUMBER_WORDS[m["num"].lower()], _DENOMINATORS[m["den"].lower()]
        if numerator >= denominator:
            return None
        value = numerator / denominator * 100
    return [_quantity(m, value, "%", "word")]


# "twee keer zo veel", "drie keer zoveel", "anderhalf keer meer": only with a comparison after it,
# "twee keer per jaar" is a frequency. The span is "twee keer", like "4 keer".
WORD_MULTIPLIER = _compile(
    rf"\b(?P<n>anderhalf|{_NUMBER_WORD})\s+(?:keer|maal){_END}(?=\s+(?:zo|zoveel|meer){_END})"
)


def _word_multiplier(m: re.Match[str]) -> list[Quantity]:
    n = m["n"].lower()
    return [_quantity(m, 1.5 if n == "anderhalf" else float(_NUMBER_WORDS[n]), "x", "word")]


# "verdubbeld", "verdubbeling", "verdrievoudigd", "gehalveerd", "halvering" (not "halverwege").
_CHANGE_FACTORS = {"verdubbel": 2.0, "verdrievoudig": 3.0, "verviervoudig": 4.0, "vertienvoudig": 10.0}
CHANGE_WORD = _compile(
    r"\b(?:(?P<stem>" + "|".join(_CHANGE_FACTORS) + r")[^\W\d_]*"
    rf"|(?P<half>gehalveerd[^\W\d_]*|halveer(?:t|de|den)?|halveren|halvering(?:en)?){_END})"
)


def _change_word(m: re.Match[str]) -> list[Quantity]:
    factor = 0.5 if m["half"] else _CHANGE_FACTORS[m["stem"].lower()]
    return [_quantity(m, factor, "x", "word")]


# "een half miljoen", "anderhalf miljoen", "twee miljard".
WORD_SCALE = _compile(rf"\b(?P<n>een\s+half|anderhalf|{_NUMBER_WORD})\s+(?P<scale>miljoen|miljard){_END}")


def _word_scale(m: re.Match[str]) -> list[Quantity]:
    n = re.sub(r"\s+", " ", m["n"].lower())
    factor = {"een half": 0.5, "anderhalf": 1.5}.get(n) or float(_NUMBER_WORDS[n])
    return [_quantity(m, factor * 10 ** _SCALE_EXP[m["scale"].lower()], "", "word")]


# Number + unit forms. Unit forms accept a dotted decimal ("3.5%"); the plain form does not.
PERCENT_POINT = _compile(rf"{_BEFORE}{_signed('n', _NUM_LOOSE)}\s*{_UNIT_PATTERNS['procentpunt']}")
PERCENT = _compile(rf"{_BEFORE}{_signed('n', _NUM_LOOSE)}\s*{_UNIT_PATTERNS['%']}")
# "€ 35,9 miljoen", "€35,9 mln", "-€ 600", "€ -600", "EUR 500", "€ 1.500,-".
MONEY_PREFIX = _compile(
    rf"{_BEFORE}(?P<pre_sign>{_SIGN})?(?:€|eur{_END})\s*{_signed('n', _NUM_LOOSE)}"
    rf"(?:\s*(?P<scale>{_SCALE}))?(?:,[-–](?![0-9]))?"
)
# "5.000 euro", "1,2 miljoen euro".
MONEY_SUFFIX = _compile(rf"{_BEFORE}{_signed('n', _NUM_LOOSE)}(?:\s*(?P<scale>{_SCALE}))?\s*{_UNIT_PATTERNS['€']}")
MULTIPLIER = _compile(rf"{_BEFORE}{_signed('n', _NUM_LOOSE)}\s*{_UNIT_PATTERNS['x']}")
# "8,9 fte", "100 duizend fte", "16 uur", "45 jaar", "45-jarigen".
MEASURE = _compile(
    rf"{_BEFORE}{_signed('n', _NUM_LOOSE)}(?:\s*(?P<scale>{_SCALE}))?\s*"
    rf"(?P<unit>{_UNIT_PATTERNS['fte']}|{_UNIT_PATTERNS['uur']}|{_UNIT_PATTERNS['jaar']})"
)
# "1,2 mln", "792 duizend", "€"-less money is just a count.
SCALED = _compile(rf"{_BEFORE}{_signed('n', _NUM_LOOSE)}\s*(?P<scale>{_SCALE})")
# A year standing alone: tried after every unit form, so "2025 euro" never gets here.
YEAR = _compile(rf"{_BEFORE}(?P<year>{_YEAR}){_TAIL}{_END}")
PLAIN = _compile(rf"{_BEFORE}{_signed('n', _NUM_STRICT)}{_END}")


def _unit_form(unit: str | None, kind: str | None = None) -> Handler:
    """Handler for the number + unit forms; unit None means: the `unit` group says which."""

    def handle(m: re.Match[str]) -> list[Quantity] | None:
        found = _signed_value(m, "n", m.groupdict().get("scale"))
        if found is None:
            log.debug("skipped %r: value out of range", m[0])
            return None
        value, sign = found
        if m.groupdict().get("pre_sign"):
            sign = _sign_of(m["pre_sign"])
            value = -abs(value) if sign < 0 else value
        canonical = unit if unit is not None else _canonical_unit(m["unit"])
        return [_quantity(m, value, canonical, kind or _UNIT_KIND[canonical], sign=sign)]

    return handle


def _year(m: re.Match[str]) -> list[Quantity]:
    return [_quantity(m, float(m["year"]), "", "year")]


# Tried in this order at every position where a quantity could start; the first form whose
# handler accepts wins. Skips come first; ranges before their parts; unit forms before a bare
# year; the plain number last.
_FORMS = (
    _Form("reference", REFERENCE, _skip),
    _Form("date", DATE, _date),
    _Form("numeric_date", NUMERIC_DATE, _date),
    _Form("year_range", YEAR_RANGE, _year_range),
    _Form("range", RANGE, _range),
    _Form("quarter", QUARTER, _quarter),
    _Form("half_year", HALF_YEAR, _skip),
    _Form("ratio", RATIO, _ratio),
    _Form("fraction", FRACTION, _fraction),
    _Form("word_multiplier", WORD_MULTIPLIER, _word_multiplier),
    _Form("change_word", CHANGE_WORD, _change_word),
    _Form("word_scale", WORD_SCALE, _word_scale),
    _Form("percent_point", PERCENT_POINT, _unit_form("procentpunt")),
    _Form("percent", PERCENT, _unit_form("%")),
    _Form("money_prefix", MONEY_PREFIX, _unit_form("€")),
    _Form("money_suffix", MONEY_SUFFIX, _unit_form("€")),
    _Form("multiplier", MULTIPLIER, _unit_form("x")),
    _Form("measure", MEASURE, _unit_form(None)),
    _Form("scaled", SCALED, _unit_form("", "number")),
    _Form("year", YEAR, _year),
    _Form("plain", PLAIN, _unit_form("", "number")),
)

# Where a form can start: a digit, currency, sign or "§", or the start of a word.
_START = re.compile("[0-9€§+\\-\u2212\u2013]|\\b(?=[^\\W\\d_])")


def find_quantities(text: str) -> list[Quantity]:
    """All quantities in running Dutch text, in order and non-overlapping (see module docstring)."""
    return list(_quantities_of(text))


@lru_cache(maxsize=32768)
def _quantities_of(text: str) -> tuple[Quantity, ...]:
    """Parsed once per text per process: the answer path reads the same passages and sentences for
    features, support checks, calculations and the number audit (Quantity is frozen)."""
    return tuple(_scan(text))


def _scan(text: str) -> list[Quantity]:
    found: list[Quantity] = []
    pos = 0
    while (start := _START.search(text, pos)) is not None:
        pos = start.start() + 1
        for form in _FORMS:
            m = form.pattern.match(text, start.start())
            if m is None:
                continue
            quantities = form.handle(m)
            if quantities is None:
                continue
            found.extend(quantities)
            pos = max(pos, m.end())
            break
    return found


# --------------------------------------------------------------------------------------------
# Formatting


def _dutch_digits(value: float, decimals: int, strip_zeros: bool) -> str:
    """abs(value) with Dutch separators: 1234.5 -> "1.234,5"."""
    written = f"{abs(value):,.{decimals}f}"
    if strip_zeros and "." in written:
        written = written.rstrip("0").rstrip(".")
    return written.translate(str.maketrans(",.", ".,"))


def _with_sign(value: float, digits: str) -> str:
    # No "-0": a negative value that rounds to zero is written as zero.
    return "-" + digits if value < 0 and digits.strip("0,.") else digits


def format_number(value: float, decimals: int | None = None) -> str:
    """Dutch notation: 176600 -> "176.600", 3.5 -> "3,5", -600 -> "-600", 1234.5 -> "1.234,5".

    decimals=None: integers stay integers; otherwise 1 decimal from 10 up and 2 below, with
    trailing zeros removed. An explicit `decimals` keeps exactly that many.
    """
    if not math.isfinite(value):
        raise ValueError(f"cannot format {value!r}")
    if decimals is not None:
        if decimals < 0:
            raise ValueError("decimals must be >= 0")
        return _with_sign(value, _dutch_digits(value, decimals, strip_zeros=False))
    if float(value).is_integer():
        return _with_sign(value, _dutch_digits(value, 0, strip_zeros=False))
    places = 1 if abs(value) >= 10 else 2
    return _with_sign(value, _dutch_digits(value, places, strip_zeros=True))


def _format_money(value: float, decimals: int | None) -> str:
    """"€ 35,9 miljoen" from 1 million (one decimal), "€ 4,4 miljard" from 1 billion, else "€ 9.500"."""
    for threshold, word in ((1e9, "miljard"), (1e6, "miljoen")):
        if abs(value) >= threshold:
            scaled = value / threshold
            digits = _dutch_digits(scaled, 1 if decimals is None else decimals, strip_zeros=decimals is None)
            return f"€ {_with_sign(scaled, digits)} {word}"
    if decimals is None:
        decimals = 0 if float(value).is_integer() else 2  # cents are written with two digits
    return f"€ {format_number(value, decimals)}"


def format_quantity(value: float, unit: str, decimals: int | None = None) -> str:
    """"39,9%", "€ 35,9 miljoen", "4x", "8,9 fte", "16 uur", "0,5 procentpunt"; "" gives a plain count."""
    if unit == "€":
        return _format_money(value, decimals)
    number = format_number(value, decimals)
    if unit == "%":
        return f"{number}%"
    if unit == "x":
        return f"{number}x"
    if unit in ("fte", "uur", "jaar", "procentpunt"):
        return f"{number} {unit}"
    if unit == "":
        return number
    raise ValueError(f"unknown unit {unit!r}")


def same_value(a: float, b: float, rel: float = 0.005) -> bool:
    """Equal for audit purposes: exact when both are whole numbers (2024 is not 2025, 9.500 is not
    9.501), otherwise within a relative tolerance (3,33 and a third are the same)."""
    if not (math.isfinite(a) and math.isfinite(b)):
        return False
    if float(a).is_integer() and float(b).is_integer():
        return a == b
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-9)
