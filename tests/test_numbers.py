"""Dutch number parsing, finding and formatting (ingest/numbers.py): examples for every form, the
cases that must not be quantities, and bounded property tests (round trips, spans, robustness)."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.numbers import Quantity, find_quantities, format_number, format_quantity, parse_number, same_value

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def found(text: str) -> list[tuple[str, float, str, str]]:
    """(text, value, unit, kind) of every quantity found; values rounded to dodge float noise."""
    return [(q.text, round(q.value, 4), q.unit, q.kind) for q in find_quantities(text)]


def only(text: str) -> Quantity:
    quantities = find_quantities(text)
    assert len(quantities) == 1, quantities
    return quantities[0]


# ---------------------------------------------------------------------------------------------
# parse_number


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("9.500", 9500.0),
        ("176.600", 176600.0),
        ("3,5", 3.5),
        ("1.234,5", 1234.5),
        ("1.234.567,89", 1234567.89),
        ("-4,2", -4.2),
        ("+2,8", 2.8),
        ("−600", -600.0),  # Unicode minus
        ("12", 12.0),
        ("0", 0.0),
        ("0,05", 0.05),
        (" 9.500 ", 9500.0),
        ("1234", 1234.0),
        # A dot followed by one or two digits cannot be thousands grouping: a decimal point.
        ("1.5", 1.5),
        ("12.25", 12.25),
        ("1.500", 1500.0),
    ],
)
def test_parse_number(text: str, value: float) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize(
    "text",
    ["", " ", "abc", "1.2345", "12.3456", "1.23.456", "1,2,3", "9 500", "2024-2027", ",5", "1,", "--4",
     "3,5%", "4x", "1.5.3", "١٢", "1e5", "inf", "nan", "9" * 400],
)
def test_parse_number_rejects(text: str) -> None:
    assert parse_number(text) is None


def test_scaled_decimals_are_exact() -> None:
    # 4.1 * 1e6 is 4099999.9999999995 in floats; the finder must say 4100000.
    assert only("4,1 mln").value == 4_100_000.0
    assert only("€ 8,2 miljoen").value == 8_200_000.0
    assert only("16,1 duizend").value == 16_100.0


@PROPERTY
@given(st.integers(min_value=0, max_value=10**7), st.sampled_from([("duizend", 3), ("mln", 6), ("miljard", 9)]))
def test_scaled_values_are_exact(tenths: int, scale: tuple[str, int]) -> None:
    word, exponent = scale
    q = only(f"{format_number(tenths / 10)} {word}")
    assert q.value == tenths * 10 ** (exponent - 1)


def test_absurdly_long_numbers_are_skipped_not_fatal() -> None:
    digits = "9" * 5000  # longer than int() accepts from a string
    assert parse_number(digits) is None
    text = f"{digits} banen en 3,5% meer"
    start = text.index("3,5%")
    assert find_quantities(text) == [Quantity(3.5, "%", "percent", "3,5%", start, start + 4)]


# ---------------------------------------------------------------------------------------------
# find_quantities: every form


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Er komen 9.500 banen bij.", [("9.500", 9500, "", "number")]),
        ("176.600", [("176.600", 176600, "", "number")]),
        ("3,5%", [("3,5%", 3.5, "%", "percent")]),
        ("3,5 %", [("3,5 %", 3.5, "%", "percent")]),
        ("3,5 procent", [("3,5 procent", 3.5, "%", "percent")]),
        ("1,2 mln", [("1,2 mln", 1_200_000, "", "number")]),
        ("Het CBS telt 1,2 mln. personen", [("1,2 mln", 1_200_000, "", "number")]),
        ("1,1 miljoen", [("1,1 miljoen", 1_100_000, "", "number")]),
        ("792 duizend", [("792 duizend", 792_000, "", "number")]),
        ("130 duizend", [("130 duizend", 130_000, "", "number")]),
        ("1.114 duizend", [("1.114 duizend", 1_114_000, "", "number")]),
        ("€ 35,9 miljoen", [("€ 35,9 miljoen", 35_900_000, "€", "money")]),
        ("€35,9 mln", [("€35,9 mln", 35_900_000, "€", "money")]),
        ("€ 4,4 miljard", [("€ 4,4 miljard", 4_400_000_000, "€", "money")]),
        ("circa 5.000 euro extra", [("5.000 euro", 5000, "€", "money")]),
        ("€ 1.500,-", [("€ 1.500,-", 1500, "€", "money")]),
        ("4x zoveel vacatures", [("4x", 4, "x", "multiplier")]),
        ("4 keer", [("4 keer", 4, "x", "multiplier")]),
        ("8,9 fte", [("8,9 fte", 8.9, "fte", "number")]),
        ("100.000 fte", [("100.000 fte", 100_000, "fte", "number")]),
        ("16 uur per week", [("16 uur", 16, "uur", "number")]),
        ("0,5 procentpunt", [("0,5 procentpunt", 0.5, "procentpunt", "percent")]),
        ("1,2 procentpunten", [("1,2 procentpunten", 1.2, "procentpunt", "percent")]),
        # English-style decimal only where a unit makes it a quantity.
        ("3.5%", [("3.5%", 3.5, "%", "percent")]),
        ("driekwart van de bedrijven", [("driekwart", 75, "%", "word")]),
        ("bijna de helft van de", [("de helft", 50, "%", "word")]),
        ("Bijna helft", [("helft", 50, "%", "word")]),
        ("Ruim een derde van hen", [("een derde", 33.3333, "%", "word")]),
        ("twee derde van de werkgevers", [("twee derde", 66.6667, "%", "word")]),
        ("ruim een kwart van het", [("een kwart", 25, "%", "word")]),
        ("zes op de tien werknemers", [("zes op de tien", 60, "%", "word")]),
        ("Ruim 7 op de 10", [("7 op de 10", 70, "%", "word")]),
        ("twee keer zo veel", [("twee keer", 2, "x", "word")]),
        ("drie keer zoveel", [("drie keer", 3, "x", "word")]),
        ("Het aantal is verdubbeld.", [("verdubbeld", 2, "x", "word")]),
        ("een halvering", [("halvering", 0.5, "x", "word")]),
        ("Meer dan een half miljoen deeltijders", [("een half miljoen", 500_000, "", "word")]),
    ],
)
def test_find_quantities_forms(text: str, expected: list[tuple[str, float, str, str]]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    ("text", "value", "sign"),
    [("+2,8%", 2.8, 1), ("-4,2%", -4.2, -1), ("−4,2%", -4.2, -1), ("–4,2%", -4.2, -1),
     ("(+3,5%)", 3.5, 1), ("(-19.000)", -19000, -1), ("−600", -600, -1), ("-€ 600", -600, -1),
     ("€ -600", -600, -1), ("3,5%", 3.5, 0)],
)
def test_explicit_sign(text: str, value: float, sign: int) -> None:
    q = only(text)
    assert (q.value, q.sign) == (value, sign)


@pytest.mark.parametrize(
    ("text", "written", "low", "high", "unit"),
    [
        ("werknemers van 60 tot 67 jaar", "60 tot 67 jaar", 60, 67, "jaar"),
        ("tussen 25 en 45 jaar", "tussen 25 en 45 jaar", 25, 45, "jaar"),
        ("tussen de 60 en 67 jaar oud", "tussen de 60 en 67 jaar", 60, 67, "jaar"),
        ("jongeren (15-25 jaar)", "15-25 jaar", 15, 25, "jaar"),
        ("25- tot 45-jarigen", "25- tot 45-jarigen", 25, 45, "jaar"),
        ("tussen 3 en 4%", "tussen 3 en 4%", 3, 4, "%"),
        ("tussen de 0% en 1%", "tussen de 0% en 1%", 0, 1, "%"),
        ("3 - 4 procent", "3 - 4 procent", 3, 4, "%"),
        ("een score tussen 0 en 100", "tussen 0 en 100", 0, 100, ""),
        ("1 tot 2 miljoen", "1 tot 2 miljoen", 1_000_000, 2_000_000, ""),
        ("tussen € 2 en € 3 mln", "tussen € 2 en € 3 mln", 2_000_000, 3_000_000, "€"),
        ("2 tot 3 keer zo veel", "2 tot 3 keer", 2, 3, "x"),
    ],
)
def test_ranges(text: str, written: str, low: float, high: float, unit: str) -> None:
    q = only(text)
    assert (q.text, q.value, q.high, q.unit, q.kind) == (written, low, high, unit, "range")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Without "tussen" a range needs a unit; a falling "van 6 tot 3%" is a change, not a range.
        ("van 400 tot 500", [("400", 400, "", "number"), ("500", 500, "", "number")]),
        ("daalt van 6 tot 3%", [("6", 6, "", "number"), ("3%", 3, "%", "percent")]),
        ("de komende 10 jaar tot 5% van het bbp", [("10 jaar", 10, "jaar", "number"), ("5%", 5, "%", "percent")]),
        ("12 en 15 jaar", [("12", 12, "", "number"), ("15 jaar", 15, "jaar", "number")]),
        # A chart axis: two negative percentages on separate lines, not a range.
        ("-2%\n-1%", [("-2%", -2, "%", "percent"), ("-1%", -1, "%", "percent")]),
    ],
)
def test_not_ranges(text: str, expected: list[tuple[str, float, str, str]]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("in 2025", [("2025", 2025, "", "year")]),
        ("eind 2027.", [("2027", 2027, "", "year")]),
        ("(2019)", [("2019", 2019, "", "year")]),
        ("2024-2027", [("2024", 2024, "", "year"), ("2027", 2027, "", "year")]),
        ("2024–2027", [("2024", 2024, "", "year"), ("2027", 2027, "", "year")]),
        ("realisatie 2019 – 2024 en prognose 2025 - 2027",
         [("2019", 2019, "", "year"), ("2024", 2024, "", "year"), ("2025", 2025, "", "year"), ("2027", 2027, "", "year")]),
        ("2024/2025", [("2024", 2024, "", "year"), ("2025", 2025, "", "year")]),
        ("schooljaar 2025-26", [("2025", 2025, "", "year"), ("26", 2026, "", "year")]),
        ("tussen 2005 en 2016", [("2005", 2005, "", "year"), ("2016", 2016, "", "year")]),
        ("t/m 2028", [("2028", 2028, "", "year")]),
        ("Regio in Beeld 2025-2026 Amersfoort", [("2025", 2025, "", "year"), ("2026", 2026, "", "year")]),
        ("In 2023 - 45% van", [("2023", 2023, "", "year"), ("45%", 45, "%", "percent")]),
        # Not standing alone: a unit, currency, scale or sign makes it that kind of quantity.
        ("2025 euro", [("2025 euro", 2025, "€", "money")]),
        ("1.950 banen", [("1.950", 1950, "", "number")]),
        ("1949 en 2100", [("1949", 1949, "", "number"), ("2100", 2100, "", "number")]),
        ("−2025 en +1990", [("−2025", -2025, "", "number"), ("+1990", 1990, "", "number")]),
    ],
)
def test_years(text: str, expected: list[tuple[str, float, str, str]]) -> None:
    assert found(text) == expected


def test_year_range_is_never_negative() -> None:
    for text in ("2024-2027", "2024–2027", "2019 – 2024", "2019 -2024", "2025 - 2027"):
        assert [q.value for q in find_quantities(text)] == [float(text[:4]), float(text[-4:])], text
        assert all(q.kind == "year" and q.sign == 0 for q in find_quantities(text))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("in het tweede kwartaal van 2025",
         [("tweede kwartaal", 2, "", "quarter"), ("2025", 2025, "", "year")]),
        ("Q2", [("Q2", 2, "", "quarter")]),
        ("In Q3 en Q4", [("Q3", 3, "", "quarter"), ("Q4", 4, "", "quarter")]),
        ("het 2e kwartaal", [("2e kwartaal", 2, "", "quarter")]),
        ("sinds het 1e kwartaal van 2022", [("1e kwartaal", 1, "", "quarter"), ("2022", 2022, "", "year")]),
        ("het vierde kwartaal", [("vierde kwartaal", 4, "", "quarter")]),
        ("kwartaal 3", [("kwartaal 3", 3, "", "quarter")]),
        # Not quarters: no number with it.
        ("een kwartaal later", []),
        ("vijftien kwartalen op rij", []),
    ],
)
def test_quarters(text: str, expected: list[tuple[str, float, str, str]]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 januari 2026", [("2026", 2026, "", "year")]),
        ("op 31 oktober 2025 haar eerste vestiging", [("2025", 2025, "", "year")]),
        ("per 1 jan. 2026", [("2026", 2026, "", "year")]),
        ("De Kamerbrief van 29 april schetst", []),
        ("31-10-2025", [("2025", 2025, "", "year")]),
        ("2025-10-31", [("2025", 2025, "", "year")]),
        ("in december 2024", [("2024", 2024, "", "year")]),
        # Not dates: no such day or month. "2025-10" is a month, not the period 2025-2010.
        ("45 mei 2025", [("45", 45, "", "number"), ("2025", 2025, "", "year")]),
        ("12-15-2024", [("12", 12, "", "number"), ("15", 15, "", "number"), ("2024", 2024, "", "year")]),
        ("2025-10", [("2025", 2025, "", "year"), ("10", 10, "", "number")]),
    ],
)
def test_dates_keep_only_the_year(text: str, expected: list[tuple[str, float, str, str]]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Figure, table, section and box references.
        ("zie afbeelding 3.2", []),
        ("Afbeelding 2.2 Ontwikkeling banen", []),
        ("zie paragraaf 2.3).", []),
        ("Box 4.1 Meer oproepcontracten", []),
        ("In tabel 2 staat", []),
        ("in hoofdstuk 6 laten zien", []),
        ("§ 2.3", []),
        ("tabellen 1 en 2 tonen 45%", [("45%", 45, "%", "percent")]),
        ("Tabel 1, 2025", [("2025", 2025, "", "year")]),
        ("werkt per week 16 uur", [("16 uur", 16, "uur", "number")]),
        # A bare dotted number is a section or version number.
        ("3.2 Openstaande vacatures", []),
        ("versie 1.1", []),
        ("meerjarenagenda-v1.1", []),
        # Footnote markers glued to a word or to closing punctuation.
        ("digitale banen1.", []),
        ("het CBS2 is gebleken", []),
        ("145 duizend mensen).14", [("145 duizend", 145_000, "", "number")]),
        ("korter dan twee jaar blijft.6", []),
        ("was dit 79%.2", [("79%", 79, "%", "percent")]),
        ("was dit 53 procent.73", [("53 procent", 53, "%", "percent")]),
        # Labels and ordinals.
        ("Nederland, EU-27", []),
        ("een mbo-4 diploma", []),
        ("hun 67e verjaardag", []),
        ("de eerste helft van 2025", [("2025", 2025, "", "year")]),
        ("een derde partij", []),
        ("halverwege 2025", [("2025", 2025, "", "year")]),
        ("twee keer per jaar", []),
        # Ratios and fractions of more than the whole are not shares.
        ("12 op de 10", [("12", 12, "", "number"), ("10", 10, "", "number")]),
        ("vier kwart", []),
        ("", []),
        ("geen getallen hier", []),
    ],
)
def test_must_not_match(text: str, expected: list[tuple[str, float, str, str]]) -> None:
    assert found(text) == expected


def test_running_text_from_a_report() -> None:
    text = ("In het tweede kwartaal van 2025 telde Amersfoort 176.600 werknemersbanen (+2,8%), "
            "1,2 mln. mensen in het onbenut arbeidspotentieel (zie afbeelding 4.2) en € 35,9 miljoen "
            "budget voor 2024-2027; driekwart van de werkgevers1 verwacht 4x zoveel vacatures.")
    assert found(text) == [
        ("tweede kwartaal", 2, "", "quarter"),
        ("2025", 2025, "", "year"),
        ("176.600", 176_600, "", "number"),
        ("+2,8%", 2.8, "%", "percent"),
        ("1,2 mln", 1_200_000, "", "number"),
        ("€ 35,9 miljoen", 35_900_000, "€", "money"),
        ("2024", 2024, "", "year"),
        ("2027", 2027, "", "year"),
        ("driekwart", 75, "%", "word"),
        ("4x", 4, "x", "multiplier"),
    ]


def test_spans_point_into_the_input() -> None:
    text = "Tussen 25 en 45 jaar: 3,5 % en € 35,9 miljoen in Q2 2025."
    for q in find_quantities(text):
        assert text[q.start:q.end] == q.text


# ---------------------------------------------------------------------------------------------
# Formatting and comparing


@pytest.mark.parametrize(
    ("value", "decimals", "written"),
    [
        (176600, None, "176.600"),
        (176600.0, None, "176.600"),
        (3.5, None, "3,5"),
        (-600, None, "-600"),
        (1234.5, None, "1.234,5"),
        (1234.56, None, "1.234,6"),  # one decimal from 10 up
        (3.456, None, "3,46"),  # two below 10
        (3.4, None, "3,4"),  # trailing zeros removed
        (9.999, None, "10"),
        (-0.001, None, "0"),  # no "-0"
        (0, None, "0"),
        (1_000_000_000, None, "1.000.000.000"),
        (3.5, 2, "3,50"),  # explicit decimals are kept
        (1234.5, 0, "1.234"),
        (-4.25, 1, "-4,2"),
    ],
)
def test_format_number(value: float, decimals: int | None, written: str) -> None:
    assert format_number(value, decimals) == written


def test_format_number_rejects_non_finite() -> None:
    for value in (math.inf, -math.inf, math.nan):
        with pytest.raises(ValueError):
            format_number(value)


@pytest.mark.parametrize(
    ("value", "unit", "written"),
    [
        (39.9, "%", "39,9%"),
        (-4.2, "%", "-4,2%"),
        (35_900_000, "€", "€ 35,9 miljoen"),
        (35_912_345, "€", "€ 35,9 miljoen"),
        (36_000_000, "€", "€ 36 miljoen"),
        (4_400_000_000, "€", "€ 4,4 miljard"),
        (9500, "€", "€ 9.500"),
        (12.5, "€", "€ 12,50"),
        (4, "x", "4x"),
        (1.5, "x", "1,5x"),
        (8.9, "fte", "8,9 fte"),
        (16, "uur", "16 uur"),
        (45, "jaar", "45 jaar"),
        (0.5, "procentpunt", "0,5 procentpunt"),
        (176600, "", "176.600"),
    ],
)
def test_format_quantity(value: float, unit: str, written: str) -> None:
    assert format_quantity(value, unit) == written


def test_format_quantity_rejects_unknown_unit() -> None:
    with pytest.raises(ValueError):
        format_quantity(3, "km")


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (176600, 176600.0, True),
        (9500, 9501, False),  # whole numbers: exact
        (2024, 2025, False),  # years are whole numbers: never "close enough"
        (1_200_000, 1_200_000.0, True),
        (33.33, 100 / 3, True),
        (3.5, 3.51, True),
        (3.5, 3.6, False),
        (0.0, 0.001, False),
        (math.nan, math.nan, False),
    ],
)
def test_same_value(a: float, b: float, same: bool) -> None:
    assert same_value(a, b) is same
    assert same_value(b, a) is same


# ---------------------------------------------------------------------------------------------
# Properties


def check_well_formed(text: str, quantities: list[Quantity]) -> None:
    previous_end = 0
    for q in quantities:
        assert 0 <= q.start < q.end <= len(text)
        assert text[q.start:q.end] == q.text
        assert q.start >= previous_end  # sorted and non-overlapping
        previous_end = q.end
        assert math.isfinite(q.value)
        assert q.sign in (-1, 0, 1)
        assert q.kind in {"number", "percent", "money", "multiplier", "year", "quarter", "range", "word"}
        assert q.unit in {"", "%", "€", "x", "fte", "uur", "jaar", "procentpunt"}
        assert (q.high is not None) == (q.kind == "range")


@PROPERTY
@given(st.text())
def test_find_quantities_is_total_on_any_text(text: str) -> None:
    check_well_formed(text, find_quantities(text))


# Text made of the pieces the forms are built from, so the search reaches the interesting cases
# (random unicode rarely writes "tussen 3,5 en 4 mln").
DUTCHY = st.lists(
    st.sampled_from([
        "0", "1", "2", "7", "12", "2025", "1950", "9.500", "1,2", "3,5", ".", ",", "-", "–", "−", "+", " ",
        "  ", "\n", "%", "€", "€ ", "procent", "procentpunt", "mln", "miljoen", "duizend", "miljard", "euro",
        "x", "keer", " zo veel", "fte", "uur", "jaar", "-jarigen", "tussen ", " en ", " tot ", " op de ",
        "tien", "een ", "derde", "kwart", "driekwart", "helft", "de ", "tweede ", "kwartaal", "Q", "januari",
        "afbeelding ", "tabel ", "Box ", "§", "banen", ")", "(", "’", "e", "verdubbeld", "half ", ",-", "/",
        "t/m", "9" * 40,
    ]),
    max_size=25,
).map("".join)


@PROPERTY
@given(DUTCHY)
def test_find_quantities_is_total_on_dutchy_text(text: str) -> None:
    check_well_formed(text, find_quantities(text))


# Phrases in the shape of every form, with arbitrary numbers in the slots: reaches handler edge
# cases (zero denominators, equal range ends, impossible days, huge values) that random text misses.
TEMPLATES = [
    "{n}", "{n}%", "{n} procent", "{n} procentpunt", "€ {n}", "€{n} {scale}", "{n} {scale} euro", "{n}x",
    "{n} keer", "{n} fte", "{n} uur", "{n} jaar", "{n} {scale}", "tussen {n} en {n}{unit}",
    "tussen de {n} en {n}{unit}", "{n} tot {n}{unit}", "{n}-{n}{unit}", "{n}- tot {n}-jarigen",
    "{n} op de {n}", "{w} op de {w}", "{w} keer zo veel", "{w} derde van", "{w} kwart", "{n} januari {n}",
    "{n}-{n}-{n}", "{n}/{n}", "Q{n}", "{n}e kwartaal", "kwartaal {n}", "afbeelding {n}", "tabel {n} en {n}",
    "{w} {scale}", "banen{n}.", "mensen).{n}", "EU-{n}",
]
SLOT_VALUES = {
    "{w}": ["een", "één", "twee", "drie", "vier", "tien", "honderd", "anderhalf", "nul"],
    "{scale}": ["duizend", "mln", "miljoen", "miljard"],
    "{unit}": ["", "%", " procent", " jaar", " keer", " mln", " fte", "-jarigen", " euro"],
}
EDGE_NUMBERS = ["0", "1", "-1", "1,5", "1.5", "9.500", "2025", "9" * 400]
NUMBER = st.one_of(
    st.sampled_from(EDGE_NUMBERS),
    st.integers(min_value=0, max_value=3000).map(str),
    st.integers(min_value=-10**12, max_value=10**12).map(format_number),
    st.from_regex(r"[+\-−]?[0-9]{1,7}(?:[.,][0-9]{1,4}){0,2}", fullmatch=True),
)


def fill(template: str, choose: Callable[[str], str]) -> str:
    while "{" in template:
        slot = template[template.index("{"):template.index("}") + 1]
        template = template.replace(slot, choose(slot), 1)
    return template


@st.composite
def phrase(draw: st.DrawFn) -> str:
    strategies = {"{n}": NUMBER, **{slot: st.sampled_from(values) for slot, values in SLOT_VALUES.items()}}
    return fill(draw(st.sampled_from(TEMPLATES)), lambda slot: draw(strategies[slot]))


def test_find_quantities_on_every_template_with_edge_numbers() -> None:
    """Deterministic companion of the phrase property: every template with every combination of
    edge numbers (zero, equal range ends, impossible dates, 400 digits) and every word/unit."""
    for template in TEMPLATES:
        slots = re.findall(r"\{\w+\}", template)
        choices = [EDGE_NUMBERS if slot == "{n}" else SLOT_VALUES[slot] for slot in slots]
        for combination in itertools.product(*choices):
            values = iter(combination)
            text = fill(template, lambda slot: next(values))
            check_well_formed(text, find_quantities(text))


@PROPERTY
@given(st.lists(phrase(), max_size=6), st.sampled_from([" ", "", ", ", "\n", " en "]))
def test_find_quantities_is_total_on_phrases(phrases: list[str], glue: str) -> None:
    text = glue.join(phrases)
    check_well_formed(text, find_quantities(text))


@PROPERTY
@given(st.integers(min_value=0, max_value=10**9))
def test_integers_round_trip(n: int) -> None:
    written = format_number(n)
    assert parse_number(written) == n
    q = only(written)
    assert q.value == n and q.text == written


@PROPERTY
@given(st.integers(min_value=1, max_value=10**9))
def test_negative_integers_round_trip(n: int) -> None:
    written = format_number(-n)
    assert parse_number(written) == -n
    q = only(written)
    assert (q.value, q.sign, q.kind) == (-n, -1, "number")


decimals_1_or_2 = st.builds(
    lambda cents, places: cents / 10**places,
    st.integers(min_value=-10**9, max_value=10**9),
    st.sampled_from([1, 2]),
)


@PROPERTY
@given(decimals_1_or_2)
def test_decimals_round_trip(x: float) -> None:
    # Exact with two decimals written out; within the default rounding otherwise.
    assert parse_number(format_number(x, 2)) == pytest.approx(x, rel=1e-12, abs=1e-12)
    written = format_number(x)
    parsed = parse_number(written)
    assert parsed is not None and abs(parsed - x) <= 0.05 + 1e-9
    q = only(written)
    assert q.value == parsed and q.text == written


@PROPERTY
@given(decimals_1_or_2)
def test_percent_round_trips(x: float) -> None:
    q = only(format_quantity(x, "%"))
    assert (q.unit, q.kind) == ("%", "percent")
    assert abs(q.value - x) <= 0.005 + 1e-9 or (abs(x) >= 10 and abs(q.value - x) <= 0.05 + 1e-9)


@PROPERTY
@given(st.integers(min_value=0, max_value=10**12), st.sampled_from([1, 100]))
def test_money_round_trips(cents: int, divisor: int) -> None:
    x = cents / divisor
    q = only(format_quantity(x, "€"))
    assert (q.unit, q.kind) == ("€", "money")
    # Shown to 0,1 miljoen / miljard from a million up, to the cent below.
    step = 1e9 if x >= 1e9 else 1e6 if x >= 1e6 else 0.01
    assert abs(q.value - x) <= step / 2 + 1e-6


@PROPERTY
@given(st.integers(min_value=0, max_value=10**6), st.sampled_from([1, 10, 100]), st.sampled_from(["x", "fte"]))
def test_multiplier_and_fte_round_trip(n: int, divisor: int, unit: str) -> None:
    x = n / divisor
    written = format_quantity(x, unit)
    q = only(written)
    assert q.unit == unit and q.kind == ("multiplier" if unit == "x" else "number")
    assert q.value == parse_number(format_number(x)) and q.text == written


@PROPERTY
@given(decimals_1_or_2, st.sampled_from(["%", "€", "x", "fte", "uur", "procentpunt", ""]))
def test_formatted_quantity_is_found_in_a_sentence(x: float, unit: str) -> None:
    if unit in ("€", "x", "fte", "uur"):
        x = abs(x)
    written = format_quantity(x, unit)
    sentence = f"Volgens het CBS was dat {written} in 2025 (zie tabel 3)."
    quantities = find_quantities(sentence)
    assert [q.text for q in quantities] == [written, "2025"]
    assert quantities[0].unit == unit


@PROPERTY
@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12))
def test_same_value_is_reflexive_and_symmetric(x: float) -> None:
    assert same_value(x, x)
    assert same_value(x, x * 1.001) == same_value(x * 1.001, x)
