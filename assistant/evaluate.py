"""Scoring of evaluation sets (DESIGN.md "Evaluation sets") against the Answer contract.

A library module: the CLI (`marktwijzer eval`), `make eval` and the UI's evaluation page call it.

- `load_items` reads a JSONL evaluation set.
- `contains_fact`, `contains_evidence` and `untraceable_numbers` are the text checks, aware of Dutch
  number notation (9.500 · 3,5% · 1,2 mln · 130 duizend).
- `score_item` scores one answer, `evaluate` runs an answer function over a set and aggregates
  `metrics` overall, per question type and per source.
- `write_report` writes metrics.json, report.md and chart.png (optionally compared with a previous
  run), and `check_thresholds` turns metrics into the violations of a regression gate.

Metric names (keys of every group in `EvalResult.metrics`): n, n_answerable, n_unanswerable, hit@5,
facts, facts_all, refusal_accuracy, false_refusals, untraceable_answers, errors, pass_rate,
latency_ms_p50, latency_ms_p95. A rate is None when no item in the group is applicable.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from assistant.types import Answer

log = logging.getLogger(__name__)

QUESTION_TYPES = ("fact", "computed", "comparison", "advice", "procedural", "unanswerable")
UNANSWERABLE = "unanswerable"
NO_SOURCE = "none"
HIT_K = 5

#: Metric names in the order the report shows them.
METRIC_NAMES = (
    "n",
    "n_answerable",
    "n_unanswerable",
    "hit@5",
    "facts",
    "facts_all",
    "refusal_accuracy",
    "false_refusals",
    "untraceable_answers",
    "audit_dropped",
    "errors",
    "pass_rate",
    "latency_ms_p50",
    "latency_ms_p95",
)
#: Metrics where lower is better (for the sign of deltas and the default gate direction).
LOWER_IS_BETTER = frozenset({"false_refusals", "untraceable_answers", "audit_dropped", "errors", "latency_ms_p50", "latency_ms_p95"})


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def load_items(path: str | Path) -> list[dict[str, Any]]:
    """Read an evaluation set (JSONL, one object per line; blank lines are skipped).

    Raises ValueError naming the file and line number for malformed JSON, a line that is not an
    object, a missing or empty `id` / `question`, or an id used twice.
    """
    path = Path(path)
    items: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    with path.open(encoding="utf-8-sig") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}: line {lineno}: invalid JSON ({exc.msg} at column {exc.colno})") from exc
            if not isinstance(obj, dict):
                raise ValueError(f"{path}: line {lineno}: expected a JSON object, got {type(obj).__name__}")
            for key in ("id", "question"):
                value = obj.get(key)
                if not isinstance(value, str) or not value.strip():
                    raise ValueError(f"{path}: line {lineno}: missing or empty {key!r}")
            if obj["id"] in seen:
                raise ValueError(f"{path}: line {lineno}: duplicate id {obj['id']!r} (first on line {seen[obj['id']]})")
            seen[obj["id"]] = lineno
            items.append(obj)
    log.info("loaded %d evaluation items from %s", len(items), path)
    return items


# --------------------------------------------------------------------------------------------
# Text normalisation and Dutch numbers
# --------------------------------------------------------------------------------------------

_TRANSLATE = str.maketrans(
    {
        **dict.fromkeys("‘’‚‛′`´", "'"),
        **dict.fromkeys("“”„‟″«»", '"'),
        **dict.fromkeys("‐‑‒–—―−﹣－", "-"),
        **dict.fromkeys("\u00ad\u200b\u200c\u200d\ufeff", None),
    }
)

# [1], [2, 3], [1-3], [1][2] (after dash normalisation)
_MARKER = re.compile(r"\[\s*\d+(?:\s*[,;-]\s*\d+)*\s*\]")

_MULTIPLIERS = {
    "duizend": ("duizend", Decimal(1000)),
    "miljoen": ("miljoen", Decimal(10) ** 6),
    "mln": ("miljoen", Decimal(10) ** 6),
    "miljard": ("miljard", Decimal(10) ** 9),
    "mld": ("miljard", Decimal(10) ** 9),
    "mrd": ("miljard", Decimal(10) ** 9),
}

_NUMBER_TEMPLATE = r"""
(?<![\w.,])                                   # not glued to a word, a digit or a separator
(?:
    (?P<dotgrp>\d{{1,3}}(?:\.\d{{3}})+(?:,\d+)?)  # 9.500 · 1.200.000 · 9.500,5
  {spaced}
  | (?P<comma>\d+,\d+)                        # 3,5
  | (?P<dotdec>\d+\.(?:\d{{1,2}}|\d{{4,}}))      # 3.5 (a dot before 1-2 or 4+ digits is a decimal point)
  | (?P<int>\d+)
)
(?!\d)
(?:\ ?(?P<mult>duizend|miljoen|mln|miljard|mld|mrd)\b\.?)?
(?:\ ?(?P<pct>%|procent\b|percent\b)|(?P<times>x)\b)?
"""
# A number right after one of these words points into the document rather than stating a figure.
_REFERENCE_BEFORE = re.compile(
    r"(?<!\w)(?:afbeelding|figuur|grafiek|tabel|box|kader|paragraaf|par\.|hoofdstuk|bijlage|sectie|"
    r"pagina|pag\.|blz\.|p\.|§)\s*$"
)
_SPACED = r"| (?P<spgrp>\d{1,3}(?:\ \d{3})+(?:,\d+)?)   # 9 500"
_NUMBER_GROUPED = re.compile(_NUMBER_TEMPLATE.format(spaced=_SPACED), re.VERBOSE)
_NUMBER_PLAIN = re.compile(_NUMBER_TEMPLATE.format(spaced=""), re.VERBOSE)


def normalise_text(s: str | None) -> str:
    """Lower-case, NFKC (ligatures, non-breaking spaces), typographic quotes and dashes unified to
    ' " -, soft hyphens and zero-width characters removed, whitespace collapsed to single spaces."""
    s = unicodedata.normalize("NFKC", s or "").translate(_TRANSLATE).lower()
    return " ".join(s.split())


def strip_markers(text: str) -> str:
    """Remove [n] citation markers (also [1, 2] and [1-3])."""
    return _MARKER.sub(" ", normalise_text(text))


def _key(value: Decimal) -> str:
    """A canonical string for a number: 9500, 3.5, 1200000."""
    if not value.is_finite():
        return str(value)
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


@dataclass(frozen=True)
class _Number:
    surface: str
    value: Decimal
    multiplier: str | None  # canonical multiplier word
    scale: Decimal
    percent: bool
    times: bool
    integer: bool  # written without decimal or grouping separators
    glued: bool  # directly followed by a letter ("2e", "21ste"): an ordinal or identifier
    parts: tuple[Decimal, ...] = ()  # "9 500" may also be two numbers: 9 and 500
    reference: bool = False  # a document reference: "afbeelding 3.2", "Box 4.2", "paragraaf 3.1"

    @property
    def scaled(self) -> Decimal:
        return self.value * self.scale

    def keys(self) -> set[str]:
        return {_key(self.value), _key(self.scaled)}

    @property
    def trivial(self) -> bool:
        """A bare single digit (0-9): list numbering, "1 januari", "3 sporen" — ignored for traceability."""
        return (
            self.integer
            and self.value < 10
            and self.multiplier is None
            and not self.percent
            and not self.times
        )


def _parse(match: re.Match[str], text: str) -> _Number:
    groups = match.groupdict()
    parts: tuple[Decimal, ...] = ()
    integer = False
    if groups["dotgrp"]:
        raw = groups["dotgrp"].replace(".", "").replace(",", ".")
    elif groups.get("spgrp"):
        whole, _, decimals = groups["spgrp"].partition(",")
        raw = whole.replace(" ", "") + ("." + decimals if decimals else "")
        parts = tuple(Decimal(p) for p in whole.split(" "))
    elif groups["comma"]:
        raw = groups["comma"].replace(",", ".")
    elif groups["dotdec"]:
        raw = groups["dotdec"]
    else:
        raw = groups["int"]
        integer = True
    word = groups["mult"]
    multiplier, scale = _MULTIPLIERS[word] if word else (None, Decimal(1))
    end = match.end()
    glued = end < len(text) and text[end].isalpha()
    reference = bool(_REFERENCE_BEFORE.search(text, max(0, match.start() - 20), match.start()))
    return _Number(
        surface=match.group(0).strip(),
        value=Decimal(raw),
        multiplier=multiplier,
        scale=scale,
        percent=bool(groups["pct"]),
        times=bool(groups["times"]),
        integer=integer,
        glued=glued,
        parts=parts,
        reference=reference,
    )


def _scan(text: str, *, group_spaces: bool = True, normalised: bool = False) -> list[_Number]:
    if not normalised:
        text = normalise_text(text)
    pattern = _NUMBER_GROUPED if group_spaces else _NUMBER_PLAIN
    return [_parse(m, text) for m in pattern.finditer(text)]


def numbers_in(text: str) -> list[str]:
    """The numbers written in `text`, as written (normalised text: lower case, "-" for dashes).

    Dutch notation: "9.500" and "9 500" are one number, "3,5" has a decimal comma, a percentage
    keeps its sign ("3,5%", "40 procent"), a multiplier word stays attached ("1,2 mln",
    "130 duizend"), and a range such as "2024-2027" gives two numbers. [n] citation markers,
    digits inside words ("e5", "Q2", "v1.1") and ordinals ("2e") are not numbers. Single digits
    are included here; `untraceable_numbers` ignores them.
    """
    return [n.surface for n in _scan(strip_markers(text), normalised=True) if not n.glued]


def _number_keys(text: str, *, expression: bool = False) -> set[str]:
    """Every canonical value a text may be read as: both with and without space grouping, each
    number both bare and multiplied ("1,2 mln" -> 1.2 and 1200000). For a figure's expression,
    which code may write in English notation ("0.54 * 7200"), "1.100" is also read as 1.1."""
    keys: set[str] = set()
    normal = normalise_text(text)
    for group_spaces in (True, False):
        for number in _scan(normal, group_spaces=group_spaces, normalised=True):
            keys |= number.keys()
    if expression:
        for match in re.finditer(r"(?<![\w.,])\d+\.\d{3}(?![\d.])", normal):
            keys.add(_key(Decimal(match.group(0))))
    return keys


@lru_cache(maxsize=8192)
def number_keys(text: str, expression: bool = False) -> frozenset[str]:
    """`_number_keys`, once per text per process: cited passages recur across answers, and the
    number audit (assistant/verify.py) reads the same texts."""
    return frozenset(_number_keys(text, expression=expression))


# --------------------------------------------------------------------------------------------
# Text checks
# --------------------------------------------------------------------------------------------

_OPEN, _CLOSE = "⟦", "⟧"


def _canonical(text: str, *, scaled: bool) -> str:
    """Text with every number replaced by a delimited canonical token, so that a number can only
    match a whole number: scaled=True applies multipliers ("1,2 mln" -> ⟦1200000⟧), scaled=False
    keeps them as a word ("1,2 mln" -> ⟦1.2⟧ miljoen). Percent signs and words become "%"."""
    normal = strip_markers(text)

    def replace(match: re.Match[str]) -> str:
        number = _parse(match, normal)
        if scaled:
            out = f" {_OPEN}{_key(number.scaled)}{_CLOSE} "
        else:
            out = f" {_OPEN}{_key(number.value)}{_CLOSE} " + (f"{number.multiplier} " if number.multiplier else "")
        if number.percent:
            out += "% "
        elif number.times:
            out += "x "
        return out

    return " ".join(_NUMBER_GROUPED.sub(replace, normal).split())


def contains_fact(answer_text: str, expected: str) -> bool:
    """Whether the answer contains the expected string: case-insensitive, after normalisation, with
    [n] markers removed and Dutch numbers compared as numbers ("9.500" = "9500" = "9 500",
    "3,5%" = "3,5 %" = "3,5 procent", "1,2 mln" = "1,2 miljoen", "130 duizend" = "130.000").
    A number never matches part of a longer number ("500" is not in "9.500", "2,7%" not in "12,7%")."""
    for scaled in (True, False):
        needle = _canonical(expected, scaled=scaled)
        if needle in _canonical(answer_text, scaled=scaled):
            return True
    return False


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", normalise_text(text))


def _ngrams(words: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def contains_evidence(passage: str, evidence: str, threshold: float = 0.8) -> bool:
    """Whether `passage` contains `evidence`, robust to small extraction differences: True when at
    least `threshold` of the evidence's distinct word trigrams (lower-cased \\w+ words after
    normalisation) occur in the passage. Evidence shorter than three words must occur as a whole
    word sequence. Empty evidence is never contained."""
    evidence_words = _words(evidence)
    if not evidence_words:
        return False
    n = min(3, len(evidence_words))
    wanted = _ngrams(evidence_words, n)
    found = wanted & _ngrams(_words(passage), n)
    return len(found) / len(wanted) >= threshold


def untraceable_numbers(answer: Answer, *, include_metadata: bool = True) -> list[str]:
    """Numbers in the answer text (as written, each once) that appear in no citation's text and in
    no figure (its display, value, or any number in its expression).

    Numbers are compared by value ("9.500" = "9500" = "9 500", "3,5" = "3.5" where the dot cannot
    be a thousands separator; the unit is not compared, so "3,5%" is traced by "3,5 procent" and
    "1,2 miljoen" by "1.200.000"). Ignored: [n] markers, bare single digits 0-9 (list numbering,
    dates such as "1 januari", small counts written as digits) — "3%", "4x" and "2,5" still count.
    With `include_metadata` (the default) what the citation shows besides its passage also traces
    a number: title, edition, section and pages, and a figure's label — so "Regio in Beeld
    2025-2026" in the answer is traced by the cited edition.
    """
    pool: set[str] = set()
    for citation in answer.citations:
        pool |= number_keys(citation.text)
        if include_metadata:
            pool |= _number_keys(" ; ".join([citation.title, citation.edition, citation.section]))
            pool |= {str(p) for p in (citation.page, citation.page_end) if p is not None}
    for figure in answer.figures:
        pool |= _number_keys(figure.display)
        pool |= _number_keys(figure.expression, expression=True)
        if math.isfinite(figure.value):
            pool.add(_key(Decimal(repr(figure.value))))
        if include_metadata:
            pool |= _number_keys(figure.label)

    missing: list[str] = []
    for number in _scan(strip_markers(answer.answer), normalised=True):
        if number.glued or number.trivial or number.reference:
            continue
        if number.keys() & pool:
            continue
        if number.parts and all(_key(p) in pool or p < 10 for p in number.parts):
            continue  # "in 2025 500" read as two numbers
        if number.surface not in missing:
            missing.append(number.surface)
    return missing


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------


class ItemScore(BaseModel):
    """The score of one evaluation item, with what is needed to show a failure."""

    id: str
    question: str
    type: str
    sources: list[str] = Field(description="Source ids of the item's `doc` ('none' when null).")
    answerable: bool
    hit_at_5: bool | None = Field(
        None, description="Gold evidence in one of the first 5 citations; None when not applicable."
    )
    facts: float | None = Field(None, description="Share of expected strings found; None when not applicable.")
    facts_all: bool | None = None
    refused: bool = False
    correct_refusal: bool = False
    false_refusal: bool = False
    untraceable: list[str] = Field(default_factory=list)
    audit_dropped: int = Field(0, description="Sentences the answer path's number audit removed.")
    latency_ms: float = 0.0
    expected: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)
    answer: str = ""
    cited_sources: list[str] = Field(default_factory=list)
    citations: list[str] = Field(default_factory=list, description="'[n] source_id p. X' per citation.")
    error: str | None = None
    passed: bool = True
    reasons: list[str] = Field(default_factory=list)


class EvalResult(BaseModel):
    """A scored run: per-item scores and aggregated metrics (see the module docstring)."""

    created_at: str = ""
    wall_time_s: float = 0.0
    items: list[ItemScore] = Field(default_factory=list)
    metrics: dict[str, Any] = Field(default_factory=dict)


def item_sources(item: Mapping[str, Any]) -> list[str]:
    """The source ids an item belongs to: its `doc` string, each of a `doc` list, or 'none'."""
    doc = item.get("doc")
    if isinstance(doc, str):
        docs = [doc]
    elif isinstance(doc, (list, tuple)):
        docs = [d for d in doc if isinstance(d, str)]
    else:
        docs = []
    out = list(dict.fromkeys(d.strip() for d in docs if d and d.strip()))
    return out or [NO_SOURCE]


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    return [str(v) for v in value if str(v).strip()]


def score_item(item: Mapping[str, Any], answer: Answer, latency_ms: float) -> ItemScore:
    """Score one answer against its evaluation item."""
    item_type = str(item.get("type") or "unknown")
    answerable = item_type != UNANSWERABLE
    expected = _as_list(item.get("expected"))
    evidence = _as_list(item.get("evidence"))

    hit: bool | None = None
    if answerable and evidence:
        hit = any(
            contains_evidence(citation.text, passage)
            for citation in answer.citations[:HIT_K]
            for passage in evidence
        )

    facts: float | None = None
    facts_all: bool | None = None
    missing: list[str] = []
    if answerable and expected:
        missing = [e for e in expected if not contains_fact(answer.answer, e)]
        facts = (len(expected) - len(missing)) / len(expected)
        facts_all = not missing

    untraceable = untraceable_numbers(answer)
    reasons: list[str] = []
    if answerable:
        if answer.refused:
            reasons.append("refused an answerable question")
        if missing:
            reasons.append("missing facts: " + ", ".join(missing))
        if hit is False:
            reasons.append(f"no gold evidence in the first {HIT_K} citations")
    elif not answer.refused:
        reasons.append("answered an unanswerable question")
    if untraceable:
        reasons.append("untraceable numbers: " + ", ".join(untraceable))

    return ItemScore(
        id=str(item.get("id", "")),
        question=str(item.get("question", "")),
        type=item_type,
        sources=item_sources(item),
        answerable=answerable,
        hit_at_5=hit,
        facts=facts,
        facts_all=facts_all,
        refused=answer.refused,
        correct_refusal=not answerable and answer.refused,
        false_refusal=answerable and answer.refused,
        untraceable=untraceable,
        audit_dropped=answer.audit_dropped,
        latency_ms=float(latency_ms),
        expected=expected,
        missing=missing,
        answer=answer.answer,
        cited_sources=list(dict.fromkeys(c.source_id for c in answer.citations)),
        citations=[_citation_ref(c) for c in answer.citations],
        passed=not reasons,
        reasons=reasons,
    )


def _citation_ref(citation: Any) -> str:
    pages = f"p. {citation.page}"
    if citation.page_end and citation.page_end != citation.page:
        pages += f"-{citation.page_end}"
    return f"[{citation.n}] {citation.source_id} {pages}"


# --------------------------------------------------------------------------------------------
# Aggregation
# --------------------------------------------------------------------------------------------


def _mean(values: Iterable[float | bool]) -> float | None:
    values = [float(v) for v in values]
    return round(sum(values) / len(values), 4) if values else None


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    import numpy as np

    return round(float(np.percentile(np.asarray(values, dtype=float), q)), 1)


def group_metrics(scores: Sequence[ItemScore]) -> dict[str, Any]:
    """The metrics of one group of scored items (keys: METRIC_NAMES)."""
    answerable = [s for s in scores if s.answerable]
    unanswerable = [s for s in scores if not s.answerable]
    latencies = [s.latency_ms for s in scores]
    return {
        "n": len(scores),
        "n_answerable": len(answerable),
        "n_unanswerable": len(unanswerable),
        "hit@5": _mean(s.hit_at_5 for s in answerable if s.hit_at_5 is not None),
        "facts": _mean(s.facts for s in answerable if s.facts is not None),
        "facts_all": _mean(s.facts_all for s in answerable if s.facts_all is not None),
        "refusal_accuracy": _mean(s.correct_refusal for s in unanswerable),
        "false_refusals": _mean(s.false_refusal for s in answerable),
        "untraceable_answers": sum(1 for s in scores if s.untraceable),
        "audit_dropped": sum(s.audit_dropped for s in scores),
        "errors": sum(1 for s in scores if s.error),
        "pass_rate": _mean(s.passed for s in scores),
        "latency_ms_p50": _percentile(latencies, 50),
        "latency_ms_p95": _percentile(latencies, 95),
    }


def _type_order(name: str) -> tuple[int, str]:
    return (QUESTION_TYPES.index(name) if name in QUESTION_TYPES else len(QUESTION_TYPES), name)


def compute_metrics(scores: Sequence[ItemScore]) -> dict[str, Any]:
    """{"overall": {...}, "by_type": {type: {...}}, "by_source": {source_id: {...}}}.

    An item whose doc is a list counts for each listed source; an item without doc under 'none'."""
    by_type: dict[str, list[ItemScore]] = {}
    by_source: dict[str, list[ItemScore]] = {}
    for score in scores:
        by_type.setdefault(score.type, []).append(score)
        for source in score.sources:
            by_source.setdefault(source, []).append(score)
    return {
        "overall": group_metrics(scores),
        "by_type": {t: group_metrics(by_type[t]) for t in sorted(by_type, key=_type_order)},
        "by_source": {
            s: group_metrics(by_source[s]) for s in sorted(by_source, key=lambda s: (s == NO_SOURCE, s))
        },
    }


def evaluate(
    items: Iterable[Mapping[str, Any]],
    answer_fn: Callable[[dict], Answer],
    progress: Callable[[int, int], None] | None = None,
) -> EvalResult:
    """Answer every item with `answer_fn`, timing each call (wall time), and score the run.

    An exception from `answer_fn` is logged and recorded as a failed item (`error`), so one broken
    question does not lose the run; `metrics["overall"]["errors"]` counts them."""
    items = list(items)
    created = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    run_start = time.perf_counter()
    scores: list[ItemScore] = []
    for index, item in enumerate(items, start=1):
        error: str | None = None
        start = time.perf_counter()
        try:
            answer = answer_fn(dict(item))
            if not isinstance(answer, Answer):
                answer = Answer.model_validate(answer)
        except Exception as exc:  # noqa: BLE001  (recorded per item, logged with traceback)
            log.exception("answering %s failed", item.get("id"))
            error = f"{type(exc).__name__}: {exc}"
            answer = Answer(id=item.get("id"), question=str(item.get("question", "")), answer="")
        latency_ms = (time.perf_counter() - start) * 1000.0
        score = score_item(item, answer, latency_ms)
        if error:
            score = score.model_copy(update={"error": error, "passed": False, "reasons": [f"error: {error}"]})
        scores.append(score)
        log.debug("%s: %s (%.0f ms)", score.id, "ok" if score.passed else "; ".join(score.reasons), latency_ms)
        if progress is not None:
            progress(index, len(items))
    wall = time.perf_counter() - run_start
    result = EvalResult(created_at=created, wall_time_s=round(wall, 3), items=scores, metrics=compute_metrics(scores))
    overall = result.metrics["overall"]
    log.info(
        "evaluated %d items in %.1f s: hit@5=%s facts_all=%s refusal_accuracy=%s",
        len(scores), wall, overall["hit@5"], overall["facts_all"], overall["refusal_accuracy"],
    )
    return result


# --------------------------------------------------------------------------------------------
# Regression gate
# --------------------------------------------------------------------------------------------


def check_thresholds(metrics: Mapping[str, Any] | EvalResult, thresholds: Mapping[str, float]) -> list[str]:
    """Violations of a regression gate on the overall metrics, as readable sentences (empty = pass).

    `metrics` is `EvalResult.metrics`, its "overall" group, or an EvalResult. A threshold key is a
    metric name (a minimum, e.g. "hit@5": 0.85), or a metric name with "_max" (a maximum, e.g.
    "false_refusals_max": 0.15, "untraceable_answers_max": 0) or "_min". A metric that is missing or
    not available (no applicable items) is a violation too: a gate must not pass on absent data."""
    if isinstance(metrics, EvalResult):
        metrics = metrics.metrics
    overall = metrics.get("overall", metrics)
    violations: list[str] = []
    for key, limit in thresholds.items():
        if key.endswith("_max"):
            name, maximum = key[:-4], True
        elif key.endswith("_min"):
            name, maximum = key[:-4], False
        else:
            name, maximum = key, False
        if name not in overall:
            violations.append(f"{name}: unknown metric (threshold {key!r})")
            continue
        value = overall[name]
        if value is None:
            violations.append(f"{name}: not available (no applicable items), required {'≤' if maximum else '≥'} {limit:g}")
        elif maximum and value > limit:
            violations.append(f"{name} = {_fmt(value)} is above the maximum {limit:g}")
        elif not maximum and value < limit:
            violations.append(f"{name} = {_fmt(value)} is below the minimum {limit:g}")
    return violations


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

# The report's tables leave out the counts and rates that only matter for debugging.
_TABLE_METRICS = tuple(m for m in METRIC_NAMES if m not in {"n_answerable", "n_unanswerable", "errors", "pass_rate"})


def _fmt(value: Any, metric: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 or metric.startswith("latency") else f"{value:.3f}"
    return str(value)


def _delta(current: Any, previous: Any, metric: str = "") -> str:
    if not isinstance(current, (int, float)) or not isinstance(previous, (int, float)):
        return ""
    diff = current - previous
    if diff == 0:
        return "±0"
    if isinstance(diff, int):
        return f"{diff:+d}"
    return f"{diff:+.1f}" if abs(diff) >= 10 or metric.startswith("latency") else f"{diff:+.3f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _group_table(title: str, groups: Mapping[str, Mapping[str, Any]], previous: Mapping[str, Any] | None) -> list[str]:
    lines = [f"## {title}", ""]
    if not groups:
        return lines + ["(no items)", ""]
    lines.append("| group | " + " | ".join(_TABLE_METRICS) + " |")
    lines.append("|---|" + "---:|" * len(_TABLE_METRICS))
    for name, group in groups.items():
        before = (previous or {}).get(name)
        cells = []
        for metric in _TABLE_METRICS:
            cell = _fmt(group.get(metric), metric)
            if before is not None:
                delta = _delta(group.get(metric), before.get(metric), metric)
                if delta:
                    cell += f" ({delta})"
            cells.append(cell)
        lines.append(f"| {_cell(name)} | " + " | ".join(cells) + " |")
    return lines + [""]


def _item_block(score: ItemScore) -> list[str]:
    lines = [
        f"### {score.id} · {score.type} · {', '.join(score.sources)}",
        "",
        f"**Question:** {score.question}",
        "",
        f"**Why:** {'; '.join(score.reasons) or 'failed'}",
        "",
    ]
    if score.expected:
        expected = "**Expected:** " + ", ".join(f"`{e}`" for e in score.expected)
        if score.missing:
            expected += " — **missing:** " + ", ".join(f"`{m}`" for m in score.missing)
        lines += [expected, ""]
    lines.append(f"**Answered** (refused: {_fmt(score.refused)}, {score.latency_ms:.0f} ms):")
    lines.append("")
    lines.extend("> " + line for line in (score.answer or "(empty)").splitlines() or ["(empty)"])
    lines.append("")
    lines.append("**Cited:** " + ("; ".join(score.citations) if score.citations else "(no citations)"))
    lines.append("")
    return lines


def _changes(result: EvalResult, previous: EvalResult) -> tuple[list[ItemScore], list[ItemScore], int]:
    before = {s.id: s for s in previous.items}
    newly_failing = [s for s in result.items if s.id in before and before[s.id].passed and not s.passed]
    newly_passing = [s for s in result.items if s.id in before and not before[s.id].passed and s.passed]
    new_items = sum(1 for s in result.items if s.id not in before)
    return newly_failing, newly_passing, new_items


def render_report(result: EvalResult, previous: EvalResult | None = None, title: str = "Marktwijzer evaluation") -> str:
    """The Markdown report (see `write_report`)."""
    overall = result.metrics.get("overall", {})
    prev_metrics = previous.metrics if previous is not None else None
    lines = [f"# {title}", ""]
    lines.append(
        f"Run {result.created_at or '?'} · {overall.get('n', len(result.items))} items · "
        f"wall time {result.wall_time_s:.1f} s"
        + (f" · compared with run {previous.created_at or '?'}" if previous is not None else "")
    )
    lines.append("")
    lines += ["## Overall", ""]
    if prev_metrics is not None:
        prev_overall = prev_metrics.get("overall", {})
        lines += ["| metric | this run | previous | Δ |", "|---|---:|---:|---:|"]
        for name in METRIC_NAMES:
            now, then = overall.get(name), prev_overall.get(name)
            lines.append(f"| {name} | {_fmt(now, name)} | {_fmt(then, name)} | {_delta(now, then, name)} |")
    else:
        lines += ["| metric | value |", "|---|---:|"]
        lines += [f"| {name} | {_fmt(overall.get(name), name)} |" for name in METRIC_NAMES]
    lines += [
        "",
        "hit@5, facts, facts_all and false_refusals are over answerable items; refusal_accuracy over "
        "unanswerable items; audit_dropped counts sentences the answer path's number audit removed; untraceable_answers counts answers with a number found in no cited "
        "passage or figure.",
        "",
    ]
    lines += _group_table("Per type", result.metrics.get("by_type", {}), (prev_metrics or {}).get("by_type") if prev_metrics else None)
    lines += _group_table(
        "Per source", result.metrics.get("by_source", {}), (prev_metrics or {}).get("by_source") if prev_metrics else None
    )

    if previous is not None:
        newly_failing, newly_passing, new_items = _changes(result, previous)
        lines += ["## Changes since the previous run", ""]
        lines.append(f"### Newly failing ({len(newly_failing)})")
        lines.append("")
        lines += [f"- **{s.id}** ({s.type}): {s.question} — {'; '.join(s.reasons)}" for s in newly_failing] or ["(none)"]
        lines.append("")
        lines.append(f"### Newly passing ({len(newly_passing)})")
        lines.append("")
        lines += [f"- **{s.id}** ({s.type}): {s.question}" for s in newly_passing] or ["(none)"]
        lines.append("")
        if new_items:
            lines += [f"{new_items} item(s) were not in the previous run.", ""]

    failing = [s for s in result.items if not s.passed]
    lines += [f"## Failing items ({len(failing)} of {len(result.items)})", ""]
    if not failing:
        lines += ["(none)", ""]
    for score in failing:
        lines += _item_block(score)
    return "\n".join(lines).rstrip() + "\n"


def _write_chart(result: EvalResult, path: Path, title: str) -> None:
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    groups = {"overall": result.metrics.get("overall", {}), **result.metrics.get("by_type", {})}
    names = list(groups)
    series = [("hit@5", "hit@5"), ("facts_all", "facts_all"), ("refusal_accuracy", "refusal accuracy")]
    x = np.arange(len(names))
    width = 0.8 / len(series)
    figure = MplFigure(figsize=(max(6.0, 1.3 * len(names) + 2), 4.2), dpi=110)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    for i, (metric, label) in enumerate(series):
        offsets = x + (i - (len(series) - 1) / 2) * width
        heights = [groups[n].get(metric) for n in names]
        xs = [o for o, h in zip(offsets, heights) if h is not None]
        hs = [h for h in heights if h is not None]
        bars = ax.bar(xs, hs, width, label=label)
        ax.bar_label(bars, labels=[f"{h:.2f}" for h in hs], fontsize=7, padding=1)
    ax.set_xticks(x, [f"{n}\n(n={groups[n].get('n', 0)})" for n in names], fontsize=8)
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("share")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper center", ncols=3, bbox_to_anchor=(0.5, -0.18), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)


def write_report(
    result: EvalResult,
    directory: str | Path,
    previous: EvalResult | None = None,
    title: str = "Marktwijzer evaluation",
) -> dict[str, Path]:
    """Write metrics.json (the full EvalResult; load it back with `EvalResult.model_validate_json`),
    report.md (metrics overall / per type / per source, changes against `previous`, failing items)
    and chart.png (hit@5, facts_all and refusal accuracy per type) into `directory`.

    Returns {"metrics": path, "report": path, "chart": path}."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"metrics": directory / "metrics.json", "report": directory / "report.md", "chart": directory / "chart.png"}
    paths["metrics"].write_text(result.model_dump_json(indent=2), encoding="utf-8")
    paths["report"].write_text(render_report(result, previous, title), encoding="utf-8")
    _write_chart(result, paths["chart"], title)
    log.info("wrote evaluation report to %s", directory)
    return paths
