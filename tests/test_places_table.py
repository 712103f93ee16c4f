"""The shipped municipality -> arbeidsmarktregio table (corpus/reference) and its loader ingest/places.py.

No index needed: these read the two CSV files as shipped and a few deliberately broken copies.
"""

from __future__ import annotations

import csv
import shutil
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import pytest

from ingest.places import PlaceKind, PlaceTable, PlaceTableError

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
REFERENCE = CORPUS / "reference"


@pytest.fixture(scope="module")
def table() -> PlaceTable:
    return PlaceTable.load(CORPUS)


def _rows(name: str) -> list[dict[str, str]]:
    with (REFERENCE / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


# -- the shipped files ---------------------------------------------------------------------------------

def test_besluit_table_is_shipped_as_in_the_source() -> None:
    rows = _rows("arbeidsmarktregios.csv")
    assert len(rows) == 397
    assert len({r["gemeente"] for r in rows}) == 397
    assert len({r["arbeidsmarktregio"] for r in rows}) == 35
    names = {r["gemeente"] for r in rows}
    # the Besluit's own spellings, kept: the fixes live in the merger table
    assert {"’s-Gravenhage", "’s-Hertogenbosch", "Nuenen CA", "Súdwest Fryslân", "Bergen NH", "Bergen (L)"} <= names
    assert {"Meppel", "Oldebroek"} <= names and "Meppel Oldebroek" not in names
    assert all(r["provincie"] == "" for r in rows)
    readme = (REFERENCE / "README.md").read_text(encoding="utf-8")
    assert "BWBR0036164" in readme and "verify before relying on it" in readme


def test_merger_table_has_no_duplicates_and_one_date_per_former_name() -> None:
    rows = _rows("gemeentelijke-herindelingen.csv")
    assert list(rows[0]) == ["datum", "oud", "nieuw", "opmerking"]
    pairs = [(r["oud"], r["nieuw"]) for r in rows]
    assert len(pairs) == len(set(pairs))
    dates: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        dates[r["oud"]].add(r["datum"])
    assert {old: d for old, d in dates.items() if len(d) > 1} == {}
    assert all(r["datum"] == "" or "2015-01-01" <= r["datum"] <= "2025-01-01" for r in rows)


def test_replaying_the_mergers_gives_the_cbs_counts_per_year() -> None:
    """Apply the rows to Bijlage 3 by hand (independent of the loader) and compare with the CBS counts."""
    names = {r["gemeente"] for r in _rows("arbeidsmarktregios.csv")}
    rows = _rows("gemeentelijke-herindelingen.csv")
    for r in rows:
        if not r["datum"]:
            names = (names - {r["oud"]}) | {r["nieuw"]}
    by_date: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        if r["datum"]:
            by_date[r["datum"]].append(r)

    def count_on(day: str) -> int:
        current = set(names)
        for d in sorted(by_date):
            if d <= day:
                assert {r["oud"] for r in by_date[d]} <= current, d
                current = (current - {r["oud"] for r in by_date[d]}) | {r["nieuw"] for r in by_date[d]}
        return len(current)

    cbs = {"2015-01-01": 393, "2016-01-01": 390, "2017-01-01": 388, "2018-01-01": 380, "2019-01-01": 355,
           "2020-01-01": 355, "2021-01-01": 352, "2022-01-01": 345, "2022-03-24": 344, "2023-01-01": 342,
           "2025-01-01": 342}
    assert {day: count_on(day) for day in cbs} == cbs


# -- the loaded table ----------------------------------------------------------------------------------

def test_current_municipalities_and_regions(table: PlaceTable) -> None:
    assert len(table.regions) == 35
    assert len(table.municipalities) == 342
    assert set(table.municipalities.values()) == set(table.regions)
    for gone in ("Haren", "Delfzijl", "Weesp", "Haaren", "Bussum", "Nuenen CA", "Súdwest Fryslân", "De Friese Meren"):
        assert gone not in table.municipalities
    for new in ("Eemsdelta", "Land van Cuijk", "Voorne aan Zee", "Dijk en Waard", "Krimpenerwaard",
                "Súdwest-Fryslân", "Nuenen, Gerwen en Nederwetten", "De Fryske Marren"):
        assert new in table.municipalities


def test_no_merger_target_is_missing(table: PlaceTable) -> None:
    for merger in table.mergers:
        assert merger.new in table.municipalities or merger.new in table.former, merger
    for info in table.former.values():
        assert info.successors and all(s in table.municipalities for s in info.successors)
        assert info.name not in table.municipalities


def test_every_region_keeps_municipalities_and_the_small_ones_are_known(table: PlaceTable) -> None:
    sizes = Counter(table.municipalities.values())
    assert min(sizes.values()) >= 4
    assert {r for r, n in sizes.items() if n < 5} == {"Gorinchem", "Midden-Holland"}
    assert set(table.municipalities_of("Gorinchem")) == {"Gorinchem", "Hardinxveld-Giessendam", "Molenlanden",
                                                         "Vijfheerenlanden"}


@pytest.mark.parametrize(("name", "region"), [
    ("Leusden", "Amersfoort"),
    ("leusden", "Amersfoort"),
    ("Haren", "Groningen"),            # former, now part of Groningen
    ("Delfzijl", "Groningen"),         # former, now Eemsdelta
    ("Den Haag", "Haaglanden"),
    ("'s-Gravenhage", "Haaglanden"),   # straight apostrophe
    ("’s-Gravenhage", "Haaglanden"),
    ("Den Bosch", "Noordoost-Brabant"),
    ("'s-Hertogenbosch", "Noordoost-Brabant"),
    ("Súdwest-Fryslân", "Friesland"),
    ("Sudwest Fryslan", "Friesland"),
    ("Nuenen", "Zuidoost-Brabant"),
    ("Nuenen c.a.", "Zuidoost-Brabant"),
    ("Bergen NH", "Noord-Holland Noord"),
    ("Bergen (L)", "Noord-Limburg"),
    ("Lingewaal", "Rivierenland"),     # cross-region merger: West Betuwe
    ("Vianen", "Gorinchem"),           # cross-region merger: Vijfheerenlanden
    ("Weesp", "Groot Amsterdam"),      # absorbed by Amsterdam
    ("Haarlemmerliede en Spaarnwoude", "Groot Amsterdam"),
    ("Haarlemmerliede", "Groot Amsterdam"),  # CBS' short form of a former name
    ("Littenseradiel", "Friesland"),   # split, but all parts in Friesland
])
def test_region_of(table: PlaceTable, name: str, region: str) -> None:
    assert table.region_of(name) == region


def test_region_of_unknown_or_ambiguous_is_none(table: PlaceTable) -> None:
    assert table.region_of("Bergen") is None
    assert set(table.resolve("Bergen")) == {"Bergen NH", "Bergen (L)"}
    assert table.region_of("Haaren") is None  # split over two regions
    assert set(table.regions_of("Haaren")) == {"Midden-Brabant", "Noordoost-Brabant"}
    assert table.region_of("Atlantis") is None
    assert table.region_of("Twente") is None  # a region, not a municipality


def test_former_names_carry_successor_and_date(table: PlaceTable) -> None:
    assert table.former["Haren"].successors == ("Groningen",)
    assert table.former["Haren"].date == date(2019, 1, 1)
    assert table.former["Delfzijl"].new == "Eemsdelta"
    assert table.former["Delfzijl"].region_2015 == "Groningen"
    assert table.former["Weesp"].date == date(2022, 3, 24)
    assert set(table.former["Haaren"].successors) == {"Oisterwijk", "Vught", "Boxtel", "Tilburg"}
    assert table.former["Lingewaal"].region_2015 == "Gorinchem"  # Bijlage 3 as written stays available
    assert table.besluit_2015["Lingewaal"] == "Gorinchem"


def test_municipalities_of_accepts_region_variants(table: PlaceTable) -> None:
    amersfoort = {"Amersfoort", "Baarn", "Bunschoten", "Leusden", "Nijkerk", "Soest", "Woudenberg"}
    assert set(table.municipalities_of("Amersfoort")) == amersfoort
    assert set(table.municipalities_of("regio amersfoort")) == amersfoort
    assert "Eemsdelta" in table.municipalities_of("Groningen")
    assert "Zwolle" in table.municipalities_of("Regio Zwolle")
    assert table.municipalities_of("Zaanstreek-Waterland") == table.municipalities_of("Zaanstreek/Waterland")
    assert table.municipalities_of("Foodvalley") == table.municipalities_of("Food Valley")
    assert table.municipalities_of("Nergenshuizen") == ()


# -- finding places in a question ----------------------------------------------------------------------

def _found(table: PlaceTable, text: str) -> list[tuple[str, str, str | None, str]]:
    matches = table.find(text)
    for m in matches:
        assert text[m.start:m.end] == m.text
    return [(m.kind.value, m.text, m.municipality, m.region) for m in matches]


def test_find_municipality_region_and_former(table: PlaceTable) -> None:
    assert _found(table, "Hoeveel vacatures stonden er open in regio Amersfoort en in Leusden?") == [
        ("region", "regio Amersfoort", None, "Amersfoort"),
        ("municipality", "Leusden", "Leusden", "Amersfoort"),
    ]
    assert _found(table, "Werkloosheid in Delfzijl sinds 2020") == [
        ("former_municipality", "Delfzijl", "Eemsdelta", "Groningen"),
    ]
    assert _found(table, "Banen in Den Haag en in arbeidsmarktregio Midden-Utrecht") == [
        ("municipality", "Den Haag", "’s-Gravenhage", "Haaglanden"),
        ("region", "arbeidsmarktregio Midden-Utrecht", None, "Midden-Utrecht"),
    ]


def test_find_common_words_only_when_capitalised(table: PlaceTable) -> None:
    assert _found(table, "Wat zijn de best betaalde beroepen?") == []
    assert _found(table, "Wat zijn de best betaalde beroepen in Best?") == [
        ("municipality", "Best", "Best", "Zuidoost-Brabant"),
    ]
    assert _found(table, "Werkgevers kampen met tekorten; dat kan leiden tot minder groei") == []
    assert [m.municipality for m in table.find("Kampen en Leiden")] == ["Kampen", "Leiden"]
    assert _found(table, "kleur haren") == []
    assert [m.former for m in table.find("de oude gemeente Haren")] == ["Haren"]
    assert [m.municipality for m in table.find("gemeente best")] == ["Best"]  # the word 'gemeente' settles it


def test_find_whole_words_and_longest_first(table: PlaceTable) -> None:
    assert _found(table, "Bestuurders in Oosterhout") == [("municipality", "Oosterhout", "Oosterhout", "West-Brabant")]
    assert _found(table, "Vacatures in Bergen op Zoom") == [
        ("municipality", "Bergen op Zoom", "Bergen op Zoom", "West-Brabant"),
    ]
    assert [m.municipality for m in table.find("Zorg in Bergen")] == ["Bergen NH", "Bergen (L)"]
    assert _found(table, "Zorg in de bergen") == []
    assert _found(table, "Wat verandert er in Súdwest Fryslân?") == [
        ("municipality", "Súdwest Fryslân", "Súdwest-Fryslân", "Friesland"),
    ]


def test_find_region_that_is_also_a_municipality(table: PlaceTable) -> None:
    assert _found(table, "Werkloosheid in Groningen") == [
        ("municipality", "Groningen", "Groningen", "Groningen"),
        ("region", "Groningen", None, "Groningen"),
    ]
    assert _found(table, "Werkloosheid in regio Groningen") == [("region", "regio Groningen", None, "Groningen")]
    assert _found(table, "Werkloosheid in gemeente Groningen") == [
        ("municipality", "gemeente Groningen", "Groningen", "Groningen"),
    ]
    assert _found(table, "Werkloosheid in de provincie Groningen") == []


def test_find_region_short_forms(table: PlaceTable) -> None:
    assert [(m.kind, m.region) for m in table.find("Regio Zwolle, Foodvalley en Zaanstreek-Waterland")] == [
        (PlaceKind.REGION, "IJsselvechtstreek"), (PlaceKind.REGION, "Food Valley"),
        (PlaceKind.REGION, "Zaanstreek/Waterland"),
    ]
    assert [m.region for m in table.find("Twente en Groot-Amsterdam")] == ["Twente", "Groot Amsterdam"]


def test_find_split_former_municipality_gives_every_part(table: PlaceTable) -> None:
    found = table.find("Wat gebeurde er met Haaren?")
    assert {(m.municipality, m.region) for m in found} == {
        ("Oisterwijk", "Midden-Brabant"), ("Tilburg", "Midden-Brabant"),
        ("Vught", "Noordoost-Brabant"), ("Boxtel", "Noordoost-Brabant"),
    }
    assert {(m.start, m.end, m.former) for m in found} == {(20, 26, "Haaren")}


# -- loading -------------------------------------------------------------------------------------------

def _copy(tmp_path: Path) -> Path:
    shutil.copytree(REFERENCE, tmp_path / "reference")
    return tmp_path / "reference"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_load_is_cached_and_sees_a_changed_file(tmp_path: Path) -> None:
    reference = _copy(tmp_path)
    first = PlaceTable.load(tmp_path)
    assert PlaceTable.load(tmp_path) is first
    with (reference / "gemeentelijke-herindelingen.csv").open("a", encoding="utf-8") as handle:
        handle.write("2026-01-01,Leusden,Amersfoort,test: fictief\n")
    second = PlaceTable.load(tmp_path)
    assert second is not first
    assert second.former["Leusden"].successors == ("Amersfoort",)
    assert "Leusden" not in second.municipalities


@pytest.mark.parametrize(("file", "old", "new", "message"), [
    ("arbeidsmarktregios.csv", "gemeente,arbeidsmarktregio,provincie", "naam,regio", "regel 1 moet de kolommen"),
    ("arbeidsmarktregios.csv", "Leusden,Amersfoort,", "Leusden,Amersfoort", "kolommen, verwacht 3"),
    ("arbeidsmarktregios.csv", "Leusden,Amersfoort,", "Baarn,Amersfoort,", "staat er twee keer in"),
    ("arbeidsmarktregios.csv", "Leusden,Amersfoort,", ",Amersfoort,", "is leeg"),
    ("gemeentelijke-herindelingen.csv", "2019-01-01,Haren,", "1 jan 2019,Haren,", "geen datum JJJJ-MM-DD"),
    ("gemeentelijke-herindelingen.csv", "2019-01-01,Haren,", "2019-01-01,Harne,", "geen gemeente"),
    ("gemeentelijke-herindelingen.csv", "regio nieuw: Rivierenland", "regio nieuw: Betuwe", "geen arbeidsmarktregio"),
    ("gemeentelijke-herindelingen.csv", "2019-01-01,Lingewaal,West Betuwe,samenvoeging; regio nieuw: Rivierenland",
     "2019-01-01,Lingewaal,West Betuwe,samenvoeging", None),
])
def test_malformed_table_gives_a_clear_error(tmp_path: Path, file: str, old: str, new: str, message: str | None) -> None:
    reference = _copy(tmp_path)
    _edit(reference / file, old, new)
    if message is None:  # every marker of the cross-region merger removed: the loader must not guess
        for _ in range(2):
            _edit(reference / file, "samenvoeging; regio nieuw: Rivierenland", "samenvoeging")
        message = "lagen in Gorinchem, Rivierenland"
    with pytest.raises(PlaceTableError) as caught:
        PlaceTable.load(tmp_path)
    text = str(caught.value)
    assert message in text
    assert file in text and str(tmp_path) not in text  # names the file, not an absolute path
    assert "Traceback" not in text


def test_missing_table_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "reference").mkdir()
    with pytest.raises(PlaceTableError, match="Referentietabel ontbreekt: arbeidsmarktregios.csv"):
        PlaceTable.load(tmp_path)
