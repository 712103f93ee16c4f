"""The adviser's workplace without a browser (issue 17): the source file route, printed page labels,
conversations (store and API: isolation, retention, scrubbing), the exports and the trainers'
feedback overview. The API runs in process (FastAPI TestClient) on a copy of the corpus; the index
is the session's, read only."""

from __future__ import annotations

import datetime as dt
import io
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader, PdfWriter

from assistant.api import create_app
from assistant.audit import MIGRATIONS, SCHEMA_VERSION, AuditStore
from assistant.conversations import ConversationNotFound, ConversationStore
from assistant.feedback_overview import overview, save_snapshot
from assistant.source_files import approved_source_file, page_labels, with_page_labels
from assistant.types import Answer, Citation
from assistant.uploads import set_status
from ingest.models import IngestReport
from ingest.registry import SourceEntry, SourceStatus, SourceType, load_registry, save_registry
from ingest.settings import Settings
from tests.apiserver import ADMIN_KEY, READER_KEY
from ui.export import conversation_docx, conversation_markdown

OTHER_KEY = "other-reader-key-0123456789"
AMERSFOORT = "uwv-regio-in-beeld-2025-2026-amersfoort"
QUESTION = "Hoeveel vacatures stonden er open in regio Amersfoort?"


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def app_client(built_index: tuple[Settings, IngestReport], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Settings]]:
    """One app for the module: the session's index, a private corpus copy (withdrawals) and database."""
    root = tmp_path_factory.mktemp("workplace-api")
    base = built_index[0]
    shutil.copytree(base.corpus_dir, root / "corpus")
    settings = Settings(_env_file=None, data_dir=base.data_dir, corpus_dir=root / "corpus",
                        database_url=f"sqlite:///{root / 'audit.db'}",
                        reader_keys=f"crm:{READER_KEY},andere:{OTHER_KEY}", admin_keys=f"trainer:{ADMIN_KEY}")
    client = TestClient(create_app(settings), raise_server_exceptions=False)
    with client:
        deadline = time.monotonic() + 60
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, client.get("/readyz").text
            time.sleep(0.1)
        yield client, settings


# -- the source file -----------------------------------------------------------------------------


def test_source_file_is_served_inline_and_a_withdrawn_source_no_longer(app_client: tuple[TestClient, Settings]) -> None:
    client, settings = app_client
    path = settings.corpus_dir / "pdf" / f"{AMERSFOORT}.pdf"
    response = client.get(f"/v1/sources/{AMERSFOORT}/file", headers=_auth(READER_KEY))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == f'inline; filename="{AMERSFOORT}.pdf"'
    assert response.content == path.read_bytes()
    assert client.get(f"/v1/sources/{AMERSFOORT}/file").status_code == 401

    # Nothing the client sends becomes a path: only registry ids of approved sources are served.
    for bad in ("onbekend", "..%2Fsources.toml", "%2E%2E", "pdf%2F" + AMERSFOORT + ".pdf", "sources.toml"):
        refused = client.get(f"/v1/sources/{bad}/file", headers=_auth(READER_KEY))
        assert refused.status_code == 404, bad
        assert refused.headers["content-type"].startswith("application/json")

    groningen = "uwv-regio-in-beeld-2025-2026-groningen"
    set_status(settings, groningen, SourceStatus.withdrawn)  # the registry path the API's withdraw takes
    try:
        for key in (READER_KEY, ADMIN_KEY):
            gone = client.get(f"/v1/sources/{groningen}/file", headers=_auth(key))
            assert gone.status_code == 404 and gone.json()["code"] == "source_not_found"
        assert client.get(f"/v1/sources/{AMERSFOORT}/file", headers=_auth(READER_KEY)).status_code == 200
    finally:
        set_status(settings, groningen, SourceStatus.approved)
    assert client.get(f"/v1/sources/{groningen}/file", headers=_auth(READER_KEY)).status_code == 200


def test_a_registry_entry_pointing_outside_the_corpus_is_not_served(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (tmp_path / "geheim.txt").write_text("niet voor jou", encoding="utf-8")
    (corpus / "sources.toml").write_text("", encoding="utf-8")
    (corpus / "lek.txt").symlink_to(tmp_path / "geheim.txt")  # the registry refuses "../": a link must not get out
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", corpus_dir=corpus)
    entry = SourceEntry(id="lek", title="Lek", publisher="x", edition="1", published=2025, type=SourceType.factsheet,
                        file="lek.txt", status=SourceStatus.approved)
    save_registry(load_registry(settings.registry_path).with_added(entry), settings.registry_path)
    with pytest.raises(LookupError):
        approved_source_file(settings, "lek")


def _labelled_pdf(path: Path) -> None:
    writer = PdfWriter()
    for _ in range(5):
        writer.add_blank_page(width=200, height=200)
    writer.set_page_label(0, 1, style="/r")  # i, ii
    writer.set_page_label(2, 4, style="/D", start=1)  # 1, 2, 3
    with path.open("wb") as handle:
        writer.write(handle)


def test_citations_carry_the_printed_page_label_when_the_pdf_has_one(tmp_path: Path,
                                                                    built_index: tuple[Settings, IngestReport]) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(built_index[0].corpus_dir, corpus)
    _labelled_pdf(corpus / "gelabeld.pdf")
    assert PdfReader(str(corpus / "gelabeld.pdf")).page_labels == ["i", "ii", "1", "2", "3"]
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", corpus_dir=corpus)
    entry = SourceEntry(id="gelabeld", title="Gelabeld", publisher="x", edition="1", published=2025,
                        type=SourceType.rapport, file="gelabeld.pdf", status=SourceStatus.approved)
    save_registry(load_registry(settings.registry_path).with_added(entry), settings.registry_path)
    assert page_labels(corpus / "gelabeld.pdf") == ["i", "ii", "1", "2", "3"]
    assert page_labels(corpus / "pdf" / f"{AMERSFOORT}.pdf") is None  # no /PageLabels: no printed label

    def cite(n: int, source_id: str, page: int) -> Citation:
        return Citation(n=n, source_id=source_id, title="t", publisher="p", edition="1", page=page, section="s",
                        text="x", score=0.5)

    answer = Answer(question="q", answer="a [1] [2] [3]",
                    citations=[cite(1, "gelabeld", 2), cite(2, "gelabeld", 4), cite(3, AMERSFOORT, 3)])
    with_page_labels(answer, settings)
    assert [c.page_label for c in answer.citations] == ["ii", "2", None]
    assert [c.page for c in answer.citations] == [2, 4, 3]  # the PDF page index stays
    assert "page_label" in Answer.model_json_schema()["$defs"]["Citation"]["properties"]


def test_api_answers_carry_page_label(app_client: tuple[TestClient, Settings]) -> None:
    client, _ = app_client
    body = client.post("/v1/ask", json={"question": QUESTION}, headers=_auth(READER_KEY)).json()
    assert body["citations"] and all("page_label" in c for c in body["citations"])
    assert all(c["page_label"] is None for c in body["citations"])  # the shipped PDFs define no labels


# -- conversations -------------------------------------------------------------------------------


def test_conversations_api_shows_each_caller_only_their_own(app_client: tuple[TestClient, Settings]) -> None:
    client, _ = app_client
    crm, other = _auth(READER_KEY), _auth(OTHER_KEY)
    first = client.post("/v1/ask", json={"question": QUESTION, "conversation_id": "gesprek-1"}, headers=crm)
    assert first.status_code == 200
    follow = client.post("/v1/ask/stream", headers=crm, json={
        "question": "En in Groningen?", "conversation_id": "gesprek-1",
        "history": [{"question": QUESTION, "answer": first.json()["answer"]}]})
    assert follow.status_code == 200 and "event: done" in follow.text

    listed = client.get("/v1/conversations", headers=crm).json()
    assert [c["id"] for c in listed] == ["gesprek-1"] and listed[0]["turns"] == 2
    assert listed[0]["title"] == QUESTION
    full = client.get("/v1/conversations/gesprek-1", headers=crm).json()
    assert [t["question"] for t in full["items"]] == [QUESTION, "En in Groningen?"]
    assert full["items"][0]["answer"]["id"] == first.json()["id"]
    assert full["items"][1]["answer"]["citations"] and "Groningen" in full["items"][1]["answer"]["citations"][0]["title"]

    # Another key: nothing listed, the id is "not found" for reading, deleting and adding.
    assert client.get("/v1/conversations", headers=other).json() == []
    for method, path in (("GET", "/v1/conversations/gesprek-1"), ("DELETE", "/v1/conversations/gesprek-1")):
        refused = client.request(method, path, headers=other)
        assert refused.status_code == 404 and refused.json()["code"] == "conversation_not_found"
    taken = client.post("/v1/ask", json={"question": QUESTION, "conversation_id": "gesprek-1"}, headers=other)
    assert taken.status_code == 404 and taken.json()["code"] == "conversation_not_found"
    assert client.delete("/v1/conversations", headers=other).json() == {"deleted": 0}
    assert client.get("/v1/conversations/gesprek-1", headers=crm).json()["turns"] == 2  # untouched
    assert client.get("/v1/conversations").status_code == 401

    assert client.delete("/v1/conversations/gesprek-1", headers=crm).status_code == 204
    assert client.get("/v1/conversations/gesprek-1", headers=crm).status_code == 404
    client.post("/v1/ask", json={"question": QUESTION, "conversation_id": "gesprek-2"}, headers=crm)
    assert client.delete("/v1/conversations", headers=crm).json() == {"deleted": 1}
    assert client.get("/v1/conversations", headers=crm).json() == []


def _answer(question: str, answer_id: str) -> Answer:
    return Answer(id=answer_id, question=question, answer="Er stonden 9.500 vacatures open [1].", citations=[
        Citation(n=1, source_id=AMERSFOORT, title="Regio in Beeld 2025-2026 Amersfoort", publisher="UWV",
                 edition="2025-2026", page=2, section="De arbeidsmarkt", text="Er stonden 9.500 vacatures open.", score=0.9)])


def test_store_isolation_scrubbing_and_migration(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", corpus_dir=tmp_path)
    store = ConversationStore(settings)
    assert store.audit.version == SCHEMA_VERSION == MIGRATIONS[-1][0] == 3
    store.add_turn("ui:anna", "c-anna", _answer("Vacatures? Mail jan@example.nl of bel 0612345678", "a1"))
    stored = store.get("ui:anna", "c-anna")
    assert "jan@example.nl" not in stored.title and "[E-MAIL]" in stored.title
    assert "jan@example.nl" not in stored.items[0].question and "0612345678" not in stored.items[0].answer.question
    raw = b"".join(p.read_bytes() for p in (tmp_path / "data").glob("marktwijzer.db*"))
    assert b"jan@example.nl" not in raw
    for action in (lambda: store.get("ui:bram", "c-anna"), lambda: store.rename("ui:bram", "c-anna", "x"),
                   lambda: store.delete("ui:bram", "c-anna"),
                   lambda: store.add_turn("ui:bram", "c-anna", _answer("q", "a2"))):
        with pytest.raises(ConversationNotFound):
            action()
    assert store.list("ui:bram") == [] and len(store.list("ui:anna")) == 1
    store.rename("ui:anna", "c-anna", "Werkgever Jansen, vacatures")
    assert store.list("ui:anna")[0].title == "Werkgever Jansen, vacatures"


def test_retention_deletes_old_conversations_and_nothing_else(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", corpus_dir=tmp_path, conversation_days=30)
    store = ConversationStore(settings)
    now = dt.datetime.now(dt.UTC)
    for owner, cid, age_days in (("ui:anna", "oud", 31), ("ui:anna", "nieuw", 29), ("ui:bram", "bram-oud", 45),
                                 ("crm", "api-nieuw", 0)):
        store.add_turn(owner, cid, _answer(f"Vraag {cid}", f"a-{cid}"))
        store.touch(cid, now - dt.timedelta(days=age_days))
    audit_before = len(store.audit.list_answers())
    assert store.purge() == 2
    assert [c.id for c in store.list("ui:anna")] == ["nieuw"]
    assert store.list("ui:bram") == [] and [c.id for c in store.list("crm")] == ["api-nieuw"]
    assert store.get("ui:anna", "nieuw").items[0].question == "Vraag nieuw"
    assert len(store.audit.list_answers()) == audit_before  # the audit log has its own lifetime
    assert store.purge() == 0
    # Reading purges on its own (once an hour per process): a fresh store sees 10 days as the limit.
    short = ConversationStore(Settings(_env_file=None, data_dir=tmp_path / "data", corpus_dir=tmp_path,
                                       conversation_days=10))
    store.touch("nieuw", now - dt.timedelta(days=11))
    assert short.list("ui:anna") == [] and [c.id for c in short.list("crm")] == ["api-nieuw"]


# -- exports and the trainers' overview ----------------------------------------------------------


def test_conversation_exports_hold_every_turn_and_its_sources() -> None:
    from docx import Document

    turns = [(QUESTION, _answer(QUESTION, "a1")),
             ("En in Groningen?", Answer(question="En in Groningen?", answer="Dat staat niet in de bronnen.", refused=True))]
    sources: dict[str, Any] = {AMERSFOORT: {"url": "https://www.uwv.nl/amersfoort"}}
    markdown = conversation_markdown("Vacatures Amersfoort", turns, sources)
    assert "# Gesprek: Vacatures Amersfoort" in markdown and "## Vraag 1" in markdown and "## Vraag 2" in markdown
    assert "### Bronnen bij vraag 1" in markdown and "(https://www.uwv.nl/amersfoort)" in markdown
    assert "> **Er stonden 9.500 vacatures open**." in markdown and "Je praat met een AI-assistent" in markdown
    document = Document(io.BytesIO(conversation_docx("Vacatures Amersfoort", turns, sources)))
    text = "\n".join(p.text for p in document.paragraphs)
    assert QUESTION in text and "En in Groningen?" in text and "Bronnen bij vraag 1" in text
    assert "Er stonden 9.500 vacatures open." in text and document.core_properties.language == "nl-NL"


def test_feedback_overview_counts_by_reason_source_and_week_and_ranks_the_worst(tmp_path: Path) -> None:
    store = AuditStore(Settings(_env_file=None, data_dir=tmp_path / "data", corpus_dir=tmp_path))
    bad, good = _answer("Slechte vraag", "bad"), _answer("Goede vraag", "good")
    for answer in (bad, good):
        store.record_answer(answer, key_name="ui", channel="ui")
    store.record_feedback("bad", "down", "onjuist", "klopt niet", "ui")
    store.record_feedback("bad", "down", "bron_ondersteunt_niet", None, "ui")
    store.record_feedback("good", "up", "tijdwinst", None, "ui")
    save_snapshot(store, bad)
    found = overview(store)
    assert (found.total, found.up, found.down) == (3, 1, 2)
    assert found.by_reason["onjuist"] == {"up": 0, "down": 1} and found.by_reason["tijdwinst"] == {"up": 1, "down": 0}
    assert found.by_source[AMERSFOORT] == {"up": 1, "down": 2}
    week = "{}-W{:02d}".format(*dt.datetime.now(dt.UTC).isocalendar()[:2])
    assert found.by_week == {week: {"up": 1, "down": 2}}
    assert [w.answer_id for w in found.worst] == ["bad"]
    assert found.worst[0].answer is not None and found.worst[0].answer.citations[0].text.startswith("Er stonden")
    assert found.worst[0].reasons == ["bron_ondersteunt_niet", "onjuist"] and found.worst[0].comments == ["klopt niet"]
