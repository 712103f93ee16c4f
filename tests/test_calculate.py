"""Computed figures: operations recognised, operands chosen by their anchors, arithmetic in code."""

from __future__ import annotations

import re

import pytest

from assistant.calculate import Operation, compute, wanted_operations
from assistant.compose import Unit, split_units
from assistant.question import QuestionAnalyzer
from assistant.retrieve import Passage
from ingest.lexical import tokenize
from ingest.registry import SourceEntry, SourceStatus, SourceType

ENTRY = SourceEntry(
    id="testbron", title="Testrapport", publisher="Test", edition="1", published=2025, type=SourceType.rapport,
    file="x.pdf", status=SourceStatus.approved, regions=["Amersfoort"],
)
ANALYZER = QuestionAnalyzer([ENTRY])


def _units(*sentences: str) -> list[Unit]:
    passage = Passage(
        chunk_id="testbron:1", source_id="testbron", title="Testrapport", publisher="Test", edition="1",
        source_type="rapport", page_start=1, page_end=1, section="Kop", section_path="Kop",
        text="\n".join(sentences), chunk_index=0, score=1.0,
    )
    units = split_units(passage, 0)
    for unit in units:
        unit.score = 1.0
    return units


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Met hoeveel % is het aantal gedaald tussen 2015 en 2024?", [Operation.percent_change]),
        ("Hoeveel meer vrouwen dan mannen zijn er?", [Operation.difference]),
        ("Hoeveel zijn de vacatures gestegen t.o.v. 2019 (aantal en %)?", [Operation.difference, Operation.percent_change]),
        ("Hoeveel werken er in A, B en C samen?", [Operation.total]),
        ("Welk percentage van de werkzoekenden heeft bijstand?", [Operation.share]),
        ("Wat is de Werkcentrum-aanpak?", []),
    ],
)
def test_operations_are_recognised(question: str, expected: list[Operation]) -> None:
    assert wanted_operations(question) == expected


def test_percentage_change_between_years_in_one_sentence() -> None:
    analysis = ANALYZER.analyze("Met hoeveel % is het onbenut arbeidspotentieel gedaald tussen 2015 en 2024?")
    units = _units("Het onbenut arbeidspotentieel slonk van 36.000 in 2015 naar 22.000 in 2024.")
    figures, used, note = compute(analysis, units)
    assert note == "" and used
    change = next(f for f in figures if f.unit == "%")
    assert change.value == pytest.approx(-38.888, abs=0.01)
    assert change.display == "-38,9%"
    assert "22.000" in change.expression and "36.000" in change.expression


def test_difference_between_terms_uses_the_numbers_next_to_them() -> None:
    analysis = ANALYZER.analyze("Hoeveel meer vrouwen dan mannen zitten er in het onbenut arbeidspotentieel?")
    units = _units("In 2023 behoorden 230 duizend mannen en 354 duizend vrouwen tot het onbenut arbeidspotentieel.")
    figures, _, _ = compute(analysis, units)
    assert [f.value for f in figures] == [124000]
    assert figures[0].expression == "354 duizend − 230 duizend"


def test_sum_over_named_places() -> None:
    analysis = ANALYZER.analyze(
        "Hoeveel inwoners van Amersfoort werken in Midden-Utrecht, Groot Amsterdam en Gooi en Vechtstreek samen?"
    )
    units = _units(
        "Van de werkende inwoners werkt 24.000 in Midden-Utrecht, 16.000 in Groot Amsterdam en 11.600 in Gooi en Vechtstreek."
    )
    figures, _, note = compute(analysis, units)
    assert note == ""
    assert figures[0].value == 51600 and figures[0].display == "51.600"
    assert figures[0].expression == "24.000 + 16.000 + 11.600"


def test_missing_operand_computes_nothing_and_says_so_without_digits() -> None:
    analysis = ANALYZER.analyze("Met hoeveel % is het aantal banen gestegen tussen 2015 en 2024?")
    units = _units("In 2024 waren er 22.000 banen.")
    figures, used, note = compute(analysis, units)
    assert figures == [] and used == []
    assert note and not re.search(r"\d", note)


def test_numbers_of_different_units_are_not_combined() -> None:
    analysis = ANALYZER.analyze("Hoeveel meer vrouwen dan mannen werken er?")
    units = _units("Er werken 12% vrouwen en 3.000 mannen.")
    figures, _, note = compute(analysis, units)
    assert figures == [] and note


def test_stems_used_as_anchors_exist() -> None:
    assert tokenize("vrouwen") and tokenize("mannen")


def test_share_of_part_in_whole_from_one_sentence() -> None:
    analysis = ANALYZER.analyze("Welk percentage van de geregistreerde werkzoekenden in de provincie Utrecht heeft bijstand?")
    units = _units("BIJSTAND 32.103 WAJONG 3.769 WW 9.971 TOTAAL GEREGISTREERDE WERKZOEKENDEN 80.431")
    figures, _, note = compute(analysis, units)
    assert note == ""
    assert figures[0].display == "39,9%"
    assert figures[0].expression == "32.103 / 80.431 × 100"


def test_share_needs_part_smaller_than_whole() -> None:
    analysis = ANALYZER.analyze("Welk deel van de vacatures is zorg?")
    units = _units("Er zijn 900 vacatures in de zorg en 400 vacatures totaal.")
    figures, _, _ = compute(analysis, units)
    assert figures == []
