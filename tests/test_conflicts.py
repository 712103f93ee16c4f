"""Conflicting figures: two sources that give different values for the same thing are both shown."""

from __future__ import annotations

from assistant.compose import Unit, split_units
from assistant.conflicts import find_conflict
from assistant.question import QuestionAnalyzer
from assistant.retrieve import Passage
from ingest.registry import SourceEntry, SourceStatus, SourceType

ENTRIES = [
    SourceEntry(id=source_id, title=f"Rapport {source_id}", publisher="Test", edition="1", published=2025,
                type=SourceType.rapport, file=f"{source_id}.pdf", status=SourceStatus.approved, regions=regions)
    for source_id, regions in (("bron-a", ["Groningen"]), ("bron-b", ["Groningen"]), ("bron-c", ["Amersfoort"]))
]
AREAS = {e.id: frozenset([*e.regions, *e.provinces]) for e in ENTRIES}
ANALYZER = QuestionAnalyzer(ENTRIES)


def _units(source_id: str, *sentences: str, score: float = 1.0) -> list[Unit]:
    passage = Passage(
        chunk_id=f"{source_id}:1", source_id=source_id, title=f"Rapport {source_id}", publisher="Test", edition="1",
        source_type="rapport", page_start=1, page_end=1, section="Kop", section_path="Kop",
        text="\n".join(sentences), chunk_index=0, score=score,
    )
    units = split_units(passage, 0)
    for unit in units:
        unit.score = score
    return units


def test_two_sources_with_different_values_for_the_same_figure_conflict() -> None:
    analysis = ANALYZER.analyze("Hoeveel geregistreerde werkzoekenden telde Groningen in december 2024?")
    first = _units("bron-a", "In december 2024 telde Groningen 51.144 geregistreerde werkzoekenden.")
    second = _units("bron-b", "In december 2024 telde Groningen ruim 51.200 geregistreerde werkzoekenden.", score=0.9)
    conflict = find_conflict(first, first + second, analysis, AREAS)
    assert conflict is not None
    assert conflict.second.passage.source_id == "bron-b"
    assert {conflict.first_value.value, conflict.second_value.value} == {51144, 51200}


def test_equal_values_are_no_conflict() -> None:
    analysis = ANALYZER.analyze("Hoeveel geregistreerde werkzoekenden telde Groningen in december 2024?")
    first = _units("bron-a", "In december 2024 telde Groningen 51.144 geregistreerde werkzoekenden.")
    second = _units("bron-b", "Groningen telde in december 2024 51.144 geregistreerde werkzoekenden.")
    assert find_conflict(first, first + second, analysis, AREAS) is None


def test_different_years_or_areas_are_no_conflict() -> None:
    analysis = ANALYZER.analyze("Hoeveel geregistreerde werkzoekenden zijn er?")
    first = _units("bron-a", "In december 2024 telde de regio 51.144 geregistreerde werkzoekenden.")
    later = _units("bron-b", "In juni 2025 telde de regio 50.000 geregistreerde werkzoekenden.")
    elsewhere = _units("bron-c", "In december 2024 telde de regio 16.850 geregistreerde werkzoekenden.")
    assert find_conflict(first, first + later, analysis, AREAS) is None
    assert find_conflict(first, first + elsewhere, analysis, AREAS) is None


def test_a_comparison_question_weighs_differences_on_purpose() -> None:
    analysis = ANALYZER.analyze("Zijn er meer geregistreerde werkzoekenden in december 2024 in bron a of in bron b?")
    first = _units("bron-a", "In december 2024 telde Groningen 51.144 geregistreerde werkzoekenden.")
    second = _units("bron-b", "In december 2024 telde Groningen ruim 51.200 geregistreerde werkzoekenden.")
    assert find_conflict(first, first + second, analysis, AREAS) is None
