"""Figures in the sources: every number with its unit, what it measures, period, region, kind and
provenance, extracted at ingest and stored with the index generation (figures.jsonl).

The calculation planner (assistant/calculate.py) chooses operands by these fields, and trainers can
query them (`marktwijzer figures vacatures --region Amersfoort`). Extraction is deliberately plain:
the measure is the content words standing next to the number inside its clause, the period is the
year (or quarter) written in the same sentence, the region a place named in the sentence or else the
source's single region.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel

from ingest.lexical import tokenize
from ingest.numbers import Quantity, find_quantities
from ingest.sentences import split_passage

log = logging.getLogger(__name__)

FIGURES_FILE = "figures.jsonl"
MEASURE_WORDS = 4  # content words on each side of a number that say what it measures
CLAUSE_BREAK = re.compile(r"[;:()]|,\s|\s[–-]\s|\b(?:en|of|maar|terwijl|waarvan|tegen)\b")
CHANGE_WORD = (
    r"(?:groei\w*|gegroeid|stijg\w*|steeg|gestegen|dal\w*|daal\w*|gedaald|krimp\w*|gekrompen|"
    r"toename|toegenomen|afname|afgenomen|neemt|nam|verandering)"
)
# "groeit met", "nam in 2024 met", "een daling van", "gestegen van": a change; "met" alone is a preposition.
CHANGE_BEFORE = re.compile(
    r"\b" + CHANGE_WORD + r"\b(?:\s+[^\s.;]+){0,8}?\s+(?:met|van)\s+(?:ruim\s+|bijna\s+|circa\s+|ongeveer\s+)?$", re.I
)


class FigureRecord(BaseModel):
    value: float
    text: str  # as written in the source
    unit: str
    kind: str  # "level", "change", "share", "ratio", "money"
    measure: list[str]  # stemmed content words around the number
    period: list[int]  # years in the sentence
    quarters: list[int] = []
    region: list[str]  # places named in the sentence, else the source's single region
    source_id: str
    page: int
    chunk_id: str
    sentence: int  # order of the sentence in the chunk
    sentence_text: str
    # A cell of a table (CSV/XLSX factsheet or a table found in a PDF): where it stands. Empty otherwise.
    table: str = ""
    row: str = ""
    column: str = ""


def figure_kind(quantity: Quantity, before: str) -> str:
    if quantity.sign or CHANGE_BEFORE.search(before[-120:]):
        return "change"
    if quantity.unit in ("%", "procentpunt"):
        return "share"
    if quantity.unit == "x" or quantity.kind == "multiplier":
        return "ratio"
    if quantity.unit == "€":
        return "money"
    return "level"


def measure_terms(sentence: str, quantity: Quantity) -> list[str]:
    """Stemmed content words next to the number, within its clause: after it first ("16.600
    werknemers"), then before it ("vacatures ... tot 1.750")."""
    after = CLAUSE_BREAK.split(sentence[quantity.end :], maxsplit=1)[0]
    before = CLAUSE_BREAK.split(sentence[: quantity.start])[-1]
    words_after = [t for t in tokenize(after) if not t[0].isdigit()][:MEASURE_WORDS]
    words_before = [t for t in tokenize(before) if not t[0].isdigit()][-MEASURE_WORDS:]
    return list(dict.fromkeys(words_after + words_before))


def sentence_figures(sentence: str) -> list[tuple[Quantity, str, list[str]]]:
    """(quantity, kind, measure) for each quantity in one sentence (years, dates, quarters left out)."""
    found = []
    for quantity in find_quantities(sentence):
        if quantity.kind in ("year", "quarter", "date"):
            continue
        kind = figure_kind(quantity, sentence[: quantity.start])
        found.append((quantity, kind, measure_terms(sentence, quantity)))
    return found


def extract(
    chunk_id: str, text: str, section: str, source_id: str, page: int, places: Iterable[str], own_region: str | None
) -> list[FigureRecord]:
    places = list(places)
    records: list[FigureRecord] = []
    for span in split_passage(text, section):
        items = sentence_figures(span.text)
        if not items:
            continue
        periods = sorted({int(q.value) for q in find_quantities(span.text) if q.kind == "year"})
        quarters = sorted({int(q.value) for q in find_quantities(span.text) if q.kind == "quarter"})
        lowered = span.text.lower()
        named = [p for p in places if re.search(r"(?<!\w)" + re.escape(p.lower()) + r"(?!\w)", lowered)]
        region = named or ([own_region] if own_region else [])
        for quantity, kind, measure in items:
            records.append(FigureRecord(
                value=quantity.value, text=quantity.text, unit=quantity.unit, kind=kind, measure=measure,
                period=periods, quarters=quarters, region=region, source_id=source_id, page=page,
                chunk_id=chunk_id, sentence=span.order, sentence_text=span.text,
            ))
    return records


def save(records: list[FigureRecord], directory: Path) -> None:
    path = directory / FIGURES_FILE
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(record.model_dump_json() + "\n")
    tmp.replace(path)


def load(directory: Path) -> list[FigureRecord]:
    path = directory / FIGURES_FILE
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as handle:
        return [FigureRecord.model_validate_json(line) for line in handle if line.strip()]


def query(
    records: Iterable[FigureRecord],
    words: str = "",
    region: str | None = None,
    year: int | None = None,
    source_id: str | None = None,
    kind: str | None = None,
) -> list[FigureRecord]:
    """Figures whose measure (or sentence) holds the words, optionally for a region, year, source or kind;
    the best matches (most words in the measure itself) first."""
    wanted = [t for t in tokenize(words) if not t[0].isdigit()]
    scored = []
    for record in records:
        if region and not any(region.lower() == r.lower() for r in record.region):
            continue
        if year is not None and year not in record.period:
            continue
        if source_id and record.source_id != source_id:
            continue
        if kind and record.kind != kind:
            continue
        sentence_terms = set(tokenize(record.sentence_text))
        if wanted and not all(t in sentence_terms for t in wanted):
            continue
        scored.append((sum(t in record.measure for t in wanted), record))
    scored.sort(key=lambda pair: -pair[0])
    return [record for _, record in scored]
