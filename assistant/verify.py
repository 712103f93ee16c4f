"""Checks every answer path runs before an answer is shown: the number audit and the citation check.

DESIGN.md, non-negotiable behaviour 2 and 3: each answer sentence carries [n] markers that resolve
to a retrieved passage, and each number in it stands in a passage that sentence cites or is a
computed figure. This module is shared by the extractive path and the language-model path
(`assistant/llm.py`); it never changes a sentence, it only keeps or drops it.

- `split_sentences(text)`: the answer's sentences as spans of the original text, each with the
  citation numbers of its markers. Markers stay with their sentence ("... open [1]." and
  "... open. [1]" both belong to the sentence before them). A sentence without a marker of its own
  is covered by the next marker on the same line (a marker at the end of a run of sentences cites
  all of them, which is how a multi-sentence passage quote is cited). A line ending in ":" without
  a marker is a lead-in ("Volgens Regio in Beeld ...:") covered by the markers of the list or line
  that follows it.
- `audit_numbers(text, citations, figures)`: every number of a sentence (Dutch notation, via
  `ingest.numbers.find_quantities`; years and quarters included) must equal a number in one of the
  passages the sentence cites, or in a computed figure (value, display, the operands of its
  expression). Numbers in a cited passage's title, edition and section (and in `source_meta`, e.g.
  the registry's reference period) also count unless `metadata=False`. A failing sentence is
  dropped. As a second, independent check each sentence must also pass
  `assistant.evaluate.untraceable_numbers` against only its own citations, and the kept text as a
  whole is checked again at the end: an answer that passes this audit passes the evaluation's.
- `check_citations(text, citations)`: markers that resolve to no citation, and sentences without a
  marker.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache

from assistant import evaluate as _evaluate
from assistant.evaluate import untraceable_numbers
from assistant.types import Answer, Citation, Figure
from ingest.numbers import Quantity, find_quantities, same_value
from ingest.sentences import abbreviation_before

log = logging.getLogger(__name__)

# [1] · [1, 2] · [1;2] · [1-3] · [1–3] (a group of adjacent markers: [1][2], [1] [2])
MARKER = re.compile(r"\[\s*(\d{1,3})(?:\s*[-–]\s*(\d{1,3})|((?:\s*[,;]\s*\d{1,3})+))?\s*\]")
MARKER_GROUP = re.compile(rf"(?:\s*{MARKER.pattern})+")
# Where a sentence may end: terminal punctuation, closing quotes/brackets, then optional markers.
# A marker group followed by a capital also ends one ("... (jaargemiddelden) [1] Afbeelding 2.3 ...").
_END = re.compile(
    rf"(?:[.!?]+[\"'’”)\]]*(?:{MARKER_GROUP.pattern})?|{MARKER_GROUP.pattern})(?=\s+(?P<next>.)|\s*$)"
)
_NEXT_STARTS = re.compile(r"[A-ZÀ-ÖØ-Þ0-9•€\"'‘“(\[–\-*]")
_ENUMERATOR = re.compile(r"^\s*(?:[•\-*–]\s*)?(?:\d{1,2}|[a-z])[.)]\s+")
_BULLET = re.compile(r"^\s*(?:[•*\-–]|\d{1,2}[.)])\s")
_SCALE_WORD = re.compile(r"(duizend|mln|miljoen|mld|mrd|miljard)\b", re.IGNORECASE)
_SCALE_EXP = {"duizend": 3, "mln": 6, "miljoen": 6, "mld": 9, "mrd": 9, "miljard": 9}


def marker_numbers(text: str) -> list[int]:
    """The citation numbers of all [n] markers in `text`, in order of first use ([1-3] is 1, 2, 3)."""
    out: list[int] = []
    for m in MARKER.finditer(text):
        first = int(m.group(1))
        if m.group(2):
            last = int(m.group(2))
            numbers = list(range(first, last + 1)) if 0 <= last - first <= 20 else [first, last]
        elif m.group(3):
            numbers = [first, *(int(x) for x in re.findall(r"\d+", m.group(3)))]
        else:
            numbers = [first]
        out.extend(n for n in numbers if n not in out)
    return out


def strip_markers(text: str) -> str:
    """`text` without [n] markers (whitespace before a removed marker goes too)."""
    return re.sub(r"[ \t]+([.,;:!?])", r"\1", MARKER_GROUP.sub("", text)).strip()


@dataclass
class Sentence:
    """One answer sentence: a span of the answer text (markers included)."""

    text: str
    start: int
    end: int
    line: int
    own_markers: list[int]  # markers written in the sentence itself
    markers: list[int]  # the citations that cover it (own, or inherited from the next / the list)
    lead_in: bool = False  # a line ending in ":" that introduces a list or line

    @property
    def body(self) -> str:
        """The sentence without markers and without a leading bullet."""
        return re.sub(r"^\s*[•*–\-]\s+", "", strip_markers(self.text))


def split_sentences(text: str) -> list[Sentence]:
    """The sentences of an answer, in order (see the module docstring for how markers attach)."""
    sentences: list[Sentence] = []
    offset = 0
    lines = text.split("\n")
    for line_no, line in enumerate(lines):
        for start, end in _line_spans(line):
            chunk = line[start:end]
            own = marker_numbers(chunk)
            sentences.append(Sentence(chunk, offset + start, offset + end, line_no, own, list(own)))
        offset += len(line) + 1
    # An unmarked sentence is covered by the next marked sentence on the same line.
    for i in range(len(sentences) - 1, -1, -1):
        s = sentences[i]
        if not s.markers and i + 1 < len(sentences) and sentences[i + 1].line == s.line:
            s.markers = list(sentences[i + 1].markers)
    # A lead-in line ("...:") is covered by the list (or line) after it.
    for i, s in enumerate(sentences):
        last_on_line = i + 1 == len(sentences) or sentences[i + 1].line != s.line
        if s.own_markers or not last_on_line or not s.text.rstrip().endswith(":"):
            continue
        s.lead_in = True
        covered: list[int] = []
        following = [t for t in sentences[i + 1 :] if t.line > s.line]
        if following:
            first_line = following[0].line
            bullet_run = _BULLET.match(lines[first_line]) is not None
            for t in following:
                if bullet_run and not _BULLET.match(lines[t.line]) or not bullet_run and t.line != first_line:
                    break
                covered.extend(n for n in t.markers if n not in covered)
        same_line = [t for t in sentences[:i] if t.line == s.line]
        s.markers = covered
        for t in same_line:  # "Volgens X. Dit zijn de stappen:" -- rare; inherit as well
            if not t.markers:
                t.markers = list(covered)
    return sentences


def _line_spans(line: str) -> list[tuple[int, int]]:
    """Sentence spans of one line (without the surrounding whitespace)."""
    spans: list[tuple[int, int]] = []
    start = len(line) - len(line.lstrip())
    for m in _END.finditer(line):
        if m.end() <= start:
            continue
        if m.group("next") is not None and not _NEXT_STARTS.match(m.group("next")):
            continue
        if abbreviation_before(line, m.start()) or re.fullmatch(r"(?:\d{1,2}|[a-z])[.)]", line[start : m.end()]):
            continue  # "o.a. ..." or a list enumerator "2. ..."
        spans.append((start, m.end()))
        rest = line[m.end() :]
        start = m.end() + len(rest) - len(rest.lstrip())
    end = len(line.rstrip())
    if start < end:
        spans.append((start, end))
    return spans



# --------------------------------------------------------------------------------------------
# The number audit


@dataclass
class Dropped:
    """A sentence the audit removed, and why."""

    text: str
    reason: str
    numbers: list[str] = field(default_factory=list)


@dataclass
class AuditResult:
    text: str  # the kept text (failing sentences removed; markers unchanged)
    kept: list[Sentence]
    dropped: list[Dropped]
    used_citations: list[int]  # citation numbers still used by the kept text, in order of first use

    @property
    def dropped_count(self) -> int:
        return len(self.dropped)

    @property
    def ok(self) -> bool:
        return not self.dropped


@dataclass
class _Pool:
    values: list[float] = field(default_factory=list)
    quarters: list[float] = field(default_factory=list)

    def add_text(self, text: str) -> None:
        values, quarters = _text_pool(text or "")
        self.values.extend(values)
        self.quarters.extend(quarters)

    def add(self, q: Quantity) -> None:
        if q.kind == "quarter":
            self.quarters.append(q.value)
            return
        self.values.append(abs(q.value))
        if q.high is not None:
            self.values.append(abs(q.high))
        scale = _SCALE_WORD.search(q.text)
        if scale:  # "35,9 miljoen" also traces a bare "35,9"
            exp = _SCALE_EXP[scale.group(1).lower()]
            self.values.append(abs(q.value) / 10**exp)
            if q.high is not None:
                self.values.append(abs(q.high) / 10**exp)

    def traces(self, q: Quantity) -> bool:
        if q.kind == "quarter":
            return any(same_value(q.value, v) for v in self.quarters)
        wanted = [q.value] + ([q.high] if q.high is not None else [])
        return all(any(same_value(abs(w), v) for v in self.values) for w in wanted)


@lru_cache(maxsize=4096)
def _text_pool(text: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """What `_Pool.add` adds for each quantity of a text, once per text (a passage is added again
    for every sentence that cites it)."""
    pool = _Pool()
    for q in find_quantities(text):
        pool.add(q)
    return tuple(pool.values), tuple(pool.quarters)


def _figure_pool(figures: Sequence[Figure], metadata: bool) -> _Pool:
    pool = _Pool()
    for figure in figures:
        pool.values.append(abs(figure.value))
        pool.add_text(figure.display)
        # Operands in the expression; English notation from code ("0.54 * 7200") too.
        pool.add_text(figure.expression)
        for m in re.finditer(r"(?<![\w.,])\d+(?:\.\d+)?(?![\d,])", figure.expression or ""):
            pool.values.append(float(m.group(0)))
        if metadata:
            pool.add_text(figure.label)
    return pool


def numbers_of(text: str) -> list[Quantity]:
    """The quantities of one sentence that the audit checks: markers and list enumerators removed."""
    body = MARKER_GROUP.sub(lambda m: " " * len(m.group(0)), text)
    body = _ENUMERATOR.sub(lambda m: " " * len(m.group(0)), body)
    return find_quantities(body)


def audit_numbers(
    text: str,
    citations: Sequence[Citation],
    figures: Sequence[Figure] = (),
    *,
    metadata: bool = True,
    source_meta: Mapping[str, str] | None = None,
) -> AuditResult:
    """Keep the sentences whose every number is traceable; drop the others (see module docstring).

    `citations`: the passages the answer may cite (by `n`). `figures`: computed figures (their
    numbers count for every sentence). `metadata`: numbers in a cited passage's title, edition and
    section count too (the strict evaluation gate uses `metadata=False`). `source_meta`: extra text
    per source id whose numbers count for sentences citing that source (e.g. the registry's
    reference period "cijfers tot en met het tweede kwartaal (juni) van 2025").
    """
    by_n = {c.n: c for c in citations}
    figure_pool = _figure_pool(figures, metadata)
    sentences = split_sentences(text)
    kept: list[Sentence] = []
    dropped: list[Dropped] = []
    answer_cited = [by_n[n] for n in marker_numbers(text) if n in by_n]
    for sentence in sentences:
        cited = [by_n[n] for n in sentence.markers if n in by_n]
        sources = {c.source_id for c in cited}
        context = [*cited, *(c for c in answer_cited if c.source_id in sources and c not in cited)]
        missing = _untraceable(sentence, cited, context, figures, figure_pool, metadata, source_meta or {})
        if missing:
            reason = "niet herleidbaar getal: " + ", ".join(missing)
            if not cited:
                reason += " (zin zonder geldige bronverwijzing)"
            dropped.append(Dropped(sentence.text.strip(), reason, missing))
        else:
            kept.append(sentence)
    kept = _drop_orphan_lead_ins(kept, sentences, dropped)
    result_text = _join(text, kept)
    # Safety net: the evaluation's own audit over the whole kept text must find nothing.
    final = untraceable_numbers(
        _mini_answer(result_text, _used(kept, by_n), figures), include_metadata=metadata
    ) if result_text else []
    if final:  # not expected: the per-sentence checks are stricter; drop what carries them
        log.warning("number audit safety net caught %s", final)
        still: list[Sentence] = []
        for s in kept:
            hits = [n for n in final if n in s.text.lower()]
            if hits:
                dropped.append(Dropped(s.text.strip(), "niet herleidbaar getal: " + ", ".join(hits), hits))
            else:
                still.append(s)
        kept = _drop_orphan_lead_ins(still, sentences, dropped)
        result_text = _join(text, kept)
    used = [n for s in kept for n in s.markers]
    used = [n for i, n in enumerate(used) if n in by_n and n not in used[:i]]
    if dropped:
        log.info("number audit dropped %d sentence(s): %s", len(dropped), [d.reason for d in dropped])
    return AuditResult(result_text, kept, dropped, used)


def _untraceable(
    sentence: Sentence,
    cited: list[Citation],
    context: list[Citation],
    figures: Sequence[Figure],
    figure_pool: _Pool,
    metadata: bool,
    source_meta: Mapping[str, str],
) -> list[str]:
    """Numbers of the sentence that nothing traces.

    Quantities (counts, percentages, money, ...) must stand in a passage the sentence itself cites
    (or its metadata, or a figure). Years and quarters are context -- "Volgens Regio in Beeld ...,
    cijfers tot en met het tweede kwartaal van 2025: ..." -- and may also stand in another passage
    of the same source cited elsewhere in the answer, or in `source_meta` of a cited source.
    """
    pool = _Pool(list(figure_pool.values), list(figure_pool.quarters))
    for citation in cited:
        pool.add_text(citation.text)
        if metadata:
            pool.add_text(f"{citation.title} ; {citation.edition} ; {citation.section}")
            pool.values.extend(float(p) for p in (citation.page, citation.page_end) if p is not None)
    periods = _Pool(list(pool.values), list(pool.quarters))
    for citation in context:
        if citation not in cited:
            periods.add_text(citation.text)
        periods.add_text(source_meta.get(citation.source_id, ""))
    missing = [
        q.text for q in _sentence_numbers(sentence.text)
        if not (periods if q.kind in ("year", "quarter") else pool).traces(q)
    ]
    # Second opinion: the evaluation's scanner, against this sentence's own citations (and, for the
    # years it cannot tell apart, those of the same source elsewhere in the answer).
    for surface in _evaluation_untraceable(sentence.text, context, figures, metadata):
        if surface not in missing:
            missing.append(surface)
    return list(dict.fromkeys(missing))


@lru_cache(maxsize=8192)
def _sentence_numbers(text: str) -> tuple[Quantity, ...]:
    """`numbers_of` a sentence, once per sentence text (quoted sentences recur across answers)."""
    return tuple(numbers_of(text))


@lru_cache(maxsize=8192)
def _sentence_scan(text: str) -> tuple:
    """The evaluation scanner's numbers of a sentence (markers removed), once per sentence text."""
    return tuple(_evaluate._scan(_evaluate.strip_markers(text), normalised=True))


def _evaluation_untraceable(text: str, citations: Sequence[Citation], figures: Sequence[Figure],
                            metadata: bool) -> list[str]:
    """`untraceable_numbers` of an answer made of `text` with these citations and figures, with the
    number keys of each passage computed once (this runs for every sentence). The same rules as
    the evaluation's; the whole kept text still goes through `untraceable_numbers` itself."""
    pool: set[str] = set()
    for c in citations:
        pool |= _evaluate.number_keys(c.text)
        if metadata:
            pool |= _evaluate.number_keys(f"{c.title} ; {c.edition} ; {c.section}")
            pool |= {str(p) for p in (c.page, c.page_end) if p is not None}
    for f in figures:
        pool |= _evaluate.number_keys(f.display)
        pool |= _evaluate.number_keys(f.expression, True)
        if math.isfinite(f.value):
            pool.add(_evaluate._key(Decimal(repr(f.value))))
        if metadata:
            pool |= _evaluate.number_keys(f.label)
    missing: list[str] = []
    for number in _sentence_scan(text):
        if number.glued or number.trivial or number.reference or number.keys() & pool:
            continue
        if number.parts and all(_evaluate._key(p) in pool or p < 10 for p in number.parts):
            continue
        if number.surface not in missing:
            missing.append(number.surface)
    return missing


def _mini_answer(text: str, citations: Iterable[Citation], figures: Sequence[Figure]) -> Answer:
    return Answer(question="", answer=text, citations=list(citations), figures=list(figures))


def _used(kept: Sequence[Sentence], by_n: Mapping[int, Citation]) -> list[Citation]:
    seen: dict[int, Citation] = {}
    for s in kept:
        for n in s.markers:
            if n in by_n:
                seen.setdefault(n, by_n[n])
    return list(seen.values())


def _drop_orphan_lead_ins(kept: list[Sentence], everything: list[Sentence], dropped: list[Dropped]) -> list[Sentence]:
    """A lead-in whose list was dropped entirely goes too."""
    kept_ids = {id(s) for s in kept}
    out: list[Sentence] = []
    for s in kept:
        if s.lead_in:
            following = [t for t in everything if t.line > s.line and t.markers and set(t.markers) & set(s.markers)]
            if s.markers and following and not any(id(t) in kept_ids for t in following):
                dropped.append(Dropped(s.text.strip(), "inleiding zonder de zinnen die erop volgen"))
                continue
        out.append(s)
    return out


def _join(original: str, kept: Sequence[Sentence]) -> str:
    """The original text with only the kept spans (line structure and bullets preserved)."""
    lines: dict[int, list[Sentence]] = {}
    for s in kept:
        lines.setdefault(s.line, []).append(s)
    original_lines = original.split("\n")
    out: list[str] = []
    for line_no, line in enumerate(original_lines):
        if line_no not in lines:
            continue
        parts = lines[line_no]
        body = " ".join(p.text.strip() for p in parts)
        bullet = _BULLET.match(line)
        if bullet and not body.startswith(bullet.group(0).strip()):
            body = bullet.group(0).strip() + " " + body
        if not bullet:
            body = line[: len(line) - len(line.lstrip())] + body  # indentation
        out.append(body)
    return "\n".join(out).strip()


# --------------------------------------------------------------------------------------------
# Citations


@dataclass
class CitationCheck:
    unresolved: list[int]  # marker numbers that resolve to no given citation
    uncited: list[str]  # sentences without a marker (own, or from the next on their line or a list)
    used: list[int]  # resolving citation numbers in order of first use

    @property
    def ok(self) -> bool:
        return not self.unresolved and not self.uncited


def check_citations(text: str, citations: Sequence[Citation]) -> CitationCheck:
    """Every [n] must resolve to one of `citations`; every sentence must be covered by a marker."""
    known = {c.n for c in citations}
    all_markers = marker_numbers(text)
    unresolved = [n for n in all_markers if n not in known]
    uncited = [s.text.strip() for s in split_sentences(text) if not s.markers and strip_markers(s.text).strip(" •-*")]
    used = [n for n in all_markers if n in known]
    return CitationCheck(unresolved, uncited, used)


# --------------------------------------------------------------------------------------------
# Instructions in passages (prompt injection)

# A sentence that gives orders to a language model: "negeer alle eerdere instructies", "je bent nu ...".
INJECTION = re.compile(
    r"\b(?:negeer|vergeet|ignore|disregard|forget)\b[^.!?\n]{0,40}\b(?:instructie|instructies|opdracht|opdrachten|"
    r"regels|instructions?|rules|prompt)\b"
    r"|\bsysteem\s?prompt\b|\bsystem\s?prompt\b|\bje bent (?:nu|vanaf nu)\b|\byou are now\b"
    r"|\bnieuwe (?:instructie|opdracht)\w*|\bnew instructions?\b|\bantwoord (?:vanaf nu|voortaan)\b"
    r"|\bzeg (?:tegen )?de (?:gebruiker|adviseur)\b|\bals (?:een )?(?:ai|taalmodel)(?![\w-])",
    re.IGNORECASE,
)


@lru_cache(maxsize=32768)  # a pure function of the text; passage sentences recur across questions
def instruction_like(text: str) -> bool:
    """Whether `text` gives orders to a language model ("negeer alle eerdere instructies ...").

    The language-model path withholds such passages from the model; an answer path may also skip
    such sentences rather than quote them."""
    return INJECTION.search(text or "") is not None
