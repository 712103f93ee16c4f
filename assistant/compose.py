"""Extractive composition: the best sentences of the retrieved passages, each followed by [n].

No language model: sentences are taken verbatim from passages (so every number in them stands in a
cited passage), scored against the question, de-duplicated, and fragments that PDF extraction
mangled are never used.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from collections import Counter
from dataclasses import dataclass

import numpy as np

from assistant.question import Intent, QuestionAnalysis
from assistant.retrieve import Passage
from ingest import terms
from ingest.lexical import tokenize
from ingest.sentences import split_passage

NUMBER = re.compile(r"(?<![\w.,])[-+]?\d+(?:[.,]\d+)*(?:\s?%)?")
URL = re.compile(r"https?://\S+|www\.\S+")
TERMINAL = (".", "!", "?", ":", ";", ")", "’", "'", '"', "”")
MAX_SENTENCES = 7
MAX_CHARS = 1300
MAX_LIST_ITEMS = 8
DENSE_WEIGHT = 0.6
SECONDARY = 0.7  # another passage joins when its best sentence scores this share of the best
MAX_PASSAGES = 4
NEIGHBOUR = 0.2
PRIMARY_FLOOR = 0.3
PASSAGE_RANK_BONUS = 0.1
EXPLAIN_FOLLOW = 4  # sentences after the best one that an explanation (procedure, advice) keeps


@dataclass
class Unit:
    """A sentence, bullet, caption or source line of one passage."""

    passage: Passage
    rank: int  # passage rank in retrieval
    order: int  # position within the passage
    text: str
    kind: str  # "sentence", "bullet", "caption", "source_line", "heading"
    terms: frozenset[str]
    vector: np.ndarray | None = None
    score: float = 0.0


def split_units(passage: Passage, rank: int, vectors: dict[int, np.ndarray] | None = None) -> list[Unit]:
    """The passage's units (same split as at ingest, so the stored sentence vectors line up)."""
    vectors = vectors or {}
    return [
        Unit(passage, rank, order, text, kind, terms, vectors.get(order))
        for order, text, kind, terms in _spans(passage.text, passage.section)
    ]


@lru_cache(maxsize=8192)
def _spans(text: str, section: str) -> tuple[tuple[int, str, str, frozenset[str]], ...]:
    """The split of one passage, computed once per process (passages recur across questions)."""
    spans = []
    for span in split_passage(text, section):
        clean = readable(span.text)
        spans.append((span.order, clean, span.kind, frozenset(tokenize(clean))))
    return tuple(spans)


# after a word or a percentage ("79%.2"): a percentage never continues with ".2"
FOOTNOTE_MARK = re.compile(r"(?<=[^\W\d_]{2}|\d%)([.!?])\d{1,3}(?=\s+[A-Z]|\s*$)")
KEY_FIGURE = re.compile(r"^[A-Z][^\W\d_]+(?: [^\W\d_]+){0,4}: [-+−]?(?:€ ?)?\d[\d.,]*%?\.$")
POINTER = re.compile(r"^(?:Lees|Kijk|Bekijk|Zie|Meer informatie|Klik)\b", re.IGNORECASE)


def readable(text: str) -> str:
    """Unit text as an adviser should read it: web addresses and footnote numbers that PDF
    extraction glued onto a sentence ("augustus.28 Deze ...", "... niet https://...") removed.
    Only digits are removed, never added, so the number audit still holds."""
    had_url = bool(URL.search(text))
    text = URL.sub(" ", text)
    text = FOOTNOTE_MARK.sub(r"\1", text)
    text = re.sub(r"\s{2,}", " ", text).strip()
    if had_url and not text.endswith(TERMINAL):
        # the footnote block was run into the sentence: keep its complete sentences only
        ends = [m.end() for m in re.finditer(r"[.!?](?=\s+[A-Z])", text)]
        if ends and ends[-1] >= 40:
            text = text[: ends[-1]]
    return text


class SentenceQuality:
    """Rejects fragments that PDF extraction mangled: cut-off starts and ends, split words."""

    def __init__(self, vocabulary: Counter[str]) -> None:
        self.vocabulary = vocabulary

    def usable(self, unit: Unit) -> bool:
        table = unit.passage.table
        if table is not None and unit.text.strip() in table.sentences:
            return True  # a table cell written as a sentence at ingest ("Drenthe: 17.900 werkzoekenden (2024).")
        return self._usable(unit.text, unit.kind)

    @lru_cache(maxsize=32768)  # noqa: B019  (one SentenceQuality per loaded index; bounded)
    def _usable(self, text: str, kind: str) -> bool:
        text = text.strip()
        if POINTER.match(text.lstrip("•").strip()):
            return False  # link lines ("Lees hier meer ...") say nothing themselves
        if KEY_FIGURE.match(text):
            return True  # "Werkloosheid: 3,4%." (an infographic's label and value, paired at ingest)
        words_needed, chars_needed = (2, 8) if kind == "bullet" else (4, 20)
        if kind == "heading" or len(text) < chars_needed or len(re.findall(r"[^\W\d_]{2,}", text)) < words_needed:
            return False
        glued = [m for m in GLUED_START.finditer(text) if m.group(1).lower() not in ABBREVIATIONS]
        if glued or re.match(r"^[A-Z]{3,}\s", text):
            return False  # a lost sentence start glued on, or a display heading run into the text
        body = text.lstrip("•").strip()
        if body[:1].islower() and kind != "bullet":
            return False  # starts mid-sentence
        if kind == "sentence" and not body.endswith(TERMINAL):
            return False  # cut off at the end of a chunk or by a figure
        if re.search(r"\s[,.;:](?:\s|$)|\(\s*\)|\s-\s*$|^\W*-", body):
            return False  # "perifere regio ." / dangling dashes: words were lost
        words = re.findall(r"[^\W\d_]+", body)
        for left, right in zip(words, words[1:]):
            rare = [w for w in (left, right) if w.islower() and self.vocabulary[w] <= 1 and w not in COMMON_SHORT]
            if len(rare) == 2 and min(len(left), len(right)) <= 5:
                return False  # a word split by extraction, like "veili ngend"
        unenumerated = re.sub(r"(?:^|\s)(?:\d{1,2}|[a-z])\)", " ", body)  # "1) ... 2) ..." is a list, not a lost "("
        return unenumerated.count("(") == unenumerated.count(")")


GLUED_START = re.compile(r"([^\W\d_]{4,})\.\s+[a-z]")
# "bijv. pensionering" is an abbreviation, not a sentence end followed by a lost sentence start.
ABBREVIATIONS = frozenset({"bijv", "resp", "excl", "incl", "ongev", "nvdr", "sept", "febr"})  # 4+ letters, as matched

COMMON_SHORT = {"ook", "nog", "wel", "niet", "meer", "veel", "zich", "deze", "dit", "dat", "die", "naar", "voor", "maar", "want", "omdat"}


class Idf(dict):
    """IDF per stemmed term, with the largest value kept: a word the corpus never uses weighs that
    much, and finding the maximum of tens of thousands of values per sentence scored cost more than
    the scoring itself."""

    def __init__(self, values: dict[str, float]) -> None:
        super().__init__(values)
        self.unknown = max(values.values(), default=1.0)


def unknown_weight(idf: dict[str, float]) -> float:
    """The weight of a term the corpus never uses: the largest IDF."""
    return idf.unknown if isinstance(idf, Idf) else max(idf.values(), default=1.0)


def idf_from(stats: terms.TermStats) -> tuple[Idf, Counter[str]]:
    """IDF per stemmed term over the passages, and raw word counts for the quality check, from the
    generation's term statistics (`ingest/terms.py`)."""
    n = max(1, stats.passages)
    idf = Idf({term: math.log(1 + (n - count + 0.5) / (count + 0.5)) for term, count in stats.document_frequency.items()})
    return idf, Counter(stats.words)


@lru_cache(maxsize=16384)
def _word_stems(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The words and numbers of a sentence with the stem of each (sentences recur across questions)."""
    words = tuple(re.findall(r"\d+(?:[.,]\d+)*%?|[^\W\d_]+", text))
    return words, tuple((tokenize(w) or [""])[0] for w in words)


def number_near_term(text: str, terms: list[str]) -> bool:
    """'9.500 vacatures', 'vacatures: 9.500': a count stands next to what the question counts."""
    words, stems = _word_stems(text)
    for i, word in enumerate(words):
        if word[0].isdigit() and not re.fullmatch(r"(19|20)\d\d", word):
            window = stems[max(0, i - 3) : i + 4]
            if any(t in window for t in terms):
                return True
    return False


def _dense_similarity(units: list[Unit], query_vector: np.ndarray | None) -> list[float]:
    """e5 similarity of each unit to the question, min-max scaled over the candidates (e5 scores bunch)."""
    if query_vector is None:
        return [0.0] * len(units)
    raw = [float(np.dot(u.vector, query_vector)) if u.vector is not None else None for u in units]
    present = [r for r in raw if r is not None]
    if not present:
        return [0.0] * len(units)
    # Units too short to embed at ingest ("Werkloosheid: 3,4%.") take their passage's mean.
    by_passage: dict[str, list[float]] = {}
    for unit, value in zip(units, raw, strict=True):
        if value is not None:
            by_passage.setdefault(unit.passage.chunk_id, []).append(value)
    raw = [
        value if value is not None else (float(np.mean(by_passage[u.passage.chunk_id])) if u.passage.chunk_id in by_passage else None)
        for u, value in zip(units, raw, strict=True)
    ]
    low, high = min(present), max(present)
    spread = (high - low) or 1.0
    return [0.0 if r is None else (r - low) / spread for r in raw]


def score_units(
    units: list[Unit], analysis: QuestionAnalysis, idf: dict[str, float], query_vector: np.ndarray | None = None
) -> None:
    terms = [t for t in analysis.terms if t in idf] or analysis.terms
    total = sum(idf.get(t, 1.0) for t in terms) or 1.0
    place_names = [p.name.lower() for p in analysis.places]
    years = [str(y) for y in analysis.years]
    figure = analysis.intent in (Intent.figure, Intent.trend, Intent.comparison)
    section_terms: dict[str, frozenset[str]] = {}
    dense = _dense_similarity(units, query_vector)
    for unit, similarity in zip(units, dense, strict=True):
        context = section_terms.setdefault(unit.passage.chunk_id, frozenset(tokenize(unit.passage.section_path)))
        own = sum(idf.get(t, 1.0) for t in terms if t in unit.terms)
        inherited = sum(idf.get(t, 1.0) for t in terms if t in context and t not in unit.terms)
        score = (own + 0.5 * inherited) / total + 0.4 * unit.passage.score + DENSE_WEIGHT * similarity
        lowered = unit.text.lower()
        if figure and NUMBER.search(unit.text):
            score += 0.05
            if number_near_term(unit.text, terms):
                score += 0.15
        if analysis.wants_percentage and ("%" in unit.text or "procent" in lowered):
            score += 0.1
        if years and any(y in unit.text for y in years):
            score += 0.15
        if place_names and any(name in lowered for name in place_names):
            score += 0.2
        if unit.kind in ("caption", "source_line"):
            score -= 0.2  # used only when nothing better says it
        score += PASSAGE_RANK_BONUS * max(0, 3 - unit.rank) / 3  # the best passages answer most often
        unit.score = score


@lru_cache(maxsize=262144)
def has_term(term: str, terms: frozenset[str]) -> bool:
    """The stem, or the same word misspelt or inflected: a shared prefix of at least three
    quarters of the longer word ('vacatuer' / 'vacatur'). Not a compound's first part ('vertrek' is
    not 'vertrekpunt'): unknown compounds are split into known words instead (features.split_compounds)."""
    if term in terms:
        return True
    if len(term) < 5 or term[0].isdigit():
        return False
    for other in terms:
        shortest = min(len(term), len(other))
        if shortest >= 5 and other[:5] == term[:5]:
            common = 5
            while common < shortest and other[common] == term[common]:
                common += 1
            if common >= max(5, 0.75 * max(len(term), len(other))):
                return True
    return False


def coverage(unit: Unit, analysis: QuestionAnalysis, idf: dict[str, float], terms: list[str] | None = None) -> float:
    """Share of the question's topic weight (of `terms`, default all its terms) a unit carries;
    words the corpus never uses weigh most."""
    terms = analysis.terms if terms is None else terms
    unknown = unknown_weight(idf)
    total = sum(idf.get(t, unknown) for t in terms) or 1.0
    return sum(idf.get(t, unknown) for t in terms if has_term(t, unit.terms)) / total


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
    # The passage that answers best leads; others join only when nearly as good (or for comparisons).
    passage_score: dict[str, float] = {}
    for unit in ranked:
        passage_score.setdefault(unit.passage.chunk_id, unit.score)
    primary = ranked[0].passage.chunk_id
    chosen: list[Unit] = []
    size = 0
    passages_used: set[str] = set()
    for unit in ranked:
        if len(chosen) >= max_sentences or size > MAX_CHARS:
            break
        pid = unit.passage.chunk_id
        if pid != primary and passage_score[pid] < SECONDARY * best:
            continue
        if pid not in passages_used and len(passages_used) >= MAX_PASSAGES:
            continue
        floor = PRIMARY_FLOOR * best if pid == primary else SECONDARY * best
        if unit.score < max(floor, 0.25) or any(_near_duplicate(unit, other) for other in chosen):
            continue
        chosen.append(unit)
        passages_used.add(pid)
        size += len(unit.text)
    chosen = _with_neighbours(chosen, usable, best, follow=EXPLAIN_FOLLOW if analysis.intent in EXPLAINING else 1)
    if analysis.intent is Intent.comparison:
        chosen = _cover_places(chosen, ranked, analysis)
        chosen = _cover_sides(chosen, ranked, analysis)
    chosen = _with_antecedents(chosen, usable)
    return _with_lists(chosen, units, quality)


def select_short(
    units: list[Unit], candidates: list[Unit], analysis: QuestionAnalysis, quality: SentenceQuality,
    params: dict[str, float],
) -> list[Unit]:
    """The lead sentence (highest learned score), then at most `max_extra` more that score at least
    `extra_ratio` of it within `max_words`; compared places and sides each represented; an
    anaphoric sentence brings its antecedent, a list lead-in its items. The settings are chosen on
    training folds (assistant/learn.py) and shipped with the ranker."""
    usable = [u for u in units if quality.usable(u) or (u.kind in ("caption", "source_line") and _asks_for(u, analysis))]
    ranked = sorted(usable, key=lambda u: -u.score)
    if not ranked:
        return []
    # A unit longer than the whole word budget (a long bullet paragraph) leads only when no shorter
    # one scores `extra_ratio` of it (good enough to be added, so good enough to lead instead).
    budget, ratio = params["max_words"], params["extra_ratio"]
    short = [u for u in ranked if len(u.text.split()) <= budget and u.score >= ratio * ranked[0].score]
    if short and short[0] is not ranked[0]:
        ranked = [short[0], *(u for u in ranked if u is not short[0])]
    lead = ranked[0]
    chosen = [lead]
    words = len(lead.text.split())
    max_extra, max_words = int(params["max_extra"]), budget
    for unit in ranked[1:]:
        if len(chosen) > max_extra or unit.score < ratio * lead.score:
            break
        if any(_near_duplicate(unit, other) for other in chosen) or words + len(unit.text.split()) > max_words:
            continue
        chosen.append(unit)
        words += len(unit.text.split())
    if params.get("follow_anaphora"):
        chosen = _with_continuations(chosen, usable, max_words)
    if analysis.intent is Intent.comparison:
        chosen = _cover_places(chosen, ranked, analysis)
        chosen = _cover_sides(chosen, ranked, analysis)
    chosen = _with_antecedents(chosen, usable)
    # A lead followed directly by a list ("... de maatregelen aangekondigd ..." + bullets) brings
    # the list when the question asks for one (a procedure, "welke ...").
    lists = analysis.intent is Intent.procedure or bool(re.match(r"\s*welke\b", analysis.original, re.I))
    return _with_lists(chosen, units, quality, follow_lead=lead if lists else None)


ANAPHORA = re.compile(r"^(?:Daarmee|Dit|Deze|Dat|Daardoor|Hierdoor|Hiermee|Daarnaast|Daarbij|Zij|Ze|Het gaat|Ook|Bovendien|Daarom|Toch|Daarna|Vervolgens|Hierbij|Denk hierbij|Desondanks|Wel)\b")


EXPLAINING = (Intent.procedure, Intent.advice, Intent.definition, Intent.general)


def _with_neighbours(chosen: list[Unit], usable: list[Unit], best: float, follow: int = 1) -> list[Unit]:
    """Context for the best sentence: the one after it often completes it ("Daarmee groeit ... tot
    182.900"), and one that starts with "Daarmee"/"Dit" needs the one before it to make sense."""
    if not chosen:
        return chosen
    lead = chosen[0]
    same = {u.order: u for u in usable if u.passage.chunk_id == lead.passage.chunk_id}
    result = list(chosen)
    for step in range(1, follow + 1):
        following = same.get(lead.order + step)
        if following is None or following.score < NEIGHBOUR * best:
            break
        if following not in result:
            result.append(following)
    return result


def _with_antecedents(chosen: list[Unit], usable: list[Unit]) -> list[Unit]:
    """Any chosen sentence that starts with "Dat"/"Daarmee"/... brings the sentence it refers back to."""
    by_key = {(u.passage.chunk_id, u.order): u for u in usable}
    result = list(chosen)
    for unit in result:  # grows while we walk it: "Daarmee ..." <- "Dat komt neer op ..." <- the figure
        previous = by_key.get((unit.passage.chunk_id, unit.order - 1))
        if previous is not None and ANAPHORA.match(unit.text) and not any(previous is r for r in result):
            result.append(previous)
    return result


def _with_continuations(chosen: list[Unit], usable: list[Unit], max_words: float) -> list[Unit]:
    """A chosen sentence whose next sentence refers back to it and carries a number ("... 600
    werknemersbanen." + "Dat komt neer op een afname van ruim 2%") brings that sentence while the
    word budget allows: the second half of one statement."""
    by_key = {(u.passage.chunk_id, u.order): u for u in usable}
    result = list(chosen)
    words = sum(len(u.text.split()) for u in result)
    for unit in chosen:
        following = by_key.get((unit.passage.chunk_id, unit.order + 1))
        if (following is None or any(following is r for r in result) or not ANAPHORA.match(following.text)
                or not NUMBER.search(following.text) or words + len(following.text.split()) > max_words):
            continue
        result.append(following)
        words += len(following.text.split())
    return result


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
        theirs = [u for u in ranked if u.passage.source_id in sources]
        on_topic = [u for u in theirs if any(t in u.terms for t in analysis.terms if not t[0].isdigit())]
        with_number = [u for u in on_topic if NUMBER.search(u.text)]
        best = (with_number or on_topic or theirs or [None])[0]
        if best is not None:
            chosen.append(best)
    return chosen


def _cover_sides(chosen: list[Unit], ranked: list[Unit], analysis: QuestionAnalysis) -> list[Unit]:
    """Each alternative of a comparison ('industrie of onderwijs') gets its best sentence, one with a
    number when the question weighs figures."""
    if not ranked:
        return chosen
    floor = 0.5 * ranked[0].score
    for side in analysis.sides:
        having = [u for u in ranked if _mentions(u, side) and u.score >= floor]
        with_number = [u for u in having if NUMBER.search(u.text)]
        covered = [u for u in chosen if _mentions(u, side)]
        if covered and (not with_number or any(NUMBER.search(u.text) for u in covered)):
            continue
        best = (with_number or having or [None])[0]
        if best is not None and best not in chosen:
            chosen.append(best)
    return chosen


def _mentions(unit: Unit, stem: str) -> bool:
    """The unit names the stem, also inside a compound ('onderwijsbanen')."""
    return stem in unit.terms or any(t.startswith(stem) or t.endswith(stem) for t in unit.terms if len(stem) >= 5)


def _with_lists(chosen: list[Unit], units: list[Unit], quality: SentenceQuality, follow_lead: Unit | None = None) -> list[Unit]:
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
        announces = unit is follow_lead and unit.order + 1 < len(siblings) and siblings[unit.order + 1].kind == "bullet"
        if unit.text.rstrip().endswith(":") or unit.kind == "bullet" or announces:
            following = [s for s in siblings[unit.order + 1 :]]
            items = []
            for sibling in following:
                if sibling.kind != "bullet":
                    break
                items.append(sibling)
            for item in items[:MAX_LIST_ITEMS]:
                add(item)
    return result
