"""Cleaning: normalise characters and drop running headers, footers and page numbers.

Headers and footers are found, not listed: a line in the top or bottom zone of a page whose shape
(digits folded) recurs on many pages is page furniture. Nothing here knows the shipped documents.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

from ingest.models import Line, Page

LIGATURES = {"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"}
SPACE_LIKE = re.compile(r"[\u00a0\u2000-\u200a\u202f\u205f\u3000\t]")
INVISIBLE = re.compile(r"[\u00ad\u200b-\u200d\u2060\ufeff]")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
MULTISPACE = re.compile(r" {2,}")
PAGE_NUMBER = re.compile(
    r"^(?:pagina|page|blz\.?|p\.)?\s*[-–]?\s*\d{1,4}\s*(?:(?:van|of|/)\s*\d{1,4})?\s*[-–]?$", re.IGNORECASE
)
ZONE = 3  # lines at the top and at the bottom of a page that may be furniture


def normalise_text(text: str) -> str:
    """Unicode NFC, ligatures expanded, odd spaces and invisible characters removed (NFC last, so
    a combining accent that stood behind an invisible character joins its letter: idempotent)."""
    for ligature, plain in LIGATURES.items():
        text = text.replace(ligature, plain)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = INVISIBLE.sub("", text)
    text = SPACE_LIKE.sub(" ", text)
    text = CONTROL.sub(" ", text)
    return unicodedata.normalize("NFC", text)


def _shape(line: str) -> str:
    """A line's shape for recurrence: digits folded, case and spacing ignored."""
    return re.sub(r"\d+", "#", MULTISPACE.sub(" ", line.strip().lower()))


def _zone_indices(lines: list[str]) -> list[int]:
    content = [i for i, line in enumerate(lines) if line.strip()]
    return sorted(set(content[:ZONE] + content[-ZONE:]))


def find_furniture(pages: list[list[str]]) -> set[str]:
    """Shapes of lines that recur in the top/bottom zones of at least half the pages (min 2)."""
    if len(pages) < 2:
        return set()
    counts: Counter[str] = Counter()
    for lines in pages:
        counts.update({_shape(lines[i]) for i in _zone_indices(lines)})
    threshold = max(2, (len(pages) + 1) // 2)
    return {shape for shape, count in counts.items() if count >= threshold and shape}


def clean_pages(pages: list[Page]) -> list[Line]:
    """Normalised lines of all pages, with running headers, footers and page numbers removed."""
    split = [normalise_text(page.text).split("\n") for page in pages]
    furniture = find_furniture(split)
    many_pages = len(pages) >= 2
    out: list[Line] = []
    for page, lines in zip(pages, split, strict=True):
        zone = set(_zone_indices(lines))
        for index, raw in enumerate(lines):
            stripped = raw.strip()
            shape = _shape(raw)
            # Distinctive furniture lines are dropped anywhere: extraction sometimes leaves an old
            # page's footer in the middle of the next page's text.
            if shape in furniture and (index in zone or len(shape) >= 15):
                continue
            if index in zone and many_pages and PAGE_NUMBER.match(stripped) is not None:
                continue
            indented = raw[:1] == " " and bool(stripped)
            out.append(Line(text=MULTISPACE.sub(" ", stripped), page=page.number, indented=indented))
        # A blank line at a page break lets structure decide whether a paragraph continues.
        out.append(Line(text="", page=page.number, page_break=True))
    return out
