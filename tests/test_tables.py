"""Factsheets and tables (issue 18): CSV/XLSX loaders giving typed tables, rows as cited sentences,
figure records per cell, answers and calculations from table cells, hostile spreadsheets refused,
and the generic PDF table path on the shipped SER report.

The factsheets under tests/data/ are TEST DATA with invented figures (tests/data/make_factsheets.py).
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from assistant.answer import Assistant
from assistant.retrieve import Filters
from assistant.uploads import UploadRefused, check_file
from ingest import figures
from ingest.loaders import LoadError, LoadLimitExceeded, MacrosRefused, sniff_kind
from ingest.models import IngestReport
from ingest.pipeline import run_ingest
from ingest.registry import SourceStatus
from ingest.sandbox import parse_isolated
from ingest.settings import Settings
from ingest.store import named_generation
from ingest.table_loaders import MAX_TABLE_ROWS, load_csv, load_xlsx
from ingest.tables import row_sentences

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
CSV_FILE = DATA / "factsheet-test-regios.csv"
XLSX_FILE = DATA / "factsheet-test-regios.xlsx"
MAX_UPLOAD = 50 * 1024 * 1024

REGISTRY = """
[[sources]]
id = "test-factsheet-csv"
title = "Test-factsheet werkzoekenden (CSV)"
publisher = "Testdata"
edition = "december 2024"
published = 2024
period = "december 2024"
regions = ["Groningen", "Drenthe", "Friesland"]
type = "factsheet"
file = "files/factsheet-test-regios.csv"
status = "approved"

[[sources]]
id = "test-factsheet-xlsx"
title = "Test-factsheet werkzoekenden en vacatures (XLSX)"
publisher = "Testdata"
edition = "2024"
published = 2024
period = "2023 en 2024"
regions = ["Groningen", "Drenthe", "Friesland"]
type = "factsheet"
file = "files/factsheet-test-regios.xlsx"
status = "approved"
"""


# -- loaders ---------------------------------------------------------------------------------------


def test_csv_gives_a_typed_table_with_title_units_note_and_source_line() -> None:
    (page,) = load_csv(CSV_FILE.read_bytes())
    (table,) = page.tables
    assert page.kind == "table"
    assert table.title == "Werkzoekenden en WW per arbeidsmarktregio, december 2024"
    assert table.period == "december 2024"
    assert table.row_header == "Arbeidsmarktregio"
    assert table.columns == ["Geregistreerde werkzoekenden", "Aandeel met WW-uitkering", "Vacatures (x 1.000)"]
    assert table.source_line.startswith("Bron: testbestand")
    assert "TESTDATA" in table.note
    rows = {row.label: row for row in table.rows}
    assert list(rows) == ["Groningen", "Drenthe", "Friesland", "Totaal"]
    groningen = rows["Groningen"].cells
    assert (groningen[0].value, groningen[0].unit) == (50234, "")
    assert (groningen[1].value, groningen[1].unit, groningen[1].text) == (23.5, "%", "23,5%")  # a percentage as text
    drenthe, friesland = rows["Drenthe"].cells, rows["Friesland"].cells
    assert drenthe[1].value is None and drenthe[1].text == "–"  # a dash is no figure
    assert friesland[2].value is None and friesland[2].text == ""  # an empty cell
    sentences = [s for _, s in row_sentences(table, rows["Groningen"])]
    assert sentences[0] == "Groningen: 50.234 geregistreerde werkzoekenden (december 2024)."
    assert sentences[2] == "Groningen: 12,4 duizend vacatures (december 2024)."  # '(x 1.000)' read as duizend
    assert [c for c, _ in row_sentences(table, rows["Drenthe"])] == ["Geregistreerde werkzoekenden", "Vacatures (x 1.000)"]


def test_csv_delimiter_decimal_mark_and_encodings_are_sniffed() -> None:
    english = b"Regio,Werkzoekenden,Aandeel WW (%)\nGroningen,\"50,234\",3.4\nDrenthe,\"17,900\",2.75\n"
    (table,) = load_csv(english)[0].tables
    cells = table.rows[0].cells
    assert (cells[0].value, cells[0].text) == (50234, "50.234")
    assert (cells[1].value, cells[1].text, cells[1].unit) == (3.4, "3,4", "%")
    tabbed = "Regio\tWerkzoekenden\nGroningen\t50.234\n".encode("utf-8-sig")  # UTF-8 with BOM, tabs
    assert load_csv(tabbed)[0].tables[0].rows[0].cells[0].value == 50234
    windows = (DATA / "factsheet-test-regios-cp1252.csv").read_bytes()  # Windows-1252 ("ö")
    labels = [row.label for row in load_csv(windows)[0].tables[0].rows]
    assert labels[0] == "Gröningen-test"


def test_xlsx_every_sheet_merged_headers_percent_formats_and_formulas_not_evaluated() -> None:
    pages = load_xlsx(XLSX_FILE.read_bytes())
    assert [p.tables[0].sheet for p in pages] == ["Werkzoekenden", "Aandelen"]
    first, second = pages[0].tables[0], pages[1].tables[0]
    # "Werkzoekenden" is merged over B3:C3, with the years in the row under it.
    assert first.columns == ["Werkzoekenden 2023", "Werkzoekenden 2024", "Openstaande vacatures 2023",
                             "Openstaande vacatures 2024"]
    assert first.source_line == "Bron: testbestand Marktwijzer (verzonnen cijfers)"
    rows = {row.label: row for row in first.rows}
    assert rows["Friesland"].cells[1].value is None  # empty cell
    assert rows["Drenthe"].cells[2].text == "–"
    assert [s for _, s in row_sentences(first, rows["Drenthe"])][1] == "Drenthe: 17.900 werkzoekenden (2024)."
    aandelen = {row.label: row for row in second.rows}
    ww, bijstand, formula = aandelen["Groningen"].cells
    assert (ww.value, ww.text, ww.unit) == (23.5, "23,5%", "%")  # a number formatted 0.0% in Excel
    assert (bijstand.value, bijstand.unit) == (41.5, "%")  # "41,5%" typed as text
    assert formula.value is None and formula.text == ""  # =B3*2 without a cached value: never evaluated
    assert second.title.startswith("Aandeel WW onder werkzoekenden, 2024") and second.period == "2024"


def _with_member(data: bytes, name: str, content: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            target.writestr(item, source.read(item.filename))
        target.writestr(name, content)
    return out.getvalue()


def _million_rows() -> bytes:
    return b"Regio;Werkzoekenden\n" + b"".join(b"Regio %d;%d\n" % (i, i) for i in range(1_000_000))


HOSTILE = {
    "corrupt.xlsx": lambda: XLSX_FILE.read_bytes()[:2000],
    "macros.xlsx": lambda: _with_member(XLSX_FILE.read_bytes(), "xl/vbaProject.bin", b"\xd0\xcf\x11\xe0 fake VBA"),
    "macros.xlsm": lambda: _with_member(XLSX_FILE.read_bytes(), "xl/vbaProject.bin", b"\xd0\xcf\x11\xe0 fake VBA"),
    "million.csv": _million_rows,
    "utf16.csv": lambda: CSV_FILE.read_text(encoding="utf-8").encode("utf-16-le"),  # no BOM
    "ebcdic.csv": lambda: CSV_FILE.read_text(encoding="utf-8").replace("–", "-").encode("cp500"),
}
EXPECTED = {
    "corrupt.xlsx": (422, "unreadable_file", "beschadigd"),
    "macros.xlsx": (415, "macros_refused", "macro"),
    "macros.xlsm": (415, "macros_refused", "macro"),
    "million.csv": (422, "file_too_complex", "50.000 rijen"),
    "utf16.csv": (422, "unreadable_file", "UTF-16"),
    "ebcdic.csv": (422, "unreadable_file", "not UTF-8 and not Windows-1252"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_spreadsheets_are_refused_with_a_clear_error(name: str) -> None:
    status, code, words = EXPECTED[name]
    with pytest.raises(UploadRefused) as refused:
        check_file(name, HOSTILE[name](), MAX_UPLOAD)
    assert (refused.value.status, refused.value.code) == (status, code)
    assert words in refused.value.message


def test_loader_errors_name_the_problem() -> None:
    with pytest.raises(MacrosRefused):
        sniff_kind(HOSTILE["macros.xlsx"](), "macros.xlsx")
    with pytest.raises(LoadLimitExceeded, match="more than 50,000 rows"):
        parse_isolated(_million_rows(), "csv")
    with pytest.raises(LoadError, match="corrupt"):
        parse_isolated(HOSTILE["corrupt.xlsx"](), "xlsx")
    assert MAX_TABLE_ROWS == 50_000


# -- a corpus of factsheets: answers, citations, calculations, figure records ---------------------


@pytest.fixture(scope="module")
def factsheets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, IngestReport]:
    root = tmp_path_factory.mktemp("factsheets")
    corpus = root / "corpus"
    (corpus / "files").mkdir(parents=True)
    shutil.copytree(REPO / "corpus" / "reference", corpus / "reference")
    shutil.copy(CSV_FILE, corpus / "files")
    shutil.copy(XLSX_FILE, corpus / "files")
    (corpus / "sources.toml").write_text(REGISTRY, encoding="utf-8")
    settings = Settings(data_dir=root / "data", corpus_dir=corpus, _env_file=None)
    return settings, run_ingest(settings)


@pytest.fixture(scope="module")
def table_assistant(factsheets: tuple[Settings, IngestReport]) -> Assistant:
    return Assistant(factsheets[0])


def test_factsheets_are_indexed_one_passage_per_row(factsheets: tuple[Settings, IngestReport]) -> None:
    settings, report = factsheets
    assert report.failed == [] and report.added == 2
    manifest = named_generation(settings.index_dir).read_manifest()
    assert manifest.sources["test-factsheet-csv"].chunks == 4  # Groningen, Drenthe, Friesland, Totaal
    assert manifest.sources["test-factsheet-xlsx"].chunks == 4 + 2  # two sheets


def _ask(assistant: Assistant, question: str, source: str):
    answer = assistant.ask(question, filters=Filters(sources=[source]))
    assert not answer.refused, answer.answer
    return answer


@pytest.mark.parametrize(("source", "question", "value", "row", "column"), [
    ("test-factsheet-csv", "Hoeveel geregistreerde werkzoekenden telde Groningen in december 2024?", "50.234",
     "Groningen", "Geregistreerde werkzoekenden"),
    ("test-factsheet-xlsx", "Hoeveel werkzoekenden had Drenthe in 2024?", "17.900", "Drenthe", "Werkzoekenden 2024"),
    ("test-factsheet-xlsx", "Hoe groot is het aandeel WW in Drenthe?", "19,8%", "Drenthe", "Aandeel WW"),
])
def test_a_cell_is_answered_exactly_with_table_row_and_column_cited(
    table_assistant: Assistant, source: str, question: str, value: str, row: str, column: str,
) -> None:
    answer = _ask(table_assistant, question, source)
    assert value in answer.answer
    cited = [c for c in answer.citations if c.table is not None and c.table.row == row and column in c.table.columns]
    assert cited, [c.table for c in answer.citations]
    citation = cited[0]
    assert value in citation.text and f"[{citation.n}]" in answer.answer
    assert citation.table.title == citation.section
    if source.endswith("xlsx"):
        assert citation.table.sheet in ("Werkzoekenden", "Aandelen")


@pytest.mark.parametrize(("source", "question", "expression", "value"), [
    ("test-factsheet-csv", "Hoeveel geregistreerde werkzoekenden hadden Groningen en Drenthe samen?",
     "50.234 + 17.900", 68134),
    ("test-factsheet-xlsx", "Hoeveel openstaande vacatures hadden Groningen en Drenthe in 2024 samen?",
     "12.500 + 4.100", 16600),
])
def test_a_sum_over_rows(table_assistant: Assistant, source: str, question: str, expression: str, value: float) -> None:
    answer = _ask(table_assistant, question, source)
    (figure,) = answer.figures
    assert (figure.expression, figure.value) == (expression, value)
    rows = {answer.citations[n - 1].table.row for n in figure.citations}
    assert rows == {"Groningen", "Drenthe"}


@pytest.mark.parametrize("source", ["test-factsheet-csv", "test-factsheet-xlsx"])
def test_a_share_from_two_cells(table_assistant: Assistant, source: str) -> None:
    question = ("Welk aandeel van de geregistreerde werkzoekenden woont in Groningen?" if source.endswith("csv")
                else "Welk aandeel van de werkzoekenden in 2024 woont in Groningen?")
    answer = _ask(table_assistant, question, source)
    (figure,) = answer.figures
    assert figure.expression == "50.234 / 109.584 × 100" and figure.display == "45,8%"
    assert {answer.citations[n - 1].table.row for n in figure.citations} == {"Groningen", "Totaal"}


def test_figure_records_per_cell_with_measure_place_period_and_unit(factsheets: tuple[Settings, IngestReport]) -> None:
    settings, _ = factsheets
    records = figures.load(named_generation(settings.index_dir).root)
    cells = [r for r in records if r.table]
    assert len(cells) == len(records)  # every figure of a factsheet comes from a cell
    by = {(r.source_id, r.row, r.column): r for r in cells}
    werkzoekenden = by[("test-factsheet-xlsx", "Drenthe", "Werkzoekenden 2024")]
    assert (werkzoekenden.value, werkzoekenden.period, werkzoekenden.region, werkzoekenden.unit) == (17900, [2024], ["Drenthe"], "")
    assert werkzoekenden.measure == ["werkzoek"]
    assert werkzoekenden.sentence_text == "Drenthe: 17.900 werkzoekenden (2024)."
    share = by[("test-factsheet-csv", "Groningen", "Aandeel met WW-uitkering")]
    assert (share.value, share.unit, share.kind, share.text) == (23.5, "%", "share", "23,5%")
    assert by[("test-factsheet-csv", "Groningen", "Vacatures (x 1.000)")].value == 12400
    assert ("test-factsheet-csv", "Drenthe", "Aandeel met WW-uitkering") not in by  # the dash
    assert by[("test-factsheet-csv", "Totaal", "Geregistreerde werkzoekenden")].region == []  # no place, no single region
    found = figures.query(cells, "werkzoekenden", region="Groningen", year=2024)
    assert any(r.value == 50234 for r in found)


def test_a_broken_new_version_keeps_the_indexed_factsheet(factsheets: tuple[Settings, IngestReport], tmp_path: Path) -> None:
    settings, _ = factsheets
    data_copy = tmp_path / "data"
    shutil.copytree(settings.data_dir, data_copy, ignore=shutil.ignore_patterns("ingest.lock"))
    corpus_copy = tmp_path / "corpus"
    shutil.copytree(settings.corpus_dir, corpus_copy)
    local = Settings(data_dir=data_copy, corpus_dir=corpus_copy, _env_file=None)
    before = named_generation(local.index_dir).read_manifest().sources["test-factsheet-xlsx"]
    (corpus_copy / "files" / "factsheet-test-regios.xlsx").write_bytes(HOSTILE["macros.xlsx"]())
    (corpus_copy / "files" / "factsheet-test-regios.csv").write_bytes(HOSTILE["utf16.csv"]())
    report = run_ingest(local)
    errors = {f.source_id: f.error for f in report.failed}
    assert "macros" in errors["test-factsheet-xlsx"] and "stays in the index" in errors["test-factsheet-xlsx"]
    assert "UTF-16" in errors["test-factsheet-csv"]
    after = named_generation(local.index_dir).read_manifest().sources["test-factsheet-xlsx"]
    assert after.chunk_ids == before.chunk_ids
    answer = Assistant(local).ask("Hoeveel werkzoekenden had Drenthe in 2024?", filters=Filters(sources=["test-factsheet-xlsx"]))
    assert "17.900" in answer.answer


def test_the_example_factsheet_is_a_draft_that_loads() -> None:
    from ingest.registry import load_registry

    entry = load_registry(REPO / "corpus" / "examples" / "sources.example.toml").get("voorbeeld-factsheet-werkzoekenden")
    assert entry.status is SourceStatus.draft and entry.type.value == "factsheet"
    pages = load_csv((REPO / "corpus" / entry.file).read_bytes())
    assert pages[0].tables[0].rows and "voorbeeld" in pages[0].tables[0].note.lower()


def test_an_uploaded_spreadsheet_becomes_a_factsheet(tmp_path: Path) -> None:
    from assistant.uploads import UploadMetadata, build_entry

    safe, extension, pages = check_file("Factsheet werkzoekenden.xlsx", XLSX_FILE.read_bytes(), MAX_UPLOAD)
    assert (safe, extension, pages) == ("Factsheet-werkzoekenden.xlsx", ".xlsx", 2)
    entry = build_entry(UploadMetadata(title="Factsheet"), safe, extension)
    assert entry.type.value == "factsheet" and entry.file.endswith(".xlsx")
    assert check_file("cijfers.csv", CSV_FILE.read_bytes(), MAX_UPLOAD)[1:] == (".csv", 1)


# -- tables inside the shipped PDFs ------------------------------------------------------------------


def test_the_pdf_table_path_finds_the_tables_of_the_ser_report() -> None:
    from ingest.loaders import load_pdf

    pages = load_pdf((REPO / "corpus" / "pdf" / "ser-ongekend-talent-2025.pdf").read_bytes())
    tables = [t for p in pages for t in p.tables]
    titles = [t.title.split(" ", 2)[:2] for t in tables]
    assert titles == [["Tabel", "1"], ["Tabel", "2"], ["Tabel", "4"]]
    first = tables[0]
    assert first.page == 14 and first.period == "december 2024" and first.source_line == "Bron: UWV"
    rows = {row.label: row for row in first.rows}
    assert len(rows) == 12  # three groups with their totals, over a page break
    assert rows["Twente"].group == "Overijssel"
    # Cross-check the pairing on the table's own arithmetic: each group total is the sum of its rows.
    for group in ("Noord-Nederland", "Overijssel", "Noord-Brabant"):
        parts = sum(r.cells[0].value for r in first.rows if r.group == group)
        assert parts == rows[group].cells[0].value
    assert [s for _, s in row_sentences(first, rows["Twente"])] == [
        "Twente: 37.145 geregistreerde werkzoekenden (Overijssel, december 2024)."]


def test_shipped_pdf_tables_reach_answers_with_row_citations(built_index: tuple[Settings, IngestReport]) -> None:
    settings, _ = built_index
    assistant = Assistant(settings)
    answer = assistant.ask("Hoeveel geregistreerde werkzoekenden telde Twente in december 2024 volgens de SER?")
    assert "37.145" in answer.answer
    assert any(c.table is not None and c.table.row == "Twente" for c in answer.citations)
    records = figures.load(named_generation(settings.index_dir).root)
    twente = [r for r in records if r.table and r.row == "Twente" and r.source_id == "ser-ongekend-talent-2025"]
    assert twente and twente[0].region == ["Twente"] and twente[0].period == [2024]
    assert json.loads(twente[0].model_dump_json())["column"] == "Aantal Geregistreerde werkzoekenden"


def test_a_semicolon_file_with_decimal_commas_and_a_comma_in_the_title_is_read_whole() -> None:
    # csv.Sniffer picks ',' here (decimal commas); every row must still come out as one row.
    from benchmarks.table_bench import parse_timings, synthetic_csv, synthetic_rows

    (table,) = load_csv(synthetic_csv(500))[0].tables
    assert [row.label for row in table.rows] == [row[0] for row in synthetic_rows(500)]
    assert table.title.startswith("Benchmark-factsheet per gemeente, juni 2025") and table.period == "juni 2025"
    timings = parse_timings(20)  # the benchmark's loader section on a tiny input (reported, not asserted)
    assert timings["csv"]["chunks"] == timings["xlsx"]["chunks"] == 20
