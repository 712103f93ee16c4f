"""Two API workers (`uvicorn --workers 2`) on a real Chroma server and a real PostgreSQL: an ingest
started through one worker is answered from by both, and feedback sent to both lands in one database.

Which worker served a request is read from /proc: the worker process that holds the server end of
the request's TCP connection."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from assistant.audit import AuditStore
from benchmarks.common import stop_process_group
from ingest.models import IngestReport
from ingest.settings import Settings

from .apiserver import ADMIN_KEY, KEY_ENV, READER_KEY, free_port
from .chromaserver import chroma_binary, chroma_server, server_mode_copy
from .test_audit import postgres_url  # noqa: F401  (fixture: a real PostgreSQL on loopback)

pytestmark = pytest.mark.skipif(chroma_binary() is None, reason="no `chroma` command")

AMERSFOORT = "uwv-regio-in-beeld-2025-2026-amersfoort"
QUESTION = "Hoeveel vacatures stonden er eind tweede kwartaal 2025 open in regio Amersfoort?"
WORKERS = 2


@dataclass
class Workers:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def worker_pids(self) -> set[int]:
        pids = set()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.process.pid:
                    pids.add(int(entry.name))
        return pids

    def _server_side_owner(self, client_port: int) -> int | None:
        inodes = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                if local_port == self.port and remote_port == client_port:
                    inodes.add(f"socket:[{fields[9]}]")
        for pid in self.worker_pids():
            try:
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    try:
                        if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                            return pid
                    except OSError:
                        continue
            except OSError:
                continue
        return None

    def call(self, method: str, path: str, body: Any = None, key: str = READER_KEY) -> tuple[int | None, int, Any]:
        """(worker pid, status, JSON body) of one request on a fresh connection."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            headers = {"X-API-Key": key, "Connection": "keep-alive"}
            payload = None
            if body is not None:
                payload = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            data = response.read()
            pid = self._server_side_owner(connection.sock.getsockname()[1]) if connection.sock else None
            return pid, response.status, json.loads(data) if data else None
        finally:
            connection.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop_process_group(self.process, grace=30)


@pytest.fixture(scope="module")
def settings(
    built_index: tuple[Settings, IngestReport], postgres_url: str,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Settings]:
    root = tmp_path_factory.mktemp("workers")
    with chroma_server(root / "chroma-server") as chroma_url:
        yield server_mode_copy(built_index[0], root, chroma_url, database_url=postgres_url)


@pytest.fixture(scope="module")
def workers(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    port = free_port()
    log_path = tmp_path_factory.mktemp("workers-log") / "uvicorn.log"
    env = {
        **os.environ,
        "MARKTWIJZER_DATA_DIR": str(settings.data_dir),
        "MARKTWIJZER_CORPUS_DIR": str(settings.corpus_dir),
        "MARKTWIJZER_CHROMA_URL": settings.chroma_url,
        "MARKTWIJZER_DATABASE_URL": settings.database_url,
        "MARKTWIJZER_EMBEDDING_THREADS": "1",
        "MARKTWIJZER_RATE_LIMIT_PER_MINUTE": "0",
        **KEY_ENV,
    }
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "assistant.api:create_app", "--factory", "--workers", str(WORKERS),
             "--host", "127.0.0.1", "--port", str(port), "--http", "h11", "--h11-max-incomplete-event-size", "65536"],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=log_path.parent, start_new_session=True,
        )
    server = Workers(port, process, log_path)
    try:
        ready: set[int] = set()
        deadline = time.monotonic() + 180
        while len(ready) < WORKERS:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"workers not ready (exit {process.poll()}):\n{server.log()[-3000:]}")
            try:
                pid, status, _ = server.call("GET", "/readyz")
            except OSError:
                time.sleep(0.5)
                continue
            if status == 200 and pid is not None:
                ready.add(pid)
            else:
                time.sleep(0.2)
        yield server
    finally:
        server.stop()


def _from_every_worker(workers: Workers, method: str, path: str, body: Any = None, key: str = READER_KEY,
                       timeout: float = 90.0) -> dict[int, list[tuple[int, Any]]]:
    """Repeat a request on fresh connections until every worker has served it at least once."""
    served: dict[int, list[tuple[int, Any]]] = {}
    deadline = time.monotonic() + timeout
    while len(served) < WORKERS:
        assert time.monotonic() < deadline, f"only workers {sorted(served)} answered {path}"
        pid, status, data = workers.call(method, path, body, key)
        if pid is not None:
            served.setdefault(pid, []).append((status, data))
    return served


def test_two_workers_share_chroma_and_postgres(workers: Workers, settings: Settings) -> None:
    assert len(workers.worker_pids()) >= WORKERS

    # 1. Both workers answer from the server-mode index and record answers in PostgreSQL.
    before = _from_every_worker(workers, "POST", "/v1/ask", {"question": QUESTION})
    answers: dict[str, int] = {}  # answer id -> worker that recorded it
    for pid, results in before.items():
        for status, answer in results:
            assert status == 200, answer
            assert AMERSFOORT in {c["source_id"] for c in answer["citations"]}
            answers[answer["id"]] = pid

    # 2. Feedback on every answer, on fresh connections: lands in the one database whichever worker
    #    takes it (also for answers the other worker recorded).
    feedback_by: dict[int, int] = {}
    crossed = 0
    for round_ in range(10):
        for answer_id, recorded_by in answers.items():
            pid, status, data = workers.call("POST", "/v1/feedback", {
                "answer_id": answer_id, "rating": "up" if round_ % 2 else "down", "reason": "anders",
                "comment": f"ronde {round_}"})
            assert status == 201, data
            feedback_by[pid] = feedback_by.get(pid, 0) + 1  # type: ignore[index]
            crossed += pid is not None and pid != recorded_by
        if len(feedback_by) >= WORKERS and crossed:
            break
    sent = sum(feedback_by.values())
    assert len([p for p in feedback_by if p is not None]) == WORKERS, feedback_by
    assert crossed > 0  # feedback on an answer recorded by the other worker
    store = AuditStore(url=settings.database_url)
    assert store.engine.dialect.name == "postgresql"
    stored = store.list_feedback(limit=1000)
    assert len(stored) == sent and {f.answer_id for f in stored} == set(answers)
    for answer_id in answers:
        assert store.get_answer(answer_id) is not None
    _, status, listed = workers.call("GET", "/v1/feedback?limit=1000", key=ADMIN_KEY)
    assert status == 200 and len(listed) == sent  # any worker lists all of it

    # 3. An ingest through one worker (withdraw -> background job in that worker) ...
    _, _, ready = workers.call("GET", "/readyz")
    old_generation = ready["generation"]
    pid, status, change = workers.call("POST", f"/v1/sources/{AMERSFOORT}/withdraw", key=ADMIN_KEY)
    assert status == 202, change
    deadline = time.monotonic() + 120
    while workers.call("GET", "/readyz")[2]["generation"] == old_generation:
        assert time.monotonic() < deadline, workers.log()[-3000:]
        time.sleep(0.5)
    # ... is seen by every worker: the new generation, and answers without the withdrawn source.
    readiness = _from_every_worker(workers, "GET", "/readyz")
    generations = {data["generation"] for results in readiness.values() for _, data in results}
    assert len(generations) == 1 and old_generation not in generations
    after = _from_every_worker(workers, "POST", "/v1/ask", {"question": QUESTION})
    for results in after.values():
        for status, answer in results:
            assert status == 200, answer
            assert AMERSFOORT not in {c["source_id"] for c in answer["citations"]}
    new_generation = generations.pop()
    assert (settings.index_dir / new_generation / "bm25" / "ids.json").is_file()
    assert not (settings.index_dir / new_generation / "chroma").exists()  # vectors in the server
