"""Figures extracted at ingest (ingest/figures.py): kind, measure, period, region and provenance of
every number in a passage, stored with the index generation and queryable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import ingest  # noqa: F401  (offline environment before chromadb)
from ingest import figures
from ingest.figures import (
    FIGURES_FILE,
    FigureRecord,
    extract,
    figure_kind,
    measure_terms,
    sentence_figures,
)
from ingest.lexical import tokenize
from ingest.numbers import find_quantities

from .conftest import SOURCE_IDS, add_factsheet

AMERSFOORT = "In Amersfoort wonen 16.600 werknemers tussen de 60 en 67 jaar, 10% van alle werknemers."
FORECAST = (
    "Tussen 2024 en 2027 daalt het aantal banen van zelfstandigen naar verwachting met 4.600 (-4,8%) "
    "tot ongeveer 92.100."
)
PLACES = ["Amersfoort", "Groningen", "Midden-Utrecht"]


def stem(word: str) -> str:
    return tokenize(word)[0]


def by_text(sentence: str) -> dict[str, tuple[str, list[str]]]:
    return {q.text: (kind, measure) for q, kind, measure in sentence_figures(sentence)}


def records_of(text: str, *, section: str = "", own_region: str | None = "Amersfoort", page: int = 7) -> list[FigureRecord]:
    return extract("bron-a:abc123", text, section, "bron-a", page, PLACES, own_region)


# -- kinds -----------------------------------------------------------------------------------------


def test_kinds_in_a_level_and_share_sentence() -> None:
    found = by_text(AMERSFOORT)
    assert found["16.600"][0] == "level"
    assert found["10%"][0] == "share"


def test_kinds_in_a_forecast_sentence() -> None:
    found = by_text(FORECAST)
    assert found["4.600"][0] == "change"  # "met 4.600"
    assert found["-4,8%"][0] == "change"  # a written sign is a change
    assert found["92.100"][0] == "level"  # "tot ongeveer 92.100" is where it ends up


@pytest.mark.parametrize(
    ("sentence", "text", "kind"),
    [
        ("Er zijn 4x zoveel vacatures als werkzoekenden.", "4x", "ratio"),
        ("Er zijn twee keer zo veel vacatures als vorig jaar.", "twee keer", "ratio"),
        ("De gemeente ontvangt € 35,9 miljoen voor de aanpak.", "€ 35,9 miljoen", "money"),
        ("Het aantal vacatures steeg met 1.200 in een jaar.", "1.200", "change"),
        ("Het aantal werkzoekenden is gedaald met 350 personen.", "350", "change"),
        ("De werkgelegenheid groeit met +2,8% per jaar.", "+2,8%", "change"),
        ("De vacatures namen toe (+600) in de zorg.", "+600", "change"),
        ("Het verschil tussen de regio's is 2 procentpunt.", "2 procentpunt", "share"),
        ("De werkloosheid bedraagt 3,5% in de regio.", "3,5%", "share"),
        ("In de regio staan 9.500 vacatures open.", "9.500", "level"),
    ],
)
def test_kind_of_each_figure(sentence: str, text: str, kind: str) -> None:
    assert by_text(sentence)[text][0] == kind


def test_figure_kind_reads_only_the_words_just_before_the_number() -> None:
    sentence = "Het aantal banen groeit sterk, en in de zomer van dit jaar werkten in de regio al 9.500 mensen."
    quantity = next(q for q in find_quantities(sentence) if q.text == "9.500")
    assert figure_kind(quantity, sentence[: quantity.start]) == "level"  # 'groeit' is far away
    assert figure_kind(quantity, "Het aantal groeit met ") == "change"
    assert figure_kind(quantity, "Het aantal is gestegen van ") == "change"


@pytest.mark.parametrize(
    ("sentence", "text", "kind"),
    [
        ("Amersfoort telt 200 bedrijven met 16.600 werknemers.", "16.600", "level"),
        # As in the Regio in Beeld reports: a share, not a change.
        ("Zorg & welzijn is met 22% van alle vacatures de grootste sector.", "22%", "share"),
    ],
)
def test_with_as_preposition_is_no_change(sentence: str, text: str, kind: str) -> None:
    assert by_text(sentence)[text][0] == kind


# -- measure ---------------------------------------------------------------------------------------


def test_measure_is_the_stemmed_words_next_to_the_number() -> None:
    found = by_text(AMERSFOORT)
    assert stem("werknemers") in found["16.600"][1]
    assert found["16.600"][1][0] == stem("werknemers")  # the words after the number come first
    assert stem("werknemers") in found["10%"][1]


def test_measure_of_a_change_names_what_changes() -> None:
    measure = by_text(FORECAST)["4.600"][1]
    assert stem("banen") in measure and stem("zelfstandigen") in measure


def test_measure_holds_no_numbers_and_stays_inside_the_clause() -> None:
    sentence = "Er staan 9.500 vacatures open; de werkloosheid in de regio is laag."
    measure = by_text(sentence)["9.500"][1]
    assert stem("vacatures") in measure
    assert stem("werkloosheid") not in measure  # behind the semicolon
    for _, _, words in sentence_figures(AMERSFOORT + " " + FORECAST):
        assert all(not w[0].isdigit() for w in words)


def test_measure_terms_keeps_at_most_four_words_per_side_without_duplicates() -> None:
    sentence = "Volgens de nieuwste cijfers van het onderzoeksbureau werken nu 4.000 jonge technische vakmensen in de bouw en installatie."
    quantity = next(q for q in find_quantities(sentence) if q.text == "4.000")
    measure = measure_terms(sentence, quantity)
    assert len(measure) == len(set(measure)) <= 2 * figures.MEASURE_WORDS
    assert stem("vakmensen") in measure
    assert stem("volgens") not in measure  # more than four content words before the number


# -- years, quarters, dates are never figures ------------------------------------------------------


@pytest.mark.parametrize(
    ("sentence", "values"),
    [
        ("In het tweede kwartaal van 2025 stonden 9.500 vacatures open.", [9500.0]),
        ("In Q3 2025 waren er 1.000 vacatures.", [1000.0]),
        ("In de periode 2024-2027 groeit de werkgelegenheid met +2,8%.", [2.8]),
        ("Op 1 januari 2026 waren er 3.000 WW-uitkeringen.", [3000.0]),
        ("Tussen 2019 en 2024 is het aantal banen in 2024/2025 gestegen.", []),
    ],
)
def test_years_quarters_and_dates_are_no_figures(sentence: str, values: list[float]) -> None:
    assert [q.value for q, _, _ in sentence_figures(sentence)] == values


def test_period_and_quarters_come_from_the_sentence() -> None:
    records = records_of(
        "In het tweede kwartaal van 2025 stonden 9.500 vacatures open. " + FORECAST + " Er zijn 300 werkzoekenden."
    )
    assert [(r.text, r.period, r.quarters) for r in records] == [
        ("9.500", [2025], [2]),
        ("4.600", [2024, 2027], []),
        ("-4,8%", [2024, 2027], []),
        ("92.100", [2024, 2027], []),
        ("300", [], []),
    ]
    assert all(r.value not in (2024, 2025, 2027) for r in records)


# -- region and provenance -------------------------------------------------------------------------


def test_region_is_the_place_named_in_the_sentence_else_the_source_region() -> None:
    records = records_of("In Groningen waren er 22.000 banen. Er zijn 500 vacatures.", own_region="Amersfoort")
    assert [(r.text, r.region) for r in records] == [("22.000", ["Groningen"]), ("500", ["Amersfoort"])]


def test_region_matching_is_case_insensitive_and_whole_word() -> None:
    records = records_of("In de regio midden-utrecht werken 4.000 mensen.", own_region=None)
    assert records[0].region == ["Midden-Utrecht"]
    records = records_of("Groningers vullen 400 vacatures in.", own_region=None)
    assert records[0].region == []  # 'Groningers' is not the place name; no own region either


def test_two_places_in_one_sentence_are_both_the_region() -> None:
    records = records_of("In Amersfoort werken 300 mensen uit Groningen.", own_region=None)
    assert set(records[0].region) == {"Amersfoort", "Groningen"}


def test_provenance_fields() -> None:
    text = "Arbeidsmarkt\nIn Amersfoort wonen 16.600 werknemers. Er staan 9.500 vacatures open."
    records = records_of(text, section="Arbeidsmarkt", page=12)
    assert [r.text for r in records] == ["16.600", "9.500"]
    first, second = records
    assert first.source_id == "bron-a" and first.chunk_id == "bron-a:abc123" and first.page == 12
    assert first.sentence == 1 and second.sentence == 2  # the heading line is sentence 0
    assert first.sentence_text == "In Amersfoort wonen 16.600 werknemers."
    assert second.sentence_text == "Er staan 9.500 vacatures open."
    for record in records:
        assert record.text in record.sentence_text  # as written in the source
        assert record.value == find_quantities(record.text)[0].value


def test_values_and_units_as_parsed() -> None:
    records = records_of("De regio krijgt € 35,9 miljoen; er werken 1,2 mln mensen en 8,9 fte extra; de groei is +2,8%.")
    got = {r.text: (r.value, r.unit, r.kind) for r in records}
    assert got["€ 35,9 miljoen"] == (35_900_000.0, "€", "money")
    assert got["1,2 mln"] == (1_200_000.0, "", "level")
    assert got["8,9 fte"] == (8.9, "fte", "level")
    assert got["+2,8%"][1:] == ("%", "change")


def test_a_passage_without_numbers_gives_no_records() -> None:
    assert records_of("De Werkcentrum-aanpak helpt werkzoekenden aan een baan.") == []
    assert records_of("In 2025 en in het derde kwartaal van 2026 blijft de markt krap.") == []


# -- storage and query -----------------------------------------------------------------------------


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    records = records_of(AMERSFOORT + " " + FORECAST)
    figures.save(records, tmp_path)
    assert (tmp_path / FIGURES_FILE).is_file()
    assert not list(tmp_path.glob("*.tmp"))
    assert figures.load(tmp_path) == records
    figures.save(records[:1], tmp_path)  # a second save replaces the file
    assert figures.load(tmp_path) == records[:1]


def test_load_without_a_file_is_empty(tmp_path: Path) -> None:
    assert figures.load(tmp_path) == []


@pytest.fixture
def stored() -> list[FigureRecord]:
    records = extract("a:1", AMERSFOORT + " " + FORECAST, "", "bron-a", 3, PLACES, "Amersfoort")
    records += extract("g:1", "In 2025 waren er 14.000 vacatures in Groningen.", "", "bron-g", 5, PLACES, "Groningen")
    return records


def test_query_by_words_ranks_the_measure_first(stored: list[FigureRecord]) -> None:
    found = figures.query(stored, "werknemers")
    assert [r.text for r in found] == ["16.600", "tussen de 60 en 67 jaar", "10%"]
    assert {r.source_id for r in found} == {"bron-a"}
    # A sentence that holds the word elsewhere still matches, after those whose measure holds it.
    aside = extract("a:2", "Er staan 9.500 vacatures open; de werknemers zijn tevreden.", "", "bron-a", 4, PLACES, None)
    found = figures.query(aside + stored, "werknemers")
    assert [r.text for r in found] == ["16.600", "tussen de 60 en 67 jaar", "10%", "9.500"]


def test_query_needs_every_word_in_the_sentence(stored: list[FigureRecord]) -> None:
    assert [r.text for r in figures.query(stored, "banen zelfstandigen", kind="change")] == ["4.600", "-4,8%"]
    assert figures.query(stored, "banen werknemers") == []
    assert len(figures.query(stored, "")) == len(stored)  # no words: everything


def test_query_by_region_year_source_and_kind(stored: list[FigureRecord]) -> None:
    assert [r.text for r in figures.query(stored, "vacatures", region="groningen")] == ["14.000"]
    assert figures.query(stored, "vacatures", region="Amersfoort") == []
    assert [r.text for r in figures.query(stored, year=2025)] == ["14.000"]
    assert {r.text for r in figures.query(stored, year=2027)} == {"4.600", "-4,8%", "92.100"}
    assert {r.source_id for r in figures.query(stored, source_id="bron-g")} == {"bron-g"}
    assert [r.text for r in figures.query(stored, kind="share")] == ["10%"]
    assert figures.query(stored, "vacatures", year=2024) == []


def test_query_ignores_numbers_in_the_words(stored: list[FigureRecord]) -> None:
    assert [r.text for r in figures.query(stored, "14.000 vacatures")] == ["14.000"]


# -- at ingest -------------------------------------------------------------------------------------


def _check_records(records: list[FigureRecord], documents: dict[str, str], source_ids: list[str] = SOURCE_IDS) -> None:
    assert {r.source_id for r in records} == set(source_ids)
    for record in records:
        assert record.chunk_id in documents and record.chunk_id.startswith(record.source_id + ":")
        assert record.sentence_text in documents[record.chunk_id]
        assert record.text in record.sentence_text
        assert record.kind in {"level", "change", "share", "ratio", "money"}
        assert record.page >= 1
    # The source's own region is filled in where the sentence names none.
    amersfoort = [r for r in records if r.source_id == "uwv-regio-in-beeld-2025-2026-amersfoort"]
    assert any(r.region == ["Amersfoort"] for r in amersfoort)
    assert figures.query(records, "werknemers", source_id="uwv-regio-in-beeld-2025-2026-amersfoort")


@pytest.mark.slow
def test_an_ingest_that_makes_a_new_generation_writes_figures_for_every_source(index_copy) -> None:
    """A real ingest on a copy of the built index, with one small source added so that it makes a new
    generation (cheap: only the new source is embedded). An index reused through
    MARKTWIJZER_TEST_REUSE_INDEX may predate figures.jsonl, and a no-change ingest keeps the serving
    generation as it is; figures are rebuilt from all stored chunks whenever a generation is made."""
    from ingest.pipeline import run_ingest
    from ingest.store import COLLECTION, borrowed_chroma, current_generation

    settings = index_copy()
    entry = add_factsheet(
        settings, "factsheet-figuren",
        "In het tweede kwartaal van 2025 staan in Groningen 4.321 vacatures open in de bouw. "
        "Er werken 12.345 mensen in de zorg.",
        regions=["Amersfoort"],
    )
    report = run_ingest(settings)
    assert report.added == 1 and report.failed == []

    generation = current_generation(settings.index_dir)
    assert generation is not None and generation.name == report.generation
    assert (generation.root / FIGURES_FILE).is_file()
    with borrowed_chroma(generation.chroma_dir) as client:  # never stop a system a cached index uses
        got = client.get_collection(COLLECTION).get(include=["documents"])
    records = figures.load(generation.root)
    _check_records(records, dict(zip(got["ids"], got["documents"], strict=True)), [*SOURCE_IDS, entry.id])

    added = {r.text: r for r in records if r.source_id == entry.id}
    assert set(added) == {"4.321", "12.345"}
    vacatures, zorg = added["4.321"], added["12.345"]
    assert vacatures.value == 4321 and vacatures.kind == "level" and vacatures.page == 1
    assert vacatures.period == [2025] and vacatures.quarters == [2]
    assert vacatures.region == ["Groningen"]  # named in the sentence
    assert zorg.region == ["Amersfoort"] and zorg.period == []  # the source's own region
    assert tokenize("vacatures")[0] in vacatures.measure
    assert [r.text for r in figures.query(records, "vacatures bouw", region="Groningen", year=2025)] == ["4.321"]


@pytest.mark.slow
def test_ingest_writes_figures_jsonl_in_the_generation(built_index) -> None:
    from ingest.store import COLLECTION, borrowed_chroma, current_generation

    settings, _ = built_index
    generation = current_generation(settings.index_dir)
    assert generation is not None
    if not (generation.root / FIGURES_FILE).exists() and os.environ.get("MARKTWIJZER_TEST_REUSE_INDEX"):
        pytest.skip("the reused index predates figures.jsonl and a no-change ingest keeps its generation")
    with borrowed_chroma(generation.chroma_dir) as client:  # never stop a system a cached index uses
        got = client.get_collection(COLLECTION).get(include=["documents"])
    _check_records(figures.load(generation.root), dict(zip(got["ids"], got["documents"], strict=True)))
