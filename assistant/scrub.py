"""Personal data scrubbing for what we store (audit log, feedback comments) and for request ids.

The text is normalised first (Unicode NFKC, zero-width and other invisible format characters
removed, every kind of space folded to one space), so that `1112\u200b22333` or `123  456  782`
cannot slip past the patterns. Then recognised and replaced by a placeholder:

* BSN (burgerservicenummer): 9 digits (or 8, an old number without its leading zero), optionally
  grouped with spaces, dots, slashes or hyphens, that pass the elfproef; any 8-9 digit number right
  after the words BSN / burgerservicenummer / sofinummer is scrubbed too, valid or not.
* e-mail addresses, also written out: `naam (at) domein.nl`, `naam [at] domein [punt] nl`.
* Dutch phone numbers: 0 + 9 digits (06-12345678, 06.12345678, 020 123 4567, (030) 123 45 67),
  +31 / 0031 forms, and 0800 / 0900 service numbers.
* IBAN (any case): two letters, two check digits and up to 30 letters or digits (spaces allowed),
  accepted when the ISO 13616 mod-97 check holds; Dutch IBANs (NL + 2 digits + 4 letters +
  10 digits) are scrubbed even with a wrong check digit.
* postcodes (1234 AB, 1234AB; letter pairs PostNL never issues and small Dutch words such as
  `2025 en` are left alone), street addresses (Stationsstraat 12a, Kerkplein 5-7) and dates of birth
  (a full date after `geboren`/`geboortedatum`, or any full date whose year makes it a plausible
  birth date of an adult: 1920 up to 15 years ago).

Numbers that are labour-market figures (9.500, 182.900, 3,5%, 2025, 2024-2027, Q2 2025, 1,2 mln)
are left alone: they are not 0-prefixed phone numbers, not IBANs, a 9-digit BSN must pass the
elfproef and a pair of years is never a BSN.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

BSN = "[BSN]"
EMAIL = "[E-MAIL]"
PHONE = "[TELEFOON]"
IBAN = "[IBAN]"
POSTCODE = "[POSTCODE]"
ADDRESS = "[ADRES]"
BIRTH_DATE = "[GEBOORTEDATUM]"
PLACEHOLDERS = (BSN, EMAIL, PHONE, IBAN, POSTCODE, ADDRESS, BIRTH_DATE)

# -- normalisation -------------------------------------------------------------------------------

_SPACES = re.compile(r"[^\S\n]+")  # every horizontal space (NBSP, thin space, tab, ...) -> one space
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def normalise(text: str) -> str:
    """NFKC, invisible format characters (zero-width space/joiner, soft hyphen, BOM) removed, runs of
    horizontal whitespace folded to one space. What is stored and what is matched."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return _SPACES.sub(" ", text)


# -- patterns ------------------------------------------------------------------------------------

_AT = r"(?:@|\s?[(\[{]\s?(?:at|apenstaartje)\s?[)\]}]\s?)"
_DOT = r"(?:\.|\s?[(\[{]\s?(?:dot|punt)\s?[)\]}]\s?)"
_EMAIL = re.compile(
    r"(?<![\w.+-])[\w.+-]+" + _AT + r"[\w-]+(?:" + _DOT + r"[\w-]+)*" + _DOT + r"[a-z]{2,}(?![\w-])",
    re.IGNORECASE,
)
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?=[ ]?[A-Z0-9])")
_IBAN_NL = re.compile(r"(?<![A-Za-z0-9])NL\s?\d{2}\s?[A-Z]{4}(?:\s?\d){10}(?!\d)", re.IGNORECASE)
_SEP = r"(?:[ ]?[./\-][ ]?|[ ])?"
# 9 digits in any grouping with single separators, or 8 digits (old BSN without its leading zero)
_BSN_CANDIDATE = re.compile(r"(?<![\d.,\-/])\d(?:" + _SEP + r"\d){7,8}(?![\d,]|[./\-]\d)")
_BSN_KEYWORD = re.compile(
    r"\b(?:bsn|burgerservicenummer|sofi-?nummer)(?:\s*(?:nummer|nr\.?|is|:|=|van))*\s*#?\s*"
    r"(\d(?:" + _SEP + r"\d){7,8})(?!\d)",
    re.IGNORECASE,
)
_YEAR_PAIR = re.compile(r"(?:19|20)\d\d ?[-/–] ?(?:19|20)\d\d")
_PHONE_SEP = r"[\s\-./]?"
_PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"(?:\+|00)\s?31[\s\-.]?(?:\(0\)[\s\-.]?)?\d(?:" + _PHONE_SEP + r"\d){8}"  # +31 6 12345678, 0031 20 1234567
    r"|\(0\d{1,3}\)[\s\-.]?\d(?:" + _PHONE_SEP + r"\d){5,7}"  # (020) 123 4567
    r"|0[89]00" + _PHONE_SEP + r"\d(?:" + _PHONE_SEP + r"\d){3}(?:(?:" + _PHONE_SEP + r"\d){3})?"  # 0800-1234
    r"|0[1-9](?:" + _PHONE_SEP + r"\d){8}"  # 06-12345678, 06.12345678, 020-1234567, 0301234567
    r")(?![\w]|[.,]\d)"
)
# Postcode: 4 digits (not starting with 0) and two letters; PostNL never uses F I O Q U Y, nor SA SD SS.
_POSTCODE = re.compile(r"(?<![\w.,\-/])([1-9]\d{3})( ?)([A-Za-z]{2})(?![\w])")
_POSTCODE_WORDS = {  # `2025 en`, `300 km`: small words and units after a number are not postcodes
    "en", "de", "te", "ze", "we", "je", "er", "na", "al", "ga", "ja", "ex", "pa", "ma", "kg", "km", "cm",
    "mm", "ha", "mb", "gb", "kb", "dl", "cl", "ml", "pk", "kw", "mw", "nl", "bv", "nv", "cv", "wk", "md",
}
_STREET_SUFFIX = (
    r"straat|laan|weg|plein|gracht|kade|singel|dijk|dreef|steeg|pad|hof|plantsoen|boulevard|allee|"
    r"burgwal|wal|haven|park"
)
# A street name (at least two letters before the suffix) and a house number of 1-4 digits with an
# optional letter or addition; the number is not a year, a decimal or a percentage.
_ADDRESS = re.compile(
    r"\b[A-Za-zÀ-ÿ'][A-Za-zÀ-ÿ'\-]{1,40}(?:" + _STREET_SUFFIX + r")"
    r" (?!(?:19|20)\d\d\b)(\d{1,4})(?:(?:[ ]?[-/][ ]?\d{1,4})|(?:[ ]?[A-Za-z](?![A-Za-z])))?(?![\d%]|[.,]\d| ?(?:procent|jaar|keer|maand|week|dag|uur|euro|mln|miljoen|duizend|banen|vacatures))",
    re.IGNORECASE,
)
_MONTHS = (
    r"januari|februari|maart|april|mei|juni|juli|augustus|september|oktober|november|december|"
    r"jan|feb|mrt|apr|jun|jul|aug|sep|sept|okt|nov|dec"
)
_DATE_NUMERIC = re.compile(
    r"(?<![\d.,\-/])(?:(\d{1,2})[-/. ](\d{1,2})[-/. ]((?:19|20)\d\d)|((?:19|20)\d\d)-(\d{1,2})-(\d{1,2}))(?![\d]|[.,\-/]\d)"
)
_DATE_WRITTEN = re.compile(r"\b(\d{1,2}) (?:" + _MONTHS + r")\.? ((?:19|20)\d\d)\b", re.IGNORECASE)
_BIRTH_CONTEXT = re.compile(
    r"\b(?:geboren|geb\.?|geboortedatum|geboortejaar|geboortedag|date of birth|dob)\b(?:\s*(?:op|in|:|is|de))*\s*$",
    re.IGNORECASE,
)
_BIRTH_YEAR_ONLY = re.compile(
    r"\b(?:geboren in|geboortejaar|geboortejaar is|geboortejaar:)\s*((?:19|20)\d\d)\b", re.IGNORECASE
)
ADULT_AGE = 15  # a full date with a year up to this many years ago is treated as a birth date


def elfproef(digits: str) -> bool:
    """The BSN check: sum of digit * weight (9..2, last digit -1) is a multiple of 11 and not 0."""
    if not digits.isdigit() or len(digits) not in (8, 9):
        return False
    digits = digits.zfill(9)
    total = sum(int(d) * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True)) - int(digits[8])
    return total % 11 == 0 and int(digits) != 0


def iban_valid(text: str) -> bool:
    """ISO 13616 mod-97 check of an IBAN (spaces ignored, any case)."""
    compact = re.sub(r"\s", "", text).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}", compact):
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def _scrub_ibans(text: str) -> str:
    """Foreign IBANs: from each 'CCdd' start, the longest run (single spaces allowed) that passes mod-97.
    Matched on an ASCII-uppercased copy (same length), so `de89 3704 ...` is found too."""
    upper = text.translate(_ASCII_UPPER)
    out: list[str] = []
    position = 0
    for start in _IBAN_START.finditer(upper):
        if start.start() < position:
            continue
        run = re.match(r"[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){0,30}", upper[start.start():])
        assert run is not None
        candidate = run.group(0)
        for end in range(len(candidate), 14, -1):
            piece = candidate[:end]
            after = upper[start.start() + end : start.start() + end + 1]
            if piece.endswith(" ") or (after and after.isalnum()):
                continue
            if iban_valid(piece):
                out.append(text[position : start.start()])
                out.append(IBAN)
                position = start.start() + end
                break
    out.append(text[position:])
    return "".join(out)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _bsn(match: re.Match[str]) -> str:
    value = match.group(0)
    if _YEAR_PAIR.fullmatch(value):  # 2024-2027, 2019/2023: a period, never a BSN
        return value
    return BSN if elfproef(_digits(value)) else value


def _postcode(match: re.Match[str]) -> str:
    letters = match.group(3)
    upper = letters.upper()
    if set(upper) & set("FIOQUY") or upper in ("SA", "SD", "SS"):
        return match.group(0)
    if match.group(2) and letters.lower() in _POSTCODE_WORDS:
        return match.group(0)
    return POSTCODE


def _plausible_birth(day: int, month: int, year: int, today: dt.date) -> bool:
    try:
        dt.date(year, month, day)
    except ValueError:
        return False
    return 1920 <= year <= today.year - ADULT_AGE


def _dates(text: str, today: dt.date) -> str:
    def numeric(match: re.Match[str]) -> str:
        if match.group(1):
            day, month, year = int(match.group(1)), int(match.group(2)), int(match.group(3))
        else:
            year, month, day = int(match.group(4)), int(match.group(5)), int(match.group(6))
        birth = _BIRTH_CONTEXT.search(text[max(0, match.start() - 40) : match.start()])
        try:
            dt.date(year, month, day)
        except ValueError:
            return match.group(0)
        return BIRTH_DATE if birth or _plausible_birth(day, month, year, today) else match.group(0)

    def written(match: re.Match[str]) -> str:
        birth = _BIRTH_CONTEXT.search(text[max(0, match.start() - 40) : match.start()])
        year = int(match.group(2))
        return BIRTH_DATE if birth or 1920 <= year <= today.year - ADULT_AGE else match.group(0)

    text = _DATE_NUMERIC.sub(numeric, text)
    text = _DATE_WRITTEN.sub(written, text)
    return _BIRTH_YEAR_ONLY.sub(lambda m: m.group(0)[: m.start(1) - m.start(0)] + BIRTH_DATE, text)


def scrub(text: str | None, today: dt.date | None = None) -> str:
    """The normalised text with BSNs, e-mail addresses, phone numbers, IBANs, postcodes, street
    addresses and dates of birth replaced by placeholders."""
    if not text:
        return text or ""
    text = normalise(text)
    text = _EMAIL.sub(EMAIL, text)
    text = _IBAN_NL.sub(IBAN, text)
    text = _scrub_ibans(text)
    text = _dates(text, today or dt.date.today())  # before BSN/phone: 12-05-1985 is a date, not digits
    text = _BSN_KEYWORD.sub(lambda m: m.group(0)[: m.start(1) - m.start(0)] + BSN, text)
    text = _PHONE.sub(PHONE, text)
    text = _BSN_CANDIDATE.sub(_bsn, text)
    text = _ADDRESS.sub(ADDRESS, text)
    text = _POSTCODE.sub(_postcode, text)
    return text


def contains_personal_data(text: str) -> bool:
    """True when scrubbing would replace something (normalisation alone does not count)."""
    return scrub(text) != normalise(text or "")


def identifier_has_personal_data(value: str) -> bool:
    """For ids (`req-111222333`, `klant.0612345678`): a separator next to a letter reads as a space (so
    the number stands alone), one between digits stays (`2025-06-30-17` is not a BSN); then the same checks."""
    return contains_personal_data(re.sub(r"(?<!\d)[._:\-]+|[._:\-]+(?!\d)", " ", value))
