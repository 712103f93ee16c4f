"""Remote mode: the UI talks to a real `marktwijzer serve` (uvicorn on loopback) when
MARKTWIJZER_API_URL is set. The HTTP backend on its own, and the pages through AppTest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.models import IngestReport
from ingest.settings import Settings
from ui.backend import BackendError, HttpBackend

from .apiserver import ADMIN_KEY, READER_KEY, ApiServer, start_server, wait_job
from .test_ui_support import app, button, copy_built, point_ui_at, texts

VACANCIES = "Hoeveel vacatures stonden er open in regio Amersfoort?"


@pytest.fixture(scope="module")
def server(built_index: tuple[Settings, IngestReport], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    root = tmp_path_factory.mktemp("ui-remote")
    settings = copy_built(built_index[0], root)
    running = start_server(settings, root / "work", MARKTWIJZER_RATE_LIMIT_PER_MINUTE="0")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def remote_ui(server: ApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ApiServer:
    """The UI process points at an empty local data dir: everything must come through the API."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    point_ui_at(monkeypatch, Settings(data_dir=tmp_path / "data", corpus_dir=corpus, _env_file=None),
                MARKTWIJZER_API_URL=server.base_url, MARKTWIJZER_API_KEY=READER_KEY)
    return server


def test_stream_gives_text_citations_and_the_whole_answer(server: ApiServer) -> None:
    backend = HttpBackend(server.base_url, READER_KEY)
    events = list(backend.stream(VACANCIES))
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "done" and "delta" in kinds and "citations" in kinds  # the page does not depend on order
    assert kinds.index("figures") > max(i for i, k in enumerate(kinds) if k == "delta")
    answer = events[-1][1]
    assert "".join(data for kind, data in events if kind == "delta") == answer.answer
    assert answer.citations and answer.citations == dict(events)["citations"] and answer.id
    assert "9.500" in answer.answer


def test_ask_follow_up_and_filters_over_http(server: ApiServer) -> None:
    from assistant.types import HistoryTurn

    backend = HttpBackend(server.base_url, READER_KEY)
    first = backend.ask(VACANCIES)
    follow = backend.ask("En in Groningen?", history=[HistoryTurn(question=VACANCIES, answer=first.answer)])
    assert {c.source_id for c in follow.citations} == {"uwv-regio-in-beeld-2025-2026-groningen"}
    filtered = backend.ask("Hoeveel vacatures stonden er open?", filters={"region": "Groningen", "sources": [], "types": []})
    assert filtered.citations and all("groningen" in c.source_id for c in filtered.citations)


def test_feedback_over_http_is_stored_by_the_server(server: ApiServer) -> None:
    backend = HttpBackend(server.base_url, READER_KEY)
    answer = [data for kind, data in backend.stream(VACANCIES) if kind == "done"][0]
    backend.feedback(answer, "down", "onvolledig", "mist de sectoren")
    with server.client(ADMIN_KEY) as admin:
        records = admin.get("/v1/feedback").json()
    mine = [r for r in records if r["answer_id"] == answer.id]
    assert mine and mine[0]["rating"] == "down" and mine[0]["reason"] == "onvolledig"


def test_conversation_and_source_file_over_http(server: ApiServer) -> None:
    """Issue 17 in remote mode: the server keeps the conversation under the UI's key; the viewer gets
    the file through GET /v1/sources/{id}/file."""
    backend = HttpBackend(server.base_url, READER_KEY)
    answer = [data for kind, data in backend.stream(VACANCIES, conversation_id="ui-gesprek") if kind == "done"][0]
    backend.add_turn("ui:anna", "ui-gesprek", answer)  # a no-op over HTTP: the server stored it already
    [listed] = [c for c in backend.conversations("ui:anna") if c["id"] == "ui-gesprek"]
    assert listed["turns"] == 1 and listed["title"] == VACANCIES
    stored = backend.conversation("ui:anna", "ui-gesprek")
    assert stored["items"][0]["answer"]["id"] == answer.id
    data, content_type = backend.source_file("uwv-regio-in-beeld-2025-2026-amersfoort")
    assert content_type == "application/pdf" and data.startswith(b"%PDF-")
    with pytest.raises(BackendError, match="404"):
        backend.source_file("bestaat-niet")
    backend.delete_conversation("ui:anna", "ui-gesprek")
    assert not [c for c in backend.conversations("ui:anna") if c["id"] == "ui-gesprek"]


def test_wrong_key_and_unreachable_api_give_dutch_errors(server: ApiServer) -> None:
    events = list(HttpBackend(server.base_url, "fout").stream(VACANCIES))
    assert events[0][0] == "error" and "sleutel" in events[0][1]
    events = list(HttpBackend("http://127.0.0.1:9", READER_KEY, timeout=2).stream(VACANCIES))
    assert events[0][0] == "error" and "niet bereikbaar" in events[0][1]
    with pytest.raises(BackendError, match="niet bereikbaar"):
        HttpBackend("http://127.0.0.1:9", READER_KEY, timeout=2).sources()


def test_chat_page_in_remote_mode(remote_ui: ApiServer) -> None:
    at = app()
    assert "Verbonden met de API" in " ".join(c.value for c in at.sidebar.caption)
    assert "Groningen" in at.sidebar.selectbox[0].options  # filters from GET /v1/sources
    at.chat_input[0].set_value(VACANCIES).run()
    assert not at.exception, [e.value for e in at.exception]
    html = [m.value for m in at.markdown if m.value.startswith('<div class="mw-answer">')]
    assert html and "9.500" in html[0]
    assert any(e.label.startswith("[1] Regio in Beeld 2025-2026 Amersfoort") for e in at.expander)
    at.feedback[0].set_value(1).run()
    button(at, "Feedback versturen").click().run()
    assert any("Feedback opgeslagen" in s.value for s in at.success), texts(at)
    with remote_ui.client(ADMIN_KEY) as admin:
        assert any(r["rating"] == "up" and r["key_name"] == "crm" for r in admin.get("/v1/feedback").json())


def test_refusal_in_remote_mode(remote_ui: ApiServer) -> None:
    at = app()
    at.chat_input[0].set_value("Hoeveel werklozen zijn er in Limburg?").run()
    assert "Niet gevonden in de goedgekeurde bronnen" in texts(at)


def test_sources_page_in_remote_mode_with_admin_key(remote_ui: ApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKTWIJZER_API_KEY", ADMIN_KEY)
    at = app("sources")
    table = at.dataframe[0].value
    assert len(table) == 5 and set(table["status"]) == {"goedgekeurd"}
    at.selectbox(key="manage_source").set_value("ser-ongekend-talent-2025").run()
    button(at, "Intrekken").click().run()
    assert not at.exception, [e.value for e in at.exception]
    with remote_ui.client(ADMIN_KEY) as admin:  # the server's ingest job (slow on a loaded machine)
        wait_job(admin, admin.get("/v1/jobs").json()[0]["id"], timeout=900)
    button(at, "Indexering op de server volgen").click().run(timeout=300)
    assert not at.exception, [e.value for e in at.exception]
    assert any("verwijderd 1" in s.value for s in at.success), texts(at)
    with remote_ui.client(ADMIN_KEY) as admin:
        rows = {r["id"]: r for r in admin.get("/v1/sources").json()}
        assert rows["ser-ongekend-talent-2025"]["status"] == "withdrawn" and not rows["ser-ongekend-talent-2025"]["indexed"]
    # (left withdrawn: approving again would re-embed the whole report; this is the module's last test)
