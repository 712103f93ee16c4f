"""Extractive composition: the best sentences of the retrieved passages, each followed by [n].

No language model: sentences are taken verbatim from passages (so every number in them stands in a
cited passage), scored against the question, de-duplicated, and fragments that PDF extraction
mangled are never used.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from assistant.question import Intent, QuestionAnalysis
from assistant.retrieve import Passage
from ingest.lexical import tokenize

SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9‘'\"“(€•])")
NUMBER = re.compile(r"(?<![\w.,])[-+]?\d+(?:[.,]\d+)*(?:\s?%)?")
URL = re.compile(r"https?://\S+|www\.\S+")
TERMINAL = (".", "!", "?", ":", ";", ")", "’", "'", '"', "”")
MAX_SENTENCES = 4
MAX_CHARS = 750
MAX_LIST_ITEMS = 8


@dataclass
class Unit:
    """A sentence, bullet, caption or source line of one passage."""

    passage: Passage
    rank: int  # passage rank in retrieval
    order: int  # position within the passage
    text: str
    kind: str  # "sentence", "bullet", "caption", "source_line", "heading"
    terms: frozenset[str]
    score: float = 0.0


def split_units(passage: Passage, rank: int) -> list[Unit]:
    units: list[Unit] = []
    lines = passage.text.split("\n")
    for line_no, line in enumerate(lines):
        line = line.strip()
        if not line:
            continue
        if line_no == 0 and line == passage.section:
            kind_parts = [("heading", line)]
        elif line.startswith("•") or re.match(r"^\d{1,2}[.)]\s", line):
            kind_parts = [("bullet", line)]
        elif re.match(r"^(Afbeelding|Figuur|Tabel|Grafiek|Kaart)\s+\d", line, re.I):
            kind_parts = [("caption", line)]
        elif re.match(r"^(Bron|Bronnen)\s*:", line, re.I):
            kind_parts = [("source_line", line)]
        else:
            kind_parts = [("sentence", s.strip()) for s in SENTENCE_END.split(line) if s.strip()]
        for kind, text in kind_parts:
            units.append(Unit(passage, rank, len(units), text, kind, frozenset(tokenize(text))))
    return units


class SentenceQuality:
    """Rejects fragments that PDF extraction mangled: cut-off starts and ends, split words."""

    def __init__(self, vocabulary: Counter[str]) -> None:
        self.vocabulary = vocabulary

    def usable(self, unit: Unit) -> bool:
        text = URL.sub("", unit.text).strip()
        if unit.kind == "heading" or len(text) < 20 or len(re.findall(r"[^\W\d_]{2,}", text)) < 4:
            return False
        body = text.lstrip("•").strip()
        if body[:1].islower() and unit.kind != "bullet":
            return False  # starts mid-sentence
        if unit.kind == "sentence" and not body.endswith(TERMINAL):
            return False  # cut off at the end of a chunk or by a figure
        if re.search(r"\s[,.;:](?:\s|$)|\(\s*\)|\s-\s*$|^\W*-", body):
            return False  # "perifere regio ." / dangling dashes: words were lost
        for word in re.findall(r"[^\W\d_]+", body):
            if word.islower() and len(word) <= 5 and self.vocabulary[word.lower()] <= 1 and word not in COMMON_SHORT:
                return False  # a split word like "veili ngend"
        return not (body.count("(") != body.count(")"))


COMMON_SHORT = {"ook", "nog", "wel", "niet", "meer", "veel", "zich", "deze", "dit", "dat", "die", "naar", "voor", "maar", "want", "omdat"}


def idf_table(documents: list[str]) -> tuple[dict[str, float], Counter[str]]:
    """IDF per stemmed term over the passages, and raw word counts for the quality check."""
    df: Counter[str] = Counter()
    words: Counter[str] = Counter()
    for text in documents:
        df.update(set(tokenize(text)))
        words.update(w.lower() for w in re.findall(r"[^\W\d_]+", text))
    n = max(1, len(documents))
    return {term: math.log(1 + (n - count + 0.5) / (count + 0.5)) for term, count in df.items()}, words


def score_units(units: list[Unit], analysis: QuestionAnalysis, idf: dict[str, float]) -> None:
    terms = [t for t in analysis.terms if t in idf] or analysis.terms
    total = sum(idf.get(t, 1.0) for t in terms) or 1.0
    place_names = [p.name.lower() for p in analysis.places]
    years = [str(y) for y in analysis.years]
    figure = analysis.intent in (Intent.figure, Intent.trend, Intent.comparison)
    for unit in units:
        coverage = sum(idf.get(t, 1.0) for t in terms if t in unit.terms) / total
        score = coverage + 0.3 * unit.passage.score
        lowered = unit.text.lower()
        if figure and NUMBER.search(unit.text):
            score += 0.1
        if analysis.wants_percentage and ("%" in unit.text or "procent" in lowered):
            score += 0.1
        if years and any(y in unit.text for y in years):
            score += 0.15
        if place_names and any(name in lowered for name in place_names):
            score += 0.05
        if unit.kind in ("caption", "source_line"):
            score -= 0.2  # used only when nothing better says it
        unit.score = score


def coverage(unit: Unit, analysis: QuestionAnalysis, idf: dict[str, float]) -> float:
    terms = [t for t in analysis.terms if t in idf] or analysis.terms
    total = sum(idf.get(t, 1.0) for t in terms) or 1.0
    return sum(idf.get(t, 1.0) for t in terms if t in unit.terms) / total


def _near_duplicate(a: Unit, b: Unit) -> bool:
    if not a.terms or not b.terms:
        return a.text == b.text
    return len(a.terms & b.terms) / len(a.terms | b.terms) > 0.7


def select_units(
    units: list[Unit], analysis: QuestionAnalysis, quality: SentenceQuality, max_sentences: int = MAX_SENTENCES
) -> list[Unit]:
    """The best usable units, a cut list kept whole, compared places each represented."""
    usable = [u for u in units if quality.usable(u) or (u.kind in ("caption", "source_line") and _asks_for(u, analysis))]
    ranked = sorted(usable, key=lambda u: -u.score)
    if not ranked:
        return []
    best = ranked[0].score
    chosen: list[Unit] = []
    size = 0
    for unit in ranked:
        if len(chosen) >= max_sentences or size > MAX_CHARS:
            break
        if unit.score < max(0.45 * best, 0.25) or any(_near_duplicate(unit, other) for other in chosen):
            continue
        chosen.append(unit)
        size += len(unit.text)
    if analysis.intent is Intent.comparison:
        chosen = _cover_places(chosen, ranked, analysis)
    return _with_lists(chosen, units, quality)


def _asks_for(unit: Unit, analysis: QuestionAnalysis) -> bool:
    question = analysis.text.lower()
    if unit.kind == "caption":
        return bool(re.search(r"afbeelding|afb\b|figuur|tabel|grafiek|infographic", question))
    return bool(re.search(r"\bbron\b|van wie|wie maakt|afkomstig|wie levert", question))


def _cover_places(chosen: list[Unit], ranked: list[Unit], analysis: QuestionAnalysis) -> list[Unit]:
    for place in analysis.places:
        sources = set(place.covered_by)
        if not sources or any(u.passage.source_id in sources for u in chosen):
            continue
        best = next((u for u in ranked if u.passage.source_id in sources), None)
        if best is not None:
            chosen.append(best)
    return chosen


def _with_lists(chosen: list[Unit], units: list[Unit], quality: SentenceQuality) -> list[Unit]:
    """A lead-in that announces a list ("... bestaat uit:") brings its items; an item brings its lead-in."""
    result: list[Unit] = []
    seen: set[tuple[str, int]] = set()

    def add(unit: Unit) -> None:
        key = (unit.passage.chunk_id, unit.order)
        if key not in seen:
            seen.add(key)
            result.append(unit)

    by_passage: dict[str, list[Unit]] = {}
    for unit in units:
        by_passage.setdefault(unit.passage.chunk_id, []).append(unit)
    for unit in chosen:
        siblings = by_passage[unit.passage.chunk_id]
        if unit.kind == "bullet":
            lead = next((s for s in reversed(siblings[: unit.order]) if s.kind != "bullet"), None)
            if lead is not None and lead.text.rstrip().endswith(":") and quality.usable(lead):
                add(lead)
        add(unit)
        if unit.text.rstrip().endswith(":") or unit.kind == "bullet":
            following = [s for s in siblings[unit.order + 1 :]]
            items = []
            for sibling in following:
                if sibling.kind != "bullet":
                    break
                items.append(sibling)
            for item in items[:MAX_LIST_ITEMS]:
                add(item)
    return result
