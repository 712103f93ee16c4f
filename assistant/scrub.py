"""Personal data scrubbing for what we store (audit log, feedback comments).

Recognised and replaced by a placeholder:

* BSN (burgerservicenummer): 9 digits (or 8, an old number without its leading zero), optionally
  grouped with spaces, dots or hyphens, that pass the elfproef; any 8-9 digit number right after
  the words BSN / burgerservicenummer / sofinummer is scrubbed too, valid or not.
* e-mail addresses.
* Dutch phone numbers: 0 + 9 digits (06-12345678, 020 123 4567, (030) 123 45 67), +31 / 0031
  forms, and 0800 / 0900 service numbers.
* IBAN: two letters, two check digits and up to 30 letters or digits (spaces allowed every four),
  accepted when the ISO 13616 mod-97 check holds; Dutch IBANs (NL + 2 digits + 4 letters +
  10 digits) are scrubbed even with a wrong check digit.

Numbers that are labour-market figures (182.900, 3,5%, 2025, 1,2 mln) are left alone: they are not
0-prefixed phone numbers, not IBANs, and a 9-digit BSN must pass the elfproef.
"""

from __future__ import annotations

import re

BSN = "[BSN]"
EMAIL = "[E-MAIL]"
PHONE = "[TELEFOON]"
IBAN = "[IBAN]"

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}(?![\w-])", re.IGNORECASE)
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?=[ ]?[A-Z0-9])")
_IBAN_NL = re.compile(r"(?<![A-Za-z0-9])NL\s?\d{2}\s?[A-Z]{4}(?:\s?\d){10}(?!\d)", re.IGNORECASE)
_SEP = r"[ .\-]?"
# 9 digits in any grouping with single separators, or 8 digits (old BSN without its leading zero)
_BSN_CANDIDATE = re.compile(r"(?<![\d.,\-])\d(?:" + _SEP + r"\d){7,8}(?![\d,]|\.\d)")
_BSN_KEYWORD = re.compile(
    r"\b(?:bsn|burgerservicenummer|sofi-?nummer)(?:\s*(?:nummer|nr\.?|is|:|=|van))*\s*#?\s*"
    r"(\d(?:" + _SEP + r"\d){7,8})(?!\d)",
    re.IGNORECASE,
)
_PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"(?:\+|00)\s?31[\s\-]?(?:\(0\)[\s\-]?)?\d(?:[\s\-]?\d){8}"  # +31 6 12345678, 0031 20 1234567
    r"|\(0\d{1,3}\)[\s\-]?\d(?:[\s\-]?\d){5,7}"  # (020) 123 4567
    r"|0[89]00[\s\-]?\d(?:[\s\-]?\d){3}(?:(?:[\s\-]?\d){3})?"  # 0800-1234, 0900-1234567
    r"|0[1-9](?:[\s\-]?\d){8}"  # 06-12345678, 020-1234567, 0301234567
    r")(?![\w])"
)


def elfproef(digits: str) -> bool:
    """The BSN check: sum of digit * weight (9..2, last digit -1) is a multiple of 11 and not 0."""
    if not digits.isdigit() or len(digits) not in (8, 9):
        return False
    digits = digits.zfill(9)
    total = sum(int(d) * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True)) - int(digits[8])
    return total % 11 == 0 and int(digits) != 0


def iban_valid(text: str) -> bool:
    """ISO 13616 mod-97 check of an IBAN (spaces ignored)."""
    compact = re.sub(r"\s", "", text).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}", compact):
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def _scrub_ibans(text: str) -> str:
    """Foreign IBANs: from each 'CCdd' start, the longest run (single spaces allowed) that passes mod-97."""
    out: list[str] = []
    position = 0
    for start in _IBAN_START.finditer(text):
        if start.start() < position:
            continue
        run = re.match(r"[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){0,30}", text[start.start():])
        assert run is not None
        candidate = run.group(0)
        for end in range(len(candidate), 14, -1):
            piece = candidate[:end]
            after = text[start.start() + end : start.start() + end + 1]
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


def scrub(text: str | None) -> str:
    """The text with BSNs, e-mail addresses, phone numbers and IBANs replaced by placeholders."""
    if not text:
        return text or ""
    text = _EMAIL.sub(EMAIL, text)
    text = _IBAN_NL.sub(IBAN, text)
    text = _scrub_ibans(text)
    text = _BSN_KEYWORD.sub(lambda m: m.group(0)[: m.start(1) - m.start(0)] + BSN, text)
    text = _PHONE.sub(PHONE, text)
    text = _BSN_CANDIDATE.sub(lambda m: BSN if elfproef(_digits(m.group(0))) else m.group(0), text)
    return text


def contains_personal_data(text: str) -> bool:
    """True when scrubbing would change the text."""
    return scrub(text) != text
