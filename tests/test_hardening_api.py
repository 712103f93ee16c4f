"""Issue 20 (hardening), through a real `marktwijzer serve` on loopback:

1. bounded history; answer work that really stops on a timeout and on a disconnected stream (the
   in-flight gauge and the queue count it until it has stopped);
5. request ids with personal data refused, disguised personal data scrubbed in the audit log, an
   answer whose audit record cannot be written is a 503 (and the log holds no question or SQL
   parameters), two asks with the same new id give one answer and one record;
6. every Authorization / X-API-Key header checked, no key in the URL or the access log, a header
   size limit, failed keys rate-limited per client, a Dutch message for malformed JSON.
"""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from ingest.models import IngestReport
from ingest.settings import Settings
from tests.apiserver import ADMIN_KEY, READER_KEY, ApiServer, sse_events, start_server

QUESTION = "Hoeveel vacatures stonden er eind tweede kwartaal 2025 open in regio Amersfoort?"
# The dev questions that take longest to answer (~0.15-0.2 s each on 2 cores).
SLOW_QUESTIONS = [
    "Welk beroep hebben de meeste ww'ers in Amersfoort?",
    "Hoeveel inwoners van Amersfoort in loondienst werken in Midden-Utrecht, Groot Amsterdam en Gooi en "
    "Vechtstreek samen?",
    "Welke top 5 beroepen noemt de AIZ-infographic (juni 2025) onder ‘tekort aan arbeidskrachten’?",
    "hoeveel zijn de vacatures in zorg & welzijn in amersfoort gestegen t.o.v. 2019 (aantal en %)?",
]
ABANDONED = 24  # ~4 s of answer work on one worker if nothing stops it


# -- servers -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(built_index: tuple[Settings, IngestReport], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    settings, _ = built_index
    running = start_server(settings, tmp_path_factory.mktemp("hardening"), MARKTWIJZER_RATE_LIMIT_PER_MINUTE="0")
    yield running
    running.stop()


def _server(built_index: tuple[Settings, IngestReport], tmp: Path, **env: str) -> ApiServer:
    settings, _ = built_index
    return start_server(settings, tmp, MARKTWIJZER_RATE_LIMIT_PER_MINUTE="0", **env)


@pytest.fixture
def reader(server: ApiServer) -> Iterator[httpx.Client]:
    with server.client(READER_KEY) as client:
        yield client


@pytest.fixture
def admin(server: ApiServer) -> Iterator[httpx.Client]:
    with server.client(ADMIN_KEY) as client:
        yield client


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    assert body["message"] and "Traceback" not in body["message"]
    return body


def _metric(server: ApiServer, name: str, labels: str = "") -> float:
    text = httpx.get(f"{server.base_url}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(name + (f"{{{labels}}}" if labels else "")) and not line.startswith("#"):
            head, value = line.rsplit(" ", 1)
            if labels or head == name:
                return float(value)
    return 0.0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_idle(server: ApiServer, timeout: float = 30.0) -> float:
    """Seconds until the in-flight gauge reads 0 (fails after `timeout`)."""
    started = time.monotonic()
    while _metric(server, "marktwijzer_answers_in_flight") > 0:
        assert time.monotonic() - started < timeout, "answers still in flight"
        time.sleep(0.05)
    return time.monotonic() - started


def _busy_cpu(server: ApiServer, window: float = 2.0) -> float:
    before = _cpu_seconds(server.process.pid)
    time.sleep(window)
    return _cpu_seconds(server.process.pid) - before


# -- finding 1: bounded history ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/ask", "/v1/ask/stream"])
def test_a_100_kb_history_turn_is_refused_fast(reader: httpx.Client, path: str) -> None:
    body = {"question": "En in Groningen?", "history": [{"question": "vacatures Amersfoort " * 5000, "answer": ""}]}
    started = time.perf_counter()
    response = reader.post(path, json=body)
    assert time.perf_counter() - started < 2.0
    _error(response, 422, "history_too_long")


def test_history_is_bounded_per_turn_answer_and_in_total(reader: httpx.Client) -> None:
    _error(reader.post("/v1/ask", json={"question": "En in Groningen?", "history": [
        {"question": "Hoeveel vacatures?", "answer": "x" * 20_000}]}), 422, "history_too_long")
    many = [{"question": "Hoeveel vacatures stonden er open? " * 50, "answer": "Er stonden 9.500 vacatures open."}] * 20
    assert all(len(turn["question"]) <= 2000 for turn in many)  # each turn is fine, together too much
    started = time.perf_counter()
    _error(reader.post("/v1/ask", json={"question": "En in Groningen?", "history": many}), 422, "history_too_long")
    assert time.perf_counter() - started < 2.0
    ok = reader.post("/v1/ask", json={"question": "En in Groningen?", "history": [
        {"question": QUESTION, "answer": "Er stonden 9.500 vacatures open [1]."}]})
    assert ok.status_code == 200, ok.text


# -- finding 1: abandoned work stops -------------------------------------------------------------


def _abandon(base_url: str, question: str, stream: bool) -> None:
    """Ask, then leave: a stream after its first byte, a plain ask after 0.1 s (client timeout)."""
    with httpx.Client(base_url=base_url, headers={"X-API-Key": READER_KEY}, timeout=60) as client:
        if stream:
            with client.stream("POST", "/v1/ask/stream", json={"question": question}) as response:
                assert response.status_code == 200
                next(response.iter_bytes())  # ": marktwijzer", then the reader goes away
        else:
            try:
                client.post("/v1/ask", json={"question": question}, timeout=0.1)
            except httpx.TimeoutException:
                pass  # the usual case: the reader gave up (the first may be answered in time)


@pytest.fixture(scope="module")
def one_worker(built_index: tuple[Settings, IngestReport], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    running = _server(built_index, tmp_path_factory.mktemp("one-worker"), MARKTWIJZER_MAX_CONCURRENT_ANSWERS="1")
    with running.client() as client:
        assert client.post("/v1/ask", json={"question": QUESTION}).status_code == 200  # warm
    yield running
    running.stop()
    assert "Traceback" not in running.log()


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "ask"])
def test_disconnected_clients_stop_their_work(one_worker: ApiServer, stream: bool) -> None:
    cancelled = _metric(one_worker, "marktwijzer_answers_cancelled_total", 'reason="disconnect"')
    with ThreadPoolExecutor(ABANDONED) as pool:
        list(pool.map(lambda i: _abandon(one_worker.base_url, SLOW_QUESTIONS[i % 4], stream), range(ABANDONED)))
    _wait_idle(one_worker, timeout=15)
    # ~4 s of queued answer work was abandoned: none of it may still be running now.
    assert _busy_cpu(one_worker) < 0.6
    now = _metric(one_worker, "marktwijzer_answers_cancelled_total", 'reason="disconnect"')
    assert now - cancelled >= ABANDONED / 2
    with one_worker.client() as client:  # and the next reader is not queued behind abandoned work
        started = time.perf_counter()
        assert client.post("/v1/ask", json={"question": QUESTION}).status_code == 200
        assert time.perf_counter() - started < 3.0


def test_timed_out_answers_stop_their_work_and_count_until_then(
    built_index: tuple[Settings, IngestReport], tmp_path: Path
) -> None:
    running = _server(built_index, tmp_path, MARKTWIJZER_MAX_CONCURRENT_ANSWERS="1",
                      MARKTWIJZER_ANSWER_TIMEOUT_S="0.05")
    try:
        def ask(i: int) -> int:
            with running.client() as client:
                return client.post("/v1/ask", json={"question": SLOW_QUESTIONS[i % 4]}).status_code

        with ThreadPoolExecutor(ABANDONED) as pool:
            statuses = list(pool.map(ask, range(ABANDONED)))
        assert statuses.count(504) >= ABANDONED - 2, statuses
        _wait_idle(running, timeout=15)
        assert _busy_cpu(running) < 0.6  # the timed-out work stopped; it does not run on unseen
        assert _metric(running, "marktwijzer_answers_cancelled_total", 'reason="timeout"') >= statuses.count(504)
    finally:
        running.stop()
    assert "Traceback" not in running.log()


# -- finding 5: personal data and the audit record -----------------------------------------------


def test_a_request_id_with_personal_data_is_refused(reader: httpx.Client, admin: httpx.Client) -> None:
    for request_id in ("klant-111222333", "0612345678", "NL91ABNA0417164300"):
        _error(reader.post("/v1/ask", json={"question": QUESTION, "id": request_id}), 422, "id_personal_data")
        _error(reader.post("/v1/ask/stream", json={"question": QUESTION, "id": request_id}), 422, "id_personal_data")
    ids = {record["id"] for record in admin.get("/v1/audit", params={"limit": 1000}).json()}
    assert not ids & {"klant-111222333", "0612345678", "NL91ABNA0417164300"}


def test_disguised_personal_data_is_scrubbed_in_the_audit_log(reader: httpx.Client, admin: httpx.Client) -> None:
    question = ("Vacatures voor mijn klant (BSN 111\u200b222\u200b333, tel 06.12345678, postcode 3811 AB, "
                "Stationsstraat 12a, geboren 12-05-1985, mail naam (at) domein.nl) in Amersfoort?")
    response = reader.post("/v1/ask", json={"question": question, "id": "scrub-disguised-1"})
    assert response.status_code == 200, response.text
    record = next(r for r in admin.get("/v1/audit", params={"limit": 1000}).json() if r["id"] == "scrub-disguised-1")
    stored = record["question"]
    assert not re.search(r"\d", stored.replace("\u200b", "")), stored
    assert "naam" not in stored and "Stationsstraat" not in stored
    assert "Amersfoort" in stored and "Vacatures" in stored


def test_two_asks_with_the_same_new_id_give_one_answer_and_one_record(
    server: ApiServer, admin: httpx.Client
) -> None:
    together = 4
    barrier = threading.Barrier(together)

    def ask(request_id: str) -> int:
        with server.client() as client:
            client.get("/healthz")  # connected before the barrier: the asks leave at the same moment
            barrier.wait(timeout=30)
            return client.post("/v1/ask", json={"question": SLOW_QUESTIONS[0], "id": request_id}).status_code

    for attempt in range(3):
        request_id = f"same-new-id-{attempt}"
        with ThreadPoolExecutor(together) as pool:
            statuses = sorted(pool.map(ask, [request_id] * together))
        assert statuses == [200] + [409] * (together - 1), statuses  # one answer per id, and it is recorded
        records = [r for r in admin.get("/v1/audit", params={"limit": 1000}).json() if r["id"] == request_id]
        assert len(records) == 1


def test_an_answer_without_an_audit_record_is_a_503_and_the_log_holds_no_question(server: ApiServer) -> None:
    database = Path(server.log_path.parent / "audit.db")
    marker = "Zeldzaamwoordvraag"
    question = f"Hoeveel vacatures stonden er open in regio Amersfoort, {marker}?"
    with sqlite3.connect(database) as connection:  # the audit insert now fails: no such table
        connection.execute("ALTER TABLE answers RENAME TO answers_away")
    try:
        with server.client() as client:
            body = _error(client.post("/v1/ask", json={"question": question}), 503, "audit_unavailable")
            assert "Retry-After" in client.post("/v1/ask", json={"question": question}).headers
            with client.stream("POST", "/v1/ask/stream", json={"question": question}) as response:
                events = list(sse_events(response))
            assert [kind for kind, _ in events] == ["error"]
            assert events[0][1]["code"] == "audit_unavailable"
    finally:
        with sqlite3.connect(database) as connection:
            connection.execute("ALTER TABLE answers_away RENAME TO answers")
    assert "auditlog" in body["message"]
    log = server.log()
    assert marker not in log and "[parameters" not in log and "INSERT INTO" not in log
    with server.client() as client:  # the store is back: answers are served again
        assert client.post("/v1/ask", json={"question": QUESTION}).status_code == 200


# -- finding 6: auth, keys in URLs, header size, failed keys, malformed JSON ----------------------


def test_every_key_header_is_checked(server: ApiServer) -> None:
    wrong = "wrong-key-0123456789abcdef"
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        for headers in (
            [("X-API-Key", ADMIN_KEY), ("X-API-Key", wrong)],
            [("Authorization", f"Bearer {ADMIN_KEY}"), ("Authorization", f"Bearer {wrong}")],
            [("Authorization", f"Bearer {ADMIN_KEY}"), ("Authorization", "Basic dXNlcjpwYXNz")],
            [("X-API-Key", ADMIN_KEY), ("X-API-Key", READER_KEY)],  # two identities
        ):
            _error(client.get("/v1/audit", headers=headers), 401, "invalid_key")
        same = [("X-API-Key", ADMIN_KEY), ("X-API-Key", ADMIN_KEY)]
        assert client.get("/v1/audit", headers=same).status_code == 200


def test_a_key_in_the_url_is_refused_and_never_logged(server: ApiServer) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        for name in ("api_key", "API_KEY", "token"):
            _error(client.get("/v1/sources", params={name: ADMIN_KEY}), 400, "key_in_query")
            _error(client.get("/v1/sources", params={name: ADMIN_KEY}, headers={"X-API-Key": ADMIN_KEY}),
                   400, "key_in_query")
        _error(client.get(f"/v1/sources?api%5Fkey={ADMIN_KEY}"), 400, "key_in_query")  # percent-encoded name
    time.sleep(0.3)  # the access log line is written after the response
    log = server.log()
    assert "/v1/sources?api_key=" in log  # the request is logged ...
    assert ADMIN_KEY not in log  # ... without the key


def test_malformed_json_gets_a_dutch_message(reader: httpx.Client) -> None:
    for raw in (b"{not json", b'{"question": "Hoeveel?"', b"\xff\xfe garbage"):
        response = reader.post("/v1/ask", content=raw, headers={"content-type": "application/json"})
        body = _error(response, 422, "invalid_request")  # the stable code of every malformed body
        assert body["message"] == "De request body is geen geldige JSON."
    body = _error(reader.post("/v1/ask", headers={"content-type": "application/json"}), 422, "invalid_request")
    assert "(0)" not in body["message"] and "ontbreekt" in body["message"]


@pytest.fixture(scope="module")
def guarded(built_index: tuple[Settings, IngestReport], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """A server of its own: these tests make 127.0.0.1 a client with many failed keys."""
    running = _server(built_index, tmp_path_factory.mktemp("guarded"))
    yield running
    running.stop()


def _raw_request(port: int, header_bytes: int, timeout: float = 10.0) -> tuple[bytes, float]:
    """A GET with one header of `header_bytes`; returns what the server answered and the seconds it took."""
    started = time.perf_counter()
    head = (f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ").encode()
    pad = b"a" * header_bytes
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(head)
            for offset in range(0, len(pad), 1 << 16):
                sock.sendall(pad[offset : offset + (1 << 16)])
            sock.sendall(b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused while we were still sending: what a limit should do
        try:
            while chunk := sock.recv(65536):
                answer += chunk
                if b"\r\n\r\n" in answer:
                    break
        except (ConnectionResetError, TimeoutError):
            pass
    return answer, time.perf_counter() - started


def test_large_headers_are_refused_fast(guarded: ApiServer) -> None:
    port = int(guarded.base_url.rsplit(":", 1)[1])
    ok, _ = _raw_request(port, 1000)
    assert ok.startswith(b"HTTP/1.1 200")
    answer, _seconds = _raw_request(port, 1 << 20)  # 1 MB of header: refused, not served
    assert not answer.startswith(b"HTTP/1.1 200"), answer[:200]
    answer, seconds = _raw_request(port, 32 << 20)
    assert not answer.startswith(b"HTTP/1.1 200")
    assert seconds < 1.0, seconds  # refused after the limit, not after reading 32 MB
    assert httpx.get(f"{guarded.base_url}/healthz", timeout=5).status_code == 200


def test_failed_keys_are_rate_limited_per_client(guarded: ApiServer) -> None:
    wrong = "guess-0000000000000000"
    codes: list[str] = []
    with httpx.Client(base_url=guarded.base_url, timeout=30) as client:
        for attempt in range(80):
            response = client.get("/v1/sources", headers={"X-API-Key": f"{wrong}{attempt:03d}"})
            codes.append(response.json()["code"])
            if response.status_code == 429:
                assert int(response.headers["Retry-After"]) >= 1
                break
        assert codes[0] == "invalid_key"
        assert codes[-1] == "too_many_failed_keys", codes
        # while blocked, even a right key from this client is refused: guessing gets no signal
        _error(client.get("/v1/sources", headers={"X-API-Key": READER_KEY}), 429, "too_many_failed_keys")
    assert guarded.log().count("too many unknown API keys") == 1
