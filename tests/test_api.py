"""The HTTP API through a real `marktwijzer serve` (uvicorn) process: auth, answers, streaming,
concurrency, feedback, audit scrubbing, limits and metrics. Source changes: test_api_sources.py."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from ingest.models import IngestReport
from ingest.settings import Settings
from tests.apiserver import (
    ADMIN_KEY,
    READER_KEY,
    ApiServer,
    snapshot,
    sse_events,
    start_server,
)

FIGURE_QUESTION = (
    "Met hoeveel % is het aantal mensen in het onbenut arbeidspotentieel in Amersfoort gedaald tussen 2015 en 2024?"
)
PLAIN_QUESTION = "Hoeveel vacatures stonden er eind tweede kwartaal 2025 open in regio Amersfoort?"
REFUSED_QUESTION = "Hoeveel vacatures had de regio Groningen in 1998?"


@pytest.fixture(scope="module")
def server(built_index: tuple[Settings, IngestReport], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """Read-only use of the built index; the audit database lives in the test's own directory."""
    settings, _ = built_index
    # the rate limit has its own test (test_api_inprocess.py); here many requests come from one key
    running = start_server(settings, tmp_path_factory.mktemp("api"), MARKTWIJZER_RATE_LIMIT_PER_MINUTE="0")
    yield running
    running.stop()


@pytest.fixture
def reader(server: ApiServer) -> Iterator[httpx.Client]:
    with server.client(READER_KEY) as client:
        yield client


@pytest.fixture
def admin(server: ApiServer) -> Iterator[httpx.Client]:
    with server.client(ADMIN_KEY, header="bearer") as client:
        yield client


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code, body
    assert body["message"]
    return body


def _comparable(answer: dict[str, Any]) -> dict[str, Any]:
    """An answer without what differs per request by design: its id and its timings."""
    return {k: v for k, v in answer.items() if k not in ("id", "timings_ms")}


# -- auth ------------------------------------------------------------------------------------


ADMIN_CALLS = [
    ("POST", "/v1/sources/uwv-regio-in-beeld-2025-2026-amersfoort/withdraw", {}),
    ("POST", "/v1/sources/uwv-regio-in-beeld-2025-2026-amersfoort/approve", {}),
    ("POST", "/v1/sources", {"files": {"file": ("x.txt", b"Tekst over de arbeidsmarkt.")}, "data": {"title": "X"}}),
    ("GET", "/v1/jobs", {}),
    ("GET", "/v1/jobs/abc", {}),
    ("GET", "/v1/audit", {}),
    ("GET", "/v1/feedback", {}),
]
READER_CALLS = [
    ("POST", "/v1/ask", {"json": {"question": PLAIN_QUESTION}}),
    ("POST", "/v1/ask/stream", {"json": {"question": PLAIN_QUESTION}}),
    ("GET", "/v1/sources", {}),
    ("POST", "/v1/feedback", {"json": {"answer_id": "x", "rating": "up"}}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), ADMIN_CALLS + READER_CALLS)
def test_no_key_is_401_with_json(server: ApiServer, method: str, path: str, kwargs: dict[str, Any]) -> None:
    with server.client(None) as client:
        body = _error(client.request(method, path, **kwargs), 401, "missing_key")
        assert "X-API-Key" in body["message"]
    with server.client("not-a-key-but-long-enough") as client:
        _error(client.request(method, path, **kwargs), 401, "invalid_key")


@pytest.mark.parametrize(("method", "path", "kwargs"), ADMIN_CALLS)
def test_reader_key_on_admin_endpoint_is_403_and_changes_nothing(
    server: ApiServer, reader: httpx.Client, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    before = snapshot(server.settings)
    _error(reader.request(method, path, **kwargs), 403, "admin_required")
    assert snapshot(server.settings) == before


def test_a_wrong_key_next_to_a_right_one_is_refused(server: ApiServer) -> None:
    with server.client(None) as client:
        for headers in (
            {"Authorization": "Bearer wrong-key-0123456789", "X-API-Key": READER_KEY},
            {"Authorization": f"Bearer {READER_KEY}", "X-API-Key": "wrong-key-0123456789"},
            {"Authorization": "Basic dXNlcjpwYXNz", "X-API-Key": READER_KEY},
            {"Authorization": f"Bearer {READER_KEY}", "X-API-Key": ADMIN_KEY},  # two identities
        ):
            _error(client.get("/v1/sources", headers=headers), 401, "invalid_key")
        same = {"Authorization": f"Bearer {READER_KEY}", "X-API-Key": READER_KEY}
        assert client.get("/v1/sources", headers=same).status_code == 200


def test_keys_work_in_both_headers_and_admin_can_read(server: ApiServer) -> None:
    for key, header in [(READER_KEY, "x-api-key"), (READER_KEY, "bearer"), (ADMIN_KEY, "x-api-key"), (ADMIN_KEY, "bearer")]:
        with server.client(key, header=header) as client:
            response = client.get("/v1/sources")
            assert response.status_code == 200, (key, header, response.text)
            assert len(response.json()) == 5


def test_open_endpoints_need_no_key(server: ApiServer) -> None:
    with server.client(None) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz").json()
        assert ready["status"] == "ready" and ready["sources"] == 5 and ready["chunks"] > 100
        assert ready["auth"] == "on"
        assert client.get("/metrics").status_code == 200
        assert client.get("/openapi.json").json()["info"]["title"] == "Marktwijzer API"


def test_unknown_route_and_method_are_json(reader: httpx.Client) -> None:
    _error(reader.get("/v1/nope"), 404, "not_found")
    _error(reader.get("/v1/ask"), 405, "method_not_allowed")
    assert reader.delete("/v1/sources").headers["allow"] == "GET, POST"


# -- answers ---------------------------------------------------------------------------------


def test_ask_returns_the_answer_contract_with_an_id(reader: httpx.Client) -> None:
    response = reader.post("/v1/ask", json={"question": PLAIN_QUESTION})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert re.fullmatch(r"[0-9a-f]{12}", answer["id"])
    assert not answer["refused"] and "9.500" in answer["answer"]
    assert {int(n) for n in re.findall(r"\[(\d+)\]", answer["answer"])} == {c["n"] for c in answer["citations"]}
    assert set(answer) >= {"id", "question", "answer", "refused", "citations", "figures", "timings_ms"}
    assert response.headers["x-request-id"]
    again = reader.post("/v1/ask", json={"question": PLAIN_QUESTION}).json()
    assert again["id"] != answer["id"]
    assert _comparable(again) == _comparable(answer)


def test_request_id_becomes_the_answer_id_once(reader: httpx.Client) -> None:
    answer = reader.post("/v1/ask", json={"question": REFUSED_QUESTION, "id": "crm-ticket-4711"}).json()
    assert answer["id"] == "crm-ticket-4711" and answer["refused"]
    _error(reader.post("/v1/ask", json={"question": PLAIN_QUESTION, "id": "crm-ticket-4711"}), 409, "duplicate_id")


def test_filters_and_history_are_passed_on(reader: httpx.Client) -> None:
    only_groningen = {"sources": ["uwv-regio-in-beeld-2025-2026-groningen"]}
    answer = reader.post("/v1/ask", json={"question": "Hoeveel vacatures stonden er open?", "filters": only_groningen}).json()
    assert answer["citations"] and {c["source_id"] for c in answer["citations"]} == set(only_groningen["sources"])
    history = [{"question": "Hoeveel openstaande vacatures had regio Groningen eind tweede kwartaal 2025?",
                "answer": "12.500"}]
    follow = reader.post("/v1/ask", json={"question": "En in Amersfoort?", "history": history}).json()
    assert not follow["refused"]
    assert any(c["source_id"] == "uwv-regio-in-beeld-2025-2026-amersfoort" for c in follow["citations"])


def _stream(client: httpx.Client, body: dict[str, Any]) -> tuple[httpx.Response, list[tuple[str, Any]]]:
    with client.stream("POST", "/v1/ask/stream", json=body) as response:
        if response.status_code != 200:
            response.read()
            return response, []
        events = list(sse_events(response))
    return response, events


@pytest.mark.parametrize("question", [FIGURE_QUESTION, PLAIN_QUESTION, REFUSED_QUESTION])
def test_stream_gives_citations_first_and_done_equals_ask(reader: httpx.Client, question: str) -> None:
    response, events = _stream(reader, {"question": question})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "citations" and kinds[-1] == "done"
    assert kinds.count("done") == 1 and "error" not in kinds
    assert set(kinds[1:-2]) <= {"delta"} and kinds[-2] == "figures"
    done = events[-1][1]
    citations = events[0][1]
    deltas = [data["text"] for kind, data in events if kind == "delta"]
    # the pieces are the answer, the citations and figures events are the answer's
    assert "".join(deltas) == done["answer"]
    assert citations["citations"] == done["citations"] and citations["id"] == done["id"]
    assert events[-2][1]["figures"] == done["figures"]
    assert response.headers["x-answer-id"] == done["id"]
    # every [n] in the streamed text resolves to a citation that came before the text
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", "".join(deltas))}
    assert markers == {c["n"] for c in citations["citations"]}
    # the same question, not streamed: equal except for the per-request id and timings
    plain = reader.post("/v1/ask", json={"question": question}).json()
    assert _comparable(done) == _comparable(plain)
    assert done["id"] != plain["id"]
    if question == FIGURE_QUESTION:
        assert done["figures"] and done["figures"][0]["expression"]
    if question == REFUSED_QUESTION:
        assert done["refused"] and citations["citations"] == []


def test_concurrent_requests_through_uvicorn(server: ApiServer, admin: httpx.Client) -> None:
    questions = [PLAIN_QUESTION, FIGURE_QUESTION, REFUSED_QUESTION, "Welke sectoren groeien in Groningen?"] * 5

    def one(question: str) -> dict[str, Any]:
        with server.client(READER_KEY) as client:
            if len(question) % 2:
                response, events = _stream(client, {"question": question})
                assert response.status_code == 200 and events[-1][0] == "done"
                return events[-1][1]
            response = client.post("/v1/ask", json={"question": question})
            assert response.status_code == 200, response.text
            return response.json()

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(one, questions))
    assert len({a["id"] for a in answers}) == 20
    by_question: dict[str, list[dict[str, Any]]] = {}
    for answer in answers:
        by_question.setdefault(answer["question"], []).append(_comparable(answer))
    for same in by_question.values():
        assert all(a == same[0] for a in same)  # concurrent answers are the same answers
    audited = {r["id"] for r in admin.get("/v1/audit", params={"limit": 1000}).json()}
    assert {a["id"] for a in answers} <= audited


# -- feedback and audit ----------------------------------------------------------------------


def test_feedback_refers_to_answer_ids(reader: httpx.Client, admin: httpx.Client) -> None:
    answer = reader.post("/v1/ask", json={"question": PLAIN_QUESTION}).json()
    created = reader.post("/v1/feedback", json={
        "answer_id": answer["id"], "rating": "down", "reason": "onvolledig",
        "comment": "Mist Q3. Bel me op 06-12345678 of mail piet@example.org",
    })
    assert created.status_code == 201, created.text
    assert created.json()["answer_id"] == answer["id"]
    assert reader.post("/v1/feedback", json={"answer_id": answer["id"], "rating": "up"}).status_code == 201
    _error(reader.post("/v1/feedback", json={"answer_id": "never-given", "rating": "up"}), 404, "answer_not_found")
    _error(reader.post("/v1/feedback", json={"answer_id": answer["id"], "rating": "meh"}), 422, "invalid_request")
    _error(reader.post("/v1/feedback", json={"answer_id": answer["id"], "rating": "up", "reason": "x"}), 422,
           "invalid_request")
    rows = [r for r in admin.get("/v1/feedback").json() if r["answer_id"] == answer["id"]]
    assert [r["rating"] for r in rows] == ["up", "down"]
    down = rows[1]
    assert down["reason"] == "onvolledig" and down["key_name"] == "crm" and down["question"] == PLAIN_QUESTION
    assert "06-12345678" not in down["comment"] and "piet@example.org" not in down["comment"]
    assert "Mist Q3." in down["comment"]


PERSONAL_QUESTIONS = [
    ("Mijn klant met BSN 111222333 zoekt werk in Amersfoort, welke sectoren hebben vacatures?", "111222333"),
    ("Klant (bsn 123.456.782) vraagt naar vacatures in de zorg in Groningen", "123.456.782"),
    ("Stuur de vacaturecijfers van Amersfoort naar j.jansen@uwv.nl aub", "j.jansen@uwv.nl"),
    ("Werkgever belt vanaf 06-12345678: hoeveel vacatures zijn er in Groningen?", "06-12345678"),
    ("Kun je +31 20 123 4567 terugbellen over de werkloosheid in Amersfoort?", "+31 20 123 4567"),
    ("Uitkering naar NL91 ABNA 0417 1643 00 en hoeveel werkzoekenden zijn er in Groningen?", "NL91 ABNA 0417 1643 00"),
]


def test_audit_records_hold_no_personal_data(server: ApiServer, reader: httpx.Client, admin: httpx.Client) -> None:
    ids = {}
    for question, secret in PERSONAL_QUESTIONS:
        answer = reader.post("/v1/ask", json={"question": question}).json()
        ids[answer["id"]] = (question, secret)
    plain = reader.post("/v1/ask", json={"question": PLAIN_QUESTION}).json()
    records = {r["id"]: r for r in admin.get("/v1/audit", params={"limit": 1000}).json()}
    for answer_id, (question, secret) in ids.items():
        record = records[answer_id]
        assert secret not in record["question"]
        digits = re.sub(r"\D", "", secret)
        if digits:  # not even the digits survive in another grouping
            assert digits[-7:] not in re.sub(r"\D", "", record["question"])
        assert record["key_name"] == "crm" and record["latency_ms"] > 0
        assert re.search(r"\[(BSN|E-MAIL|TELEFOON|IBAN)\]", record["question"])
    assert records[plain["id"]]["question"] == PLAIN_QUESTION  # figures and places are kept
    assert records[plain["id"]]["cited_source_ids"] == ["uwv-regio-in-beeld-2025-2026-amersfoort"]
    # and not in the database file either
    database = Path(server.log_path.parent / "audit.db")
    with sqlite3.connect(database) as db:
        stored = " ".join(row[0] for row in db.execute("SELECT question FROM answers"))
    for _question, secret in PERSONAL_QUESTIONS:
        assert secret not in stored


# -- limits ----------------------------------------------------------------------------------


def test_question_limits(reader: httpx.Client) -> None:
    _error(reader.post("/v1/ask", json={"question": "x" * 2001}), 422, "question_too_long")
    _error(reader.post("/v1/ask", json={"question": ""}), 422, "invalid_question")
    _error(reader.post("/v1/ask", json={"question": "   "}), 422, "invalid_question")
    _error(reader.post("/v1/ask", json={"question": "a", "history": [{"question": "q"}] * 21}), 422, "invalid_request")
    _error(reader.post("/v1/ask", json={"question": "a", "unknown": 1}), 422, "invalid_request")
    _error(reader.post("/v1/ask", content=b"{not json", headers={"content-type": "application/json"}), 422,
           "invalid_request")


def test_body_size_limit(reader: httpx.Client) -> None:
    big = {"question": "Hoeveel vacatures?", "history": [{"question": "q", "answer": "a" * 300_000}]}
    _error(reader.post("/v1/ask", json=big), 413, "body_too_large")


# -- metrics ---------------------------------------------------------------------------------


def _metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_requests_refusals_and_index_size(server: ApiServer, reader: httpx.Client) -> None:
    with server.client(None) as anonymous:
        before = anonymous.get("/metrics").text
        assert reader.post("/v1/ask", json={"question": REFUSED_QUESTION}).json()["refused"]
        assert reader.post("/v1/ask", json={"question": PLAIN_QUESTION}).status_code == 200
        reader.get("/v1/jobs")  # 403
        after = anonymous.get("/metrics").text
    assert _metric(after, "marktwijzer_http_requests_total", route="/v1/ask", status="200") == \
        _metric(before, "marktwijzer_http_requests_total", route="/v1/ask", status="200") + 2
    assert _metric(after, "marktwijzer_http_requests_total", route="/v1/jobs", status="403") == \
        _metric(before, "marktwijzer_http_requests_total", route="/v1/jobs", status="403") + 1
    assert _metric(after, "marktwijzer_refusals_total", channel="ask") == \
        _metric(before, "marktwijzer_refusals_total", channel="ask") + 1
    assert _metric(after, "marktwijzer_http_request_duration_seconds_count", route="/v1/ask") >= 2
    ready = reader.get("/readyz").json()
    assert _metric(after, "marktwijzer_index_chunks") == ready["chunks"]
    assert _metric(after, "marktwijzer_index_sources") == 5
    assert _metric(after, "marktwijzer_index_bytes") > 1_000_000
