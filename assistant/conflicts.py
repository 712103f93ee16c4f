"""Conflicting figures: two sources that give different values for the same thing.

"The same thing" is judged on the figures extracted from the sentences (ingest/figures.py): the
same kind and unit, a shared measure word that the question also asks about, the same period and
place (or none named), and values of the same magnitude that are not equal. The answer then shows
both sentences, each with its own source, and says that the sources differ.
"""

from __future__ import annotations

from dataclasses import dataclass

from assistant.compose import Unit
from assistant.question import Intent, QuestionAnalysis
from ingest.figures import sentence_figures
from ingest.numbers import Quantity, find_quantities, same_value

MAX_RATIO = 2.0  # values further apart than this measure different things, not a disagreement


@dataclass(frozen=True)
class Conflict:
    first: Unit
    second: Unit
    first_value: Quantity
    second_value: Quantity


def _facts(unit: Unit, asked: set[str]) -> list[tuple[Quantity, str, frozenset[str]]]:
    return [
        (quantity, kind, frozenset(measure))
        for quantity, kind, measure in sentence_figures(unit.text)
        if set(measure) & asked
    ]


def _same_measure(one: frozenset[str], other: frozenset[str], asked: set[str]) -> bool:
    """A shared asked word and mostly the same words around the two numbers."""
    if not (one & other & asked):
        return False
    return len(one & other) / len(one | other) >= 0.5


def _years(unit: Unit) -> frozenset[int]:
    return frozenset(int(q.value) for q in find_quantities(unit.text) if q.kind == "year")


def _places(unit: Unit, analysis: QuestionAnalysis) -> frozenset[str]:
    lowered = unit.text.lower()
    return frozenset(p.name for p in analysis.places if p.name.lower() in lowered)


def find_conflict(
    chosen: list[Unit], candidates: list[Unit], analysis: QuestionAnalysis, areas: dict[str, frozenset[str]]
) -> Conflict | None:
    """The first disagreement between a chosen figure sentence and a candidate from another source
    about the same area (`areas`: the regions and provinces each source covers). A comparison
    question weighs different places or groups on purpose, so it has no conflicts to report."""
    asked = {t for t in analysis.terms if not t[0].isdigit()}
    if not asked or analysis.intent is Intent.comparison or analysis.sides:
        return None
    for unit in chosen[:4]:
        mine = _facts(unit, asked)
        if not mine:
            continue
        for other in sorted(candidates, key=lambda u: -u.score):
            if other.passage.source_id == unit.passage.source_id or other.score < 0.6 * unit.score:
                continue
            if _years(unit) != _years(other) or _places(unit, analysis) != _places(other, analysis):
                continue
            named = _places(unit, analysis)
            shared_area = areas.get(unit.passage.source_id, frozenset()) & areas.get(other.passage.source_id, frozenset())
            if not named and not shared_area:
                continue  # two sources about different areas measure different things
            for quantity, kind, measure in mine:
                for theirs, their_kind, their_measure in _facts(other, asked):
                    if kind != their_kind or quantity.unit != theirs.unit or not _same_measure(measure, their_measure, asked):
                        continue
                    low, high = sorted((abs(quantity.value), abs(theirs.value)))
                    if low == 0 or high / low > MAX_RATIO or same_value(quantity.value, theirs.value):
                        continue
                    return Conflict(unit, other, quantity, theirs)
    return None
