"""Sources page (Streamlit AppTest on a private copy of the real index): registry table, upload
validation, upload with metadata, approve / withdraw, re-ingest with progress, inspecting chunks."""

from __future__ import annotations

import pytest

from ingest.models import IngestReport
from ingest.registry import load_registry
from ingest.settings import Settings
from ingest.store import current_generation

from .conftest import SOURCE_IDS
from .test_ui_support import app, button, copy_built, point_ui_at, texts


@pytest.fixture
def ui(built_index: tuple[Settings, IngestReport], tmp_path, monkeypatch: pytest.MonkeyPatch) -> Settings:  # noqa: ANN001
    settings = copy_built(built_index[0], tmp_path)
    point_ui_at(monkeypatch, settings)
    return settings


def upload(at, filename: str, data: bytes, **fields: str):  # noqa: ANN001, ANN201
    at.file_uploader(key="upload_file").set_value((filename, data, "application/octet-stream"))
    for key, value in fields.items():
        at.text_input(key=f"upload_{key}").input(value)
    button(at, "Toevoegen").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_registry_table_shows_status_pages_chunks_and_date(ui: Settings) -> None:
    at = app("sources")
    table = at.dataframe[0].value
    assert list(table["id"]) == SOURCE_IDS
    assert set(table.columns) >= {"titel", "status", "pagina's", "passages", "geïndexeerd"}
    assert set(table["status"]) == {"goedgekeurd"}
    assert (table["passages"] > 0).all() and (table["pagina's"] > 0).all()
    assert all(value != "-" for value in table["geïndexeerd"])
    assert any("AI-assistent" in i.value for i in at.info)


@pytest.mark.parametrize(
    ("filename", "data", "message"),
    [
        ("kapot.pdf", b"%PDF-1.7\n1 0 obj<<>>\nthis is not a pdf body", "niet te lezen"),
        ("leeg.txt", b"", "leeg (0 bytes)"),
        ("tabel.pdf", b"PK\x03\x04 zip-like office file", "niet ondersteund"),
        ("programma.txt", b"\x7fELF\x02\x01\x01 binary", "geen document"),
        ("rapport.txt", b"%PDF-1.7\n1 0 obj<<>>endobj\nstartxref\n9\n%%EOF\n", "de inhoud is een PDF"),
    ],
)
def test_upload_of_an_unreadable_file_is_refused(ui: Settings, filename: str, data: bytes, message: str) -> None:
    before = ui.registry_path.read_bytes()
    at = upload(app("sources"), filename, data, title="Testbron")
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    assert ui.registry_path.read_bytes() == before
    assert not (ui.corpus_dir / "files").exists()


def test_upload_needs_a_title_and_a_valid_id(ui: Settings) -> None:
    before = ui.registry_path.read_bytes()
    at = upload(app("sources"), "notitie.txt", b"Een korte notitie over de arbeidsmarkt in Amersfoort.\n", id="Ongeldig ID!")
    errors = " ".join(e.value for e in at.error)
    assert "Vul een titel in" in errors and "is ongeldig" in errors
    at = upload(app("sources"), "notitie.txt", b"Tekst.\n", title="Dubbel", id=SOURCE_IDS[0])
    assert any("al een bron met id" in e.value for e in at.error), [e.value for e in at.error]
    assert ui.registry_path.read_bytes() == before


def test_upload_with_metadata_adds_a_draft(ui: Settings) -> None:
    text = "Arbeidsmarktnotitie Eemland\n\nIn Eemland stonden eind 2025 veel vacatures open in de zorg.\n"
    at = upload(app("sources"), "Notitie Eemland.txt", text.encode(), title="Notitie Eemland",
                publisher="UWV", edition="2025", regions="Amersfoort", period="cijfers over 2025")
    assert any("notitie-eemland is toegevoegd (concept)" in s.value for s in at.success), texts(at)
    entry = load_registry(ui.registry_path).get("notitie-eemland")
    assert entry.status.value == "draft" and entry.title == "Notitie Eemland" and entry.regions == ["Amersfoort"]
    assert (ui.corpus_dir / entry.file).read_text(encoding="utf-8") == text
    table = at.dataframe[0].value
    assert "notitie-eemland" in list(table["id"])


def test_withdraw_then_reingest_removes_the_source_and_approve_brings_it_back(ui: Settings) -> None:
    source = "ser-ongekend-talent-2025"
    at = app("sources")
    at.selectbox(key="manage_source").set_value(source).run()
    button(at, "Intrekken").click().run()
    assert not at.exception and load_registry(ui.registry_path).get(source).status.value == "withdrawn"
    assert any("is ingetrokken" in s.value for s in at.success)
    assert "lopen uiteen" in texts(at)  # registry and index differ until re-ingest
    button(at, "Opnieuw indexeren").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("verwijderd 1" in s.value for s in at.success), texts(at)
    assert source not in current_generation(ui.index_dir).read_manifest().sources
    table = at.dataframe[0].value
    row = table[table["id"] == source].iloc[0]
    assert row["status"] == "ingetrokken" and row["passages"] == 0

    at.selectbox(key="manage_source").set_value(source).run()
    button(at, "Goedkeuren").click().run()
    assert load_registry(ui.registry_path).get(source).status.value == "approved"


def test_inspect_chunks_of_a_source(ui: Settings) -> None:
    at = app("sources")
    at.selectbox(key="inspect_source").set_value("uwv-regio-in-beeld-2025-2026-groningen").run()
    labels = [e.label for e in at.expander]
    assert len(labels) > 20 and all(label.startswith("p. ") for label in labels)
    at.text_input(key="inspect_query").input("AIMI").run()
    labels = [e.label for e in at.expander]
    assert labels and any("AIMI" in label for label in labels)
    assert any("AIMI" in t.value for t in at.text)
