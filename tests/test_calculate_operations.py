"""The calculator's operations on sentences like the sources' own: from-to changes, 'A tegen B' pairs,
back-calculation from a forecast, per-year averages, rate x base, list sums, shares across two
sentences, and the place-anchored difference that needs both numbers to measure the same thing.
Every result is checked for its value, its Dutch display, its expression and the operand sentences
it returns; every refusal for computing nothing and saying why without a digit."""

from __future__ import annotations

import ast
import builtins
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant import calculate
from assistant.calculate import Operation, compute, wanted_operations
from assistant.compose import Unit, split_units
from assistant.question import QuestionAnalyzer
from assistant.retrieve import Passage
from ingest.numbers import find_quantities, format_number, parse_number
from ingest.registry import SourceEntry, SourceStatus, SourceType

ENTRY = SourceEntry(
    id="bron-a", title="Testrapport", publisher="Test", edition="1", published=2025, type=SourceType.rapport,
    file="x.pdf", status=SourceStatus.approved, regions=["Amersfoort"],
)
ANALYZER = QuestionAnalyzer([ENTRY])

KRIJGSMACHT = "Er is een flinke uitbreiding van de krijgsmacht gaande van 70 duizend naar 200 duizend personen."
BASISFINANCIERING = (
    "Deze basisfinanciering bedraagt € 19,8 miljoen in 2025 en loopt op naar € 35,9 in de structurele "
    "situatie vanaf 2035."
)
STATUSHOUDERS = "Vrouwelijke statushouders werken veel minder vaak dan de mannelijke statushouders (17% tegen 47%)."
ZELFSTANDIGEN = (
    "Tussen 2024 en 2027 daalt het aantal banen van zelfstandigen naar verwachting met 4.600 (-4,8%) "
    "tot ongeveer 92.100."
)
BUDGET = "Gemeenten ontvangen van 2025 tot en met 2027 een bedrag van €73,8 miljoen voor de aanpak."
ZORG = (
    "Eind 2024 werkten er bijna 7.200 werknemers van 60 tot 67 jaar in de publieke sectoren in Amersfoort, "
    "waarvan ruim de helft (54%) in de zorg & welzijn."
)
INSTELLINGEN = (
    "In de regio zijn 28 instellingen voor voortgezet onderwijs, 5 mbo-instellingen en 11 opleidingsinstituten actief."
)


def units_of(*sentences: str, source_id: str = "bron-a", chunk: int = 1) -> list[Unit]:
    passage = Passage(
        chunk_id=f"{source_id}:{chunk}", source_id=source_id, title="Testrapport", publisher="Test", edition="1",
        source_type="rapport", page_start=1, page_end=1, section="Kop", section_path="Kop",
        text="\n".join(sentences), chunk_index=chunk, score=1.0,
    )
    units = split_units(passage, 0)
    for unit in units:
        unit.score = 1.0
    return units


def run(question: str, *sentences: str) -> tuple[list, list[Unit], str]:
    return compute(ANALYZER.analyze(question), units_of(*sentences))


def one_figure(question: str, *sentences: str):
    figures, used, note = run(question, *sentences)
    assert note == "", note
    assert len(figures) == 1, figures
    return figures[0], [u.text for u in used]


def assert_refused(result: tuple[list, list[Unit], str], *, note_required: bool = True) -> None:
    figures, used, note = result
    assert figures == [] and used == []
    assert not re.search(r"\d", note), note  # our own sentences carry no digits
    if note_required:
        assert note.strip()


# -- operations recognised -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Met hoeveel mensen groeit de krijgsmacht?", [Operation.difference]),
        ("Met hoeveel loopt de basisfinanciering op tussen 2025 en 2035?", [Operation.difference]),
        ("Met hoeveel is het aantal banen gedaald?", [Operation.difference]),
        ("Met hoeveel procent stijgt het aantal banen?", [Operation.percent_change]),
        ("Hoeveel banen waren er in 2024, als je terugrekent vanaf 2027?", [Operation.base_level]),
        ("Hoeveel is het gemiddeld per jaar?", [Operation.per_year]),
        ("Hoeveel keer zo groot is de vraag als het aanbod?", [Operation.ratio]),
        ("Hoeveel instellingen zijn er in totaal?", [Operation.total]),
        ("Hoe groot is het aandeel vrouwen onder de werkzoekenden?", [Operation.share]),
        ("Wat is het percentage werkzoekenden met een bijstandsuitkering?", [Operation.share]),
        ("Wat is het verschil tussen vrouwelijke en mannelijke statushouders?", [Operation.difference]),
        ("Hoeveel werknemers werken er ongeveer in de zorg?", []),  # rate x base is found by 'ongeveer'
        ("Met hoeveel mensen is de krijgsmacht?", []),  # no change verb: no change asked
    ],
)
def test_wanted_operations(question: str, expected: list[Operation]) -> None:
    assert wanted_operations(question) == expected


@pytest.mark.parametrize("verb", ["groeit", "gegroeid", "stijgt", "steeg", "gestegen", "daalt", "daalde", "gedaald",
                                  "krimpt", "gekrompen", "toegenomen", "afgenomen", "veranderd"])
def test_every_change_verb_makes_met_hoeveel_a_difference(verb: str) -> None:
    assert wanted_operations(f"Met hoeveel is het aantal banen {verb}?") == [Operation.difference]
    assert re.fullmatch(calculate.CHANGE_VERB, verb)


def test_separated_neemt_toe_is_a_change_verb() -> None:
    assert wanted_operations("Met hoeveel neemt het aantal vacatures toe?") == [Operation.difference]


# -- from X to Y -----------------------------------------------------------------------------------


def test_from_to_difference() -> None:
    figure, used = one_figure("Met hoeveel mensen groeit de krijgsmacht?", KRIJGSMACHT)
    assert figure.value == 130_000
    assert figure.display == "130.000"
    assert figure.expression == "200 duizend − 70 duizend"
    assert used == [KRIJGSMACHT]


def test_from_to_reads_a_bare_second_amount_at_the_first_ones_scale() -> None:
    figure, used = one_figure("Met hoeveel loopt de basisfinanciering op tussen 2025 en 2035?", BASISFINANCIERING)
    assert figure.display == "€ 16,1 miljoen"
    # Money keeps the scale the source writes it in: value 16,1 with unit "€ miljoen".
    assert figure.unit == "€ miljoen"
    assert figure.value == pytest.approx(16.1)
    assert figure.expression == "€ 35,9 − € 19,8 miljoen"
    assert used == [BASISFINANCIERING]


def test_from_to_with_a_percentage_change_too() -> None:
    figures, used, note = run("Met hoeveel procent groeit de krijgsmacht?", KRIJGSMACHT)
    assert note == "" and [u.text for u in used] == [KRIJGSMACHT]
    change = next(f for f in figures if f.unit == "%")
    assert change.value == pytest.approx(185.714, abs=0.01)
    assert change.display == "185,7%"
    assert change.expression == "(200 duizend − 70 duizend) / 70 duizend × 100"


def test_from_to_fall_is_negative() -> None:
    sentence = "Het aantal werkzoekenden in de regio daalde van 12.400 naar 9.800."
    figure, used = one_figure("Met hoeveel is het aantal werkzoekenden gedaald?", sentence)
    assert figure.value == -2600 and figure.display == "-2.600"
    assert figure.expression == "9.800 − 12.400"
    assert used == [sentence]


def test_from_to_of_percentages_is_in_percentage_points() -> None:
    sentence = "De werkloosheid in de regio steeg van 3,4% naar 3,9%."
    figure, _ = one_figure("Met hoeveel is de werkloosheid gestegen?", sentence)
    assert figure.value == pytest.approx(0.5)
    assert figure.display == "0,5 procentpunt" and figure.unit == "procentpunt"
    assert figure.expression == "3,9% − 3,4%"


def test_from_to_in_a_sentence_that_does_not_share_a_word_with_the_question_is_not_used() -> None:
    assert_refused(run("Met hoeveel mensen groeit de krijgsmacht?", "Het budget gaat van 70 duizend naar 200 duizend."))


# -- A tegen B -------------------------------------------------------------------------------------


def test_versus_difference_in_percentage_points() -> None:
    figure, used = one_figure(
        "Wat is het verschil in arbeidsdeelname tussen vrouwelijke en mannelijke statushouders?", STATUSHOUDERS
    )
    assert figure.value == 30
    assert figure.display == "30 procentpunt"
    assert figure.unit == "procentpunt"
    assert figure.expression == "47% − 17%"
    assert used == [STATUSHOUDERS]


def test_versus_assigns_the_numbers_in_the_order_the_sentence_names_the_sides() -> None:
    sentence = "Mannelijke statushouders werken veel vaker dan de vrouwelijke statushouders (47% tegen 17%)."
    figure, _ = one_figure("Wat is het verschil tussen vrouwelijke en mannelijke statushouders?", sentence)
    assert figure.value == 30 and figure.expression == "47% − 17%"


def test_versus_with_different_units_computes_nothing() -> None:
    sentence = "Vrouwelijke statushouders werken veel minder vaak dan de mannelijke statushouders (17% tegen 4.700)."
    assert_refused(run("Wat is het verschil tussen vrouwelijke en mannelijke statushouders?", sentence))


CONTRAST_YEARS = ("In het eerste kwartaal van 2024 ging het om 41.000 starters (9% van alle werkenden), "
                  "tegenover 56.000 (12%) in het eerste kwartaal van 2014.")


def test_difference_from_the_two_sides_of_a_contrast() -> None:
    """Each side of 'tegenover' names its own year and its own figures; the count is taken first."""
    figure, used = one_figure("Met hoeveel is het aantal starters gedaald tussen 2014 en 2024?", CONTRAST_YEARS)
    assert figure.value == -15_000
    assert figure.expression == "41.000 − 56.000"
    assert set(used) == {CONTRAST_YEARS}  # both operands from the one sentence


def test_percentage_points_from_the_two_sides_of_a_contrast() -> None:
    figure, _ = one_figure("Met hoeveel procentpunt is het aandeel starters gedaald tussen 2014 en 2024?", CONTRAST_YEARS)
    assert figure.value == -3
    assert figure.unit == "procentpunt"


@pytest.mark.parametrize("sentence", [
    "In 2014 en in 2024 ging het om 41.000 starters, tegenover 56.000 bij de zzp'ers.",  # both years on one side
    "In 2024 ging het om 41.000 starters en in 2014 om 56.000 werkenden met (12%) meer.",  # no contrast word
])
def test_a_contrast_needs_one_anchor_on_each_side(sentence: str) -> None:
    from assistant.calculate import clause_pair

    [unit] = units_of(sentence)
    assert clause_pair(unit, "2014", "2024", prefer_counts=True) is None


# -- back-calculation from a forecast --------------------------------------------------------------


def test_base_level_from_a_fall() -> None:
    figure, used = one_figure(
        "Hoeveel banen van zelfstandigen waren er in 2024, als je terugrekent vanaf 2027?", ZELFSTANDIGEN
    )
    assert figure.value == 96_700
    assert figure.display == "96.700"
    assert figure.expression == "92.100 + 4.600"
    assert used == [ZELFSTANDIGEN]


def test_base_level_from_a_rise() -> None:
    sentence = "Tussen 2024 en 2027 groeit het aantal werknemersbanen naar verwachting met 6.300 tot 180.400."
    figure, used = one_figure("Hoeveel werknemersbanen waren er in 2024, als je terugrekent vanaf 2027?", sentence)
    assert figure.value == 174_100
    assert figure.display == "174.100"
    assert figure.expression == "180.400 − 6.300"
    assert used == [sentence]


def test_base_level_from_a_percentage_only_change() -> None:
    sentence = "Tussen 2024 en 2027 groeit het aantal werknemersbanen naar verwachting met 2,5% tot 180.000."
    figure, used = one_figure("Hoeveel werknemersbanen waren er in 2024, als je terugrekent vanaf 2027?", sentence)
    assert figure.value == 175_600  # 180.000 / 1,025 = 175.609,8, rounded to hundreds
    assert figure.display == "175.600"
    assert figure.expression == "180.000 / (1 + 2,5%)"
    assert used == [sentence]


def test_base_level_from_a_percentage_only_fall() -> None:
    sentence = "Tussen 2024 en 2027 daalt het aantal banen van zelfstandigen met 4,8% tot 92.100."
    figure, _ = one_figure("Hoeveel banen van zelfstandigen waren er in 2024, als je terugrekent?", sentence)
    assert figure.value == 96_700  # 92.100 / 0,952 = 96.743
    assert figure.expression == "92.100 / (1 − 4,8%)"


def test_base_level_without_an_end_level_computes_nothing() -> None:
    assert_refused(run(
        "Hoeveel banen van zelfstandigen waren er in 2024, als je terugrekent vanaf 2027?",
        "Tussen 2024 en 2027 daalt het aantal banen van zelfstandigen naar verwachting met 4.600.",
    ))


# -- per year --------------------------------------------------------------------------------------


def test_per_year_over_an_inclusive_span() -> None:
    figure, used = one_figure("Hoeveel ontvangen gemeenten gemiddeld per jaar voor de aanpak?", BUDGET)
    assert figure.value == pytest.approx(24.6)
    assert figure.display == "€ 24,6 miljoen"
    assert figure.unit == "€ miljoen"
    assert figure.expression == "€73,8 miljoen / 3 jaar"
    assert used == [BUDGET]


def test_per_year_without_a_span_of_years_computes_nothing() -> None:
    assert_refused(run(
        "Hoeveel ontvangen gemeenten gemiddeld per jaar voor de aanpak?",
        "Gemeenten ontvangen een bedrag van €73,8 miljoen voor de aanpak.",
    ))


# -- rate x base -----------------------------------------------------------------------------------


def test_part_of_base_from_a_rate() -> None:
    figure, used = one_figure("Hoeveel werknemers van 60 tot 67 jaar werken er ongeveer in de zorg?", ZORG)
    assert figure.value == 3900
    assert figure.display == "ongeveer 3.900"
    assert figure.expression == "54% × 7.200 = 3.888"
    assert used == [ZORG]


def test_part_of_base_needs_the_base() -> None:
    sentence = "In de publieke sectoren werken veel oudere werknemers, waarvan ruim de helft (54%) in de zorg."
    assert_refused(run("Hoeveel werknemers werken er ongeveer in de zorg?", sentence), note_required=False)


def test_part_of_base_only_for_the_part_the_question_names() -> None:
    assert_refused(run("Hoeveel werknemers werken er ongeveer in de bouw?", ZORG), note_required=False)


# -- sums ------------------------------------------------------------------------------------------


def test_list_total() -> None:
    figure, used = one_figure("Hoeveel instellingen zijn er in totaal in de regio?", INSTELLINGEN)
    assert figure.value == 44
    assert figure.display == "44"
    assert figure.expression == "28 + 5 + 11"
    assert used == [INSTELLINGEN]


def test_list_total_needs_a_list() -> None:
    result = run("Hoeveel instellingen zijn er in totaal in de regio?", "In de regio zijn 28 instellingen actief.")
    assert_refused(result, note_required=False)


def test_list_total_does_not_add_different_things() -> None:
    figures, _, _ = run("Hoeveel vacatures zijn er in totaal?", "In 2024 waren er 300 vacatures en 200 werkzoekenden.")
    assert figures == []


# -- arithmetic over all units: per unit, and a rate over all units --------------------------------

PER_REGION = "Dit komt neer op ongeveer 0,8 fte voor jongerenorganisaties per arbeidsmarktregio."
ALL_REGIONS = "Uiterlijk in 2026 werken alle 35 arbeidsmarktregio’s met een meerjarenagenda."
BUDGET_ALL = "Met jaarlijks ongeveer € 2,1 miljard aan subsidies zijn gemeenten een grote financier."
ALL_EMPLOYERS = "Alle 420.000 werkgevers in Nederland moeten bij de Werkcentra terecht kunnen."
RATE_EMPLOYERS = "Uit onderzoek blijkt dat 3 op de 10 werkgevers een vacature moeilijk vervult."


@pytest.mark.parametrize(("question", "expected"), [
    ("Als elke regio 2 fte per arbeidsmarktregio krijgt, hoeveel fte is dat landelijk?", Operation.scale_up),
    ("Het budget is 5 miljoen. Hoeveel is dat gemiddeld per werkgever?", Operation.per_unit),
    ("Hoeveel vacatures stonden er gemiddeld per kwartaal open?", None),  # a period, not a unit to share over
    ("Hoeveel uur per week werken deeltijders?", None),
    ("Hoeveel fte krijgt SBB per arbeidsmarktregio?", Operation.per_unit),
])
def test_unit_operations_recognised(question: str, expected: Operation | None) -> None:
    operations = wanted_operations(question)
    if expected is None:
        assert Operation.per_unit not in operations and Operation.scale_up not in operations
    else:
        assert expected in operations


def test_a_rate_per_unit_over_all_units() -> None:
    figure, used = one_figure(
        "Als jongerenorganisaties 0,8 fte per arbeidsmarktregio krijgen, hoeveel fte is dat landelijk?",
        PER_REGION, ALL_REGIONS)
    assert figure.value == pytest.approx(28.0)
    assert figure.display == "28 fte"
    assert figure.expression == "0,8 fte × 35"
    assert used == [PER_REGION, ALL_REGIONS]


def test_a_rate_out_of_ten_over_all_units() -> None:
    figure, used = one_figure(
        "3 op de 10 werkgevers vervult een vacature moeilijk. Hoeveel werkgevers zijn dat in heel Nederland?",
        RATE_EMPLOYERS, ALL_EMPLOYERS)
    assert figure.value == pytest.approx(126_000)
    assert figure.display == "126.000"
    assert used == [RATE_EMPLOYERS, ALL_EMPLOYERS]


def test_an_amount_per_unit_with_the_count_from_the_corpus() -> None:
    """The count of all units need not be retrieved: the lookup finds it in the corpus."""
    [whole] = units_of(ALL_EMPLOYERS, chunk=7)
    looked_up: list[str] = []

    def lookup(stem: str) -> list[Unit]:
        looked_up.append(stem)
        return [whole]

    question = "Gemeenten geven jaarlijks zo'n 2,1 miljard aan subsidies. Hoeveel is dat gemiddeld per werkgever?"
    figures, used, note = compute(ANALYZER.analyze(question), units_of(BUDGET_ALL), lookup)
    assert note == "" and looked_up
    (figure,) = figures
    assert figure.value == pytest.approx(5000)
    assert figure.display == "€ 5.000"
    assert figure.expression == "€ 2,1 miljard / 420.000"
    assert [u.text for u in used] == [BUDGET_ALL, ALL_EMPLOYERS]


def test_over_all_units_needs_the_rate_in_a_source_and_the_count_of_all() -> None:
    # the rate named in the question stands in no source sentence: nothing to trace it to
    figures, _, _ = run("Als elke regio 0,9 fte per arbeidsmarktregio krijgt, hoeveel fte is dat landelijk?",
                        PER_REGION, ALL_REGIONS)
    assert figures == []
    # the count of all units is missing: the note says so, without a digit
    figures, used, note = run(
        "Als jongerenorganisaties 0,8 fte per arbeidsmarktregio krijgen, hoeveel fte is dat landelijk?", PER_REGION)
    assert figures == [] and used == [] and "arbeidsmarktregio" in note and not re.search(r"\d", note)
    # a count that does not say it counts all of them ("35 arbeidsmarktregio's doen mee") is no total
    figures, _, _ = run(
        "Als jongerenorganisaties 0,8 fte per arbeidsmarktregio krijgen, hoeveel fte is dat landelijk?",
        PER_REGION, "In de pilot doen 12 arbeidsmarktregio’s mee.")
    assert figures == []


# -- shares across two sentences of one source -----------------------------------------------------

PART = "Van de ingeschreven werkzoekenden hebben er 7.390 een bijstandsuitkering."
WHOLE = "In de regio zijn in totaal 20.000 werkzoekenden ingeschreven."
SHARE_QUESTION = "Welk percentage van de werkzoekenden heeft een bijstandsuitkering?"


def test_share_across_two_sentences_of_one_source() -> None:
    figures, used, note = run(SHARE_QUESTION, PART, WHOLE)
    assert note == ""
    (figure,) = figures
    assert figure.value == pytest.approx(36.95)
    assert figure.display == "37%"
    assert figure.unit == "%"
    assert figure.expression == "7.390 / 20.000 × 100"
    assert [u.text for u in used] == [PART, WHOLE]


def test_share_across_two_sources_computes_nothing() -> None:
    units = units_of(PART, source_id="bron-a") + units_of(WHOLE, source_id="bron-b", chunk=2)
    assert_refused(compute(ANALYZER.analyze(SHARE_QUESTION), units))


@pytest.mark.parametrize("sentences", [[PART], [WHOLE]])
def test_share_across_needs_part_and_whole(sentences: list[str]) -> None:
    assert_refused(run(SHARE_QUESTION, *sentences))


# -- differences anchored on places ----------------------------------------------------------------

PLACE_QUESTION = "Hoeveel meer banen zijn er in Amersfoort dan in Groningen?"


def test_place_difference_across_sentences_that_measure_the_same() -> None:
    a = "In Amersfoort zijn 22.000 banen in de zorg."
    g = "In Groningen zijn 15.000 banen in de zorg."
    figure, used = one_figure(PLACE_QUESTION, a, g)
    assert figure.value == 7000 and figure.display == "7.000"
    assert figure.expression == "22.000 − 15.000"
    assert sorted(used) == sorted([a, g])


def test_place_difference_across_sentences_that_measure_different_things() -> None:
    assert_refused(run(PLACE_QUESTION, "In Amersfoort zijn 22.000 banen in de zorg.",
                       "In Groningen wonen 15.000 mensen met een uitkering."))


def test_the_place_names_themselves_do_not_make_two_numbers_the_same_measure() -> None:
    # Both sentences name Groningen next to their number; that is no shared measure.
    assert_refused(run(
        "Hoeveel meer vacatures zijn er in Amersfoort dan in Groningen?",
        "Vergeleken met Groningen heeft Amersfoort 22.000 vacatures.",
        "Groningen telt 15.000 inwoners met een uitkering.",
    ))


def test_a_generic_shared_word_is_no_shared_measure() -> None:
    # "mensen" says nothing about what is counted: care workers and building workers differ.
    assert_refused(run(PLACE_QUESTION, "In Amersfoort werken 22.000 mensen in de zorg.",
                       "In Groningen werken 15.000 mensen in de bouw."))


def test_rate_times_base_takes_the_base_count_not_an_age() -> None:
    figure, _ = one_figure(
        "Hoeveel oudere werknemers in de zorg gaan ongeveer met pensioen?",
        "Er werken 7.200 werknemers van 60 jaar of ouder, waarvan ruim de helft (54%) in de zorg.",
    )
    assert figure.value == 3900 and "7.200" in figure.expression


@pytest.mark.parametrize("question", [
    "Hoeveel neemt het aantal banen toe tussen 2025 en 2035?",
    "Hoeveel is het aantal vacatures gestegen tussen 2019 en 2025?",
])
def test_change_questions_without_met_hoeveel(question: str) -> None:
    assert wanted_operations(question) == [Operation.difference]


def test_place_difference_with_different_units_computes_nothing() -> None:
    assert_refused(run(PLACE_QUESTION, "In Amersfoort zijn 22.000 banen in de zorg.",
                       "In Groningen zijn 15% van de banen in de zorg."))


def test_place_difference_with_one_place_missing_names_it() -> None:
    figures, used, note = run(PLACE_QUESTION, "In Amersfoort zijn 22.000 banen in de zorg.")
    assert_refused((figures, used, note))
    assert "Groningen" in note


def test_missing_operand_of_a_from_to_change() -> None:
    assert_refused(run("Met hoeveel mensen groeit de krijgsmacht?", "De krijgsmacht groeit naar 200 duizend personen."))


def test_from_to_with_different_units_computes_nothing() -> None:
    assert_refused(run("Met hoeveel mensen groeit de krijgsmacht?",
                       "De krijgsmacht groeit van 70 duizend naar 20% van de beroepsbevolking."))


# -- safety: no string is ever evaluated -----------------------------------------------------------


def test_calculate_module_calls_no_eval_exec_or_compile() -> None:
    tree = ast.parse(Path(calculate.__file__).read_text(encoding="utf-8"))
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert not called & {"eval", "exec", "compile", "__import__"}


def test_compute_never_evaluates_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a string was evaluated")

    monkeypatch.setattr(builtins, "eval", refuse)
    monkeypatch.setattr(builtins, "exec", refuse)
    cases = [
        ("Met hoeveel mensen groeit de krijgsmacht?", [KRIJGSMACHT]),
        ("Met hoeveel loopt de basisfinanciering op?", [BASISFINANCIERING]),
        ("Wat is het verschil tussen vrouwelijke en mannelijke statushouders?", [STATUSHOUDERS]),
        ("Hoeveel banen van zelfstandigen waren er in 2024, als je terugrekent vanaf 2027?", [ZELFSTANDIGEN]),
        ("Hoeveel ontvangen gemeenten gemiddeld per jaar voor de aanpak?", [BUDGET]),
        ("Hoeveel werknemers werken er ongeveer in de zorg?", [ZORG]),
        ("Hoeveel instellingen zijn er in totaal in de regio?", [INSTELLINGEN]),
        (SHARE_QUESTION, [PART, WHOLE]),
        # A sentence that looks like code stays text.
        ("Met hoeveel mensen groeit de krijgsmacht?", ["De krijgsmacht groeit van __import__('os') naar 1/0 personen."]),
    ]
    computed = 0
    for question, sentences in cases:
        figures, _, _ = run(question, *sentences)
        computed += len(figures)
        for figure in figures:
            assert isinstance(figure.value, float)
    assert computed >= len(cases) - 1


# -- property: a from-to difference is b - a -------------------------------------------------------

AMOUNTS = st.one_of(
    st.integers(min_value=1, max_value=9_999_999).map(float),
    st.integers(min_value=1, max_value=99_999).map(lambda n: n / 10),
)


@settings(max_examples=150, deadline=None)
@given(a=AMOUNTS, b=AMOUNTS)
def test_from_to_difference_is_b_minus_a(a: float, b: float) -> None:
    sentence = f"Het aantal werknemers in de regio groeit van {format_number(a)} naar {format_number(b)} personen."
    figures, used, note = run("Met hoeveel is het aantal werknemers gegroeid?", sentence)
    assert note == "" and [u.text for u in used] == [sentence]
    (figure,) = figures
    assert figure.value == pytest.approx(b - a, abs=1e-6)
    assert figure.expression == f"{format_number(b)} − {format_number(a)}"
    shown = parse_number(figure.display)
    assert shown is not None and shown == pytest.approx(b - a, abs=0.051)


@settings(max_examples=150, deadline=None)
@given(a=AMOUNTS, b=AMOUNTS)
def test_from_to_difference_of_plain_money_is_b_minus_a(a: float, b: float) -> None:
    sentence = f"Het budget van de regio stijgt van € {format_number(a)} naar € {format_number(b)}."
    figures, _, note = run("Met hoeveel stijgt het budget?", sentence)
    assert note == ""
    (figure,) = figures
    assert figure.unit == "€"
    assert figure.value == pytest.approx(b - a, abs=1e-6)
    shown = [q for q in find_quantities(figure.display) if q.unit == "€"]
    assert shown and shown[0].value == pytest.approx(b - a, abs=0.51)


SHARES_BY_SEX = "Nederland: 18 procent van de mannen en 65 procent van de vrouwen heeft een deeltijdbaan."
COUNTS_BY_SEX = "In 2023 behoorden 230 duizend mannen en 354 duizend vrouwen tot het onbenut arbeidspotentieel."


def test_a_count_question_takes_the_counts_before_a_better_ranked_pair_of_percentages() -> None:
    # "hoeveel meer ... dan ..." asks a number of people: the percentages are the wrong unit
    figure, used = one_figure("Hoeveel meer vrouwen dan mannen zitten er in het onbenut arbeidspotentieel?",
                              SHARES_BY_SEX, COUNTS_BY_SEX)
    assert figure.value == pytest.approx(124_000)
    assert used == [COUNTS_BY_SEX, COUNTS_BY_SEX] or used == [COUNTS_BY_SEX]


def test_a_percentage_question_keeps_the_percentages() -> None:
    figure, used = one_figure("Hoeveel meer vrouwen dan mannen hebben een deeltijdbaan, als percentage?",
                              SHARES_BY_SEX, COUNTS_BY_SEX)
    assert figure.value == pytest.approx(47)
    assert set(used) == {SHARES_BY_SEX}
