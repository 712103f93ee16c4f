"""Source upload, withdraw and approve through the real API process, with background ingest jobs.

Refused uploads change nothing (registry, corpus files, serving generation, no job). Accepted
changes are applied by a background ingest while answers keep coming from the previous index.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ingest.models import IngestReport
from ingest.settings import Settings
from ingest.store import ingest_lock
from tests.apiserver import (
    ADMIN_KEY,
    READER_KEY,
    ApiServer,
    copy_index,
    snapshot,
    start_server,
    wait_job,
)

REPO = Path(__file__).resolve().parent.parent
SHIPPED_PDF = REPO / "corpus" / "pdf"


@pytest.fixture(scope="module")
def server(built_index: tuple[Settings, IngestReport], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    root = tmp_path_factory.mktemp("api-sources")
    settings = copy_index(built_index[0], root)
    running = start_server(settings, root / "run", MARKTWIJZER_RATE_LIMIT_PER_MINUTE="0")
    yield running
    running.stop()


@pytest.fixture
def admin(server: ApiServer) -> Iterator[httpx.Client]:
    with server.client(ADMIN_KEY) as client:
        yield client


@pytest.fixture
def reader(server: ApiServer) -> Iterator[httpx.Client]:
    with server.client(READER_KEY) as client:
        yield client


def _corrupt_pdf() -> bytes:
    real = next(SHIPPED_PDF.glob("*.pdf")).read_bytes()
    return real[:4000]  # a real PDF's head, cut off: no xref, no trailer


def _executable() -> bytes:
    return Path("/bin/ls").read_bytes() if Path("/bin/ls").exists() else b"\x7fELF\x02\x01\x01" + b"\x00" * 5000


REFUSALS = [
    ("corrupt.pdf", _corrupt_pdf, {}, 422, "unreadable_file"),
    ("rapport.pdf", _executable, {}, 415, "executable_refused"),
    ("groot.pdf", lambda: b"%PDF-1.7\n" + b"0" * (100 * 1024 * 1024), {}, 413, "file_too_large"),
    ("../../x.pdf", lambda: b"%PDF-1.4\n", {}, 400, "invalid_filename"),
    ("..\\..\\x.pdf", lambda: b"%PDF-1.4\n", {}, 400, "invalid_filename"),
    ("/etc/x.pdf", lambda: b"%PDF-1.4\n", {}, 400, "invalid_filename"),
    ("notitie.pdf", lambda: b"Gewone tekst over vacatures in Amersfoort.", {}, 415, "content_mismatch"),
    ("setup.exe", lambda: b"MZ\x90\x00" + b"\x00" * 1000, {}, 415, "unsupported_type"),
    ("archief.txt", lambda: b"PK\x03\x04" + b"\x00" * 100, {}, 415, "unsupported_type"),
    ("leeg.txt", lambda: b"", {}, 422, "empty_file"),
    ("binair.txt", lambda: bytes(range(256)) * 40, {}, 422, "unreadable_file"),
    ("ok.txt", lambda: b"Tekst over de arbeidsmarkt.", {"published": "vorig jaar"}, 422, "invalid_metadata"),
    ("ok.txt", lambda: b"Tekst over de arbeidsmarkt.", {"id": "Bad Id!"}, 422, "invalid_metadata"),
    ("ok.txt", lambda: b"Tekst over de arbeidsmarkt.", {"id": "ser-ongekend-talent-2025"}, 409, "source_exists"),
    ("ok.txt", lambda: b"Tekst over de arbeidsmarkt.", {"type": "roman"}, 422, "invalid_request"),
]


@pytest.mark.parametrize(("name", "make", "fields", "status", "code"), REFUSALS,
                         ids=[f"{r[4]}:{r[0]}" for r in REFUSALS])
def test_refused_upload_changes_nothing(
    server: ApiServer, admin: httpx.Client, name: str, make: Any, fields: dict[str, str], status: int, code: str
) -> None:
    before = snapshot(server.settings)
    jobs_before = admin.get("/v1/jobs").json()
    response = admin.post("/v1/sources", files={"file": (name, make())}, data={"title": "Testbron", **fields})
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code and body["message"]
    assert snapshot(server.settings) == before
    assert admin.get("/v1/jobs").json() == jobs_before
    assert not list(server.settings.corpus_dir.rglob(".upload-*"))


def test_large_upload_refused_without_content_length(server: ApiServer, admin: httpx.Client) -> None:
    """A chunked body (no Content-Length) is cut off at the limit as well."""
    before = snapshot(server.settings)

    def body() -> Iterator[bytes]:
        boundary = b"--xyz\r\n"
        yield boundary + b'Content-Disposition: form-data; name="title"\r\n\r\nGroot\r\n'
        yield boundary + b'Content-Disposition: form-data; name="file"; filename="groot.pdf"\r\n\r\n%PDF-1.7\n'
        chunk = b"0" * (1024 * 1024)
        for _ in range(100):
            yield chunk
        yield b"\r\n--xyz--\r\n"

    try:
        response = admin.post("/v1/sources", content=body(), headers={"content-type": "multipart/form-data; boundary=xyz"})
    except httpx.HTTPError:  # the server may close the connection while we are still sending
        response = None
    if response is not None:
        assert response.status_code == 413 and response.json()["code"] == "file_too_large"
    assert snapshot(server.settings) == before
    assert admin.get("/healthz").status_code == 200


def _testwoud_text(paragraphs: int = 30) -> str:
    sectors = ["zorg", "bouw", "logistiek", "onderwijs", "ICT", "detailhandel", "horeca", "industrie"]
    lines = ["# Arbeidsmarkt Testwoud 2025", "",
             "In de regio Testwoud stonden in 2025 precies 4.321 vacatures open.", ""]
    for i in range(paragraphs):
        sector = sectors[i % len(sectors)]
        lines.append(
            f"## {i + 1}. De sector {sector} in Testwoud, deel {i + 1}\n\n"
            f"In de sector {sector} in Testwoud werkten in 2024 ongeveer {1000 + 37 * i} mensen. "
            f"Werkgevers in de {sector} melden dat het aantal moeilijk vervulbare vacatures met {3 + i % 9} procent steeg. "
            f"Het aantal werkzoekenden met een achtergrond in de {sector} daalde naar {200 + 11 * i}. "
            f"Opleiders in Testwoud starten {2 + i % 5} nieuwe trajecten voor zij-instromers in de {sector}.\n"
        )
    return "\n".join(lines)


def _ask(reader: httpx.Client, question: str) -> dict[str, Any]:
    response = reader.post("/v1/ask", json={"question": question})
    assert response.status_code == 200, response.text
    return response.json()


def test_upload_is_ingested_in_the_background_while_the_old_index_answers(
    server: ApiServer, admin: httpx.Client, reader: httpx.Client
) -> None:
    question = "Hoeveel vacatures stonden er in 2025 open in Testwoud?"
    old_generation = reader.get("/readyz").json()["generation"]
    response = admin.post(
        "/v1/sources",
        files={"file": ("Testwoud rapport (2025).md", _testwoud_text().encode())},
        data={"title": "Arbeidsmarkt Testwoud", "publisher": "Testbureau", "published": "2025",
              "regions": "Testwoud", "type": "rapport"},
    )
    assert response.status_code == 202, response.text
    change = response.json()
    assert change["id"] == "testwoud-rapport-2025"
    assert change["source"]["status"] == "approved" and not change["source"]["indexed"]
    job = change["job"]
    assert job["state"] in ("queued", "running") and job["reasons"] == ["upload testwoud-rapport-2025"]
    assert (server.settings.corpus_dir / "files" / "testwoud-rapport-2025.md").is_file()

    # while the job runs every answer comes (200); CURRENT only moves forward, so an answer after
    # which the serving generation is still the old one was given from the old index
    answered_from_old = 0
    while admin.get(f"/v1/jobs/{job['id']}").json()["state"] in ("queued", "running"):
        answer = _ask(reader, question)
        if reader.get("/readyz").json()["generation"] == old_generation:
            assert all(c["source_id"] != "testwoud-rapport-2025" for c in answer["citations"])
            answered_from_old += 1
        time.sleep(0.5)
    assert answered_from_old >= 1, "the ingest finished before any answer could be asked meanwhile"

    finished = wait_job(admin, job["id"])
    assert finished["state"] == "succeeded", finished
    assert finished["report"]["added"] == 1 and finished["report"]["failed"] == []
    assert reader.get("/readyz").json()["generation"] == finished["report"]["generation"] != old_generation
    answer = _ask(reader, question)
    assert not answer["refused"] and "4.321" in answer["answer"]
    assert answer["citations"][0]["source_id"] == "testwoud-rapport-2025"
    listed = {s["id"]: s for s in reader.get("/v1/sources").json()}
    assert listed["testwoud-rapport-2025"]["indexed"] and listed["testwoud-rapport-2025"]["chunks"] > 0


def test_withdraw_removes_a_source_from_answers(server: ApiServer, admin: httpx.Client, reader: httpx.Client) -> None:
    source = "uwv-regio-in-beeld-2025-2026-groningen"
    question = "Hoeveel openstaande vacatures had regio Groningen eind tweede kwartaal 2025?"
    assert _ask(reader, question)["citations"][0]["source_id"] == source
    response = admin.post(f"/v1/sources/{source}/withdraw")
    assert response.status_code == 202, response.text
    assert response.json()["source"]["status"] == "withdrawn"
    job = wait_job(admin, response.json()["job"]["id"])
    assert job["state"] == "succeeded" and job["report"]["removed"] == 1
    answer = _ask(reader, question)
    assert all(c["source_id"] != source for c in answer["citations"])
    assert source not in {s["id"] for s in reader.get("/v1/sources").json()}
    assert source in {s["id"] for s in admin.get("/v1/sources", params={"status": "withdrawn"}).json()}
    # withdrawing again changes nothing and starts no job
    again = admin.post(f"/v1/sources/{source}/withdraw")
    assert again.status_code == 200 and again.json()["job"] is None
    missing = admin.post("/v1/sources/no-such-source/withdraw")
    assert missing.status_code == 404 and missing.json()["code"] == "source_not_found"


def test_draft_upload_waits_for_approval_and_a_busy_ingest(
    server: ApiServer, admin: httpx.Client, reader: httpx.Client
) -> None:
    text = "# Kort bericht Testdal\n\nIn Testdal waren in 2025 precies 777 vacatures in de zorg.\n"
    response = admin.post("/v1/sources", files={"file": ("testdal.txt", text.encode())},
                          data={"title": "Kort bericht Testdal", "status": "draft", "regions": "Testdal"})
    assert response.status_code == 201 and response.json()["job"] is None
    assert "testdal" not in {s["id"] for s in reader.get("/v1/sources").json()}
    # an ingest started elsewhere (the CLI) holds the lock: the job waits for it, answers go on
    with ingest_lock(server.settings.index_dir):
        approved = admin.post("/v1/sources/testdal/approve")
        assert approved.status_code == 202
        job_id = approved.json()["job"]["id"]
        deadline = time.monotonic() + 60
        while "wacht" not in (waiting := admin.get(f"/v1/jobs/{job_id}").json())["progress"]["message"]:
            # queued until the worker takes it, then running while it waits for the lock
            assert waiting["state"] in ("queued", "running") and time.monotonic() < deadline, waiting
            time.sleep(0.3)
        assert _ask(reader, "Hoeveel vacatures stonden er eind tweede kwartaal 2025 open in regio Amersfoort?")
    job = wait_job(admin, job_id)
    assert job["state"] == "succeeded" and job["report"]["added"] == 1
    answer = _ask(reader, "Hoeveel vacatures waren er in 2025 in Testdal?")
    assert "777" in answer["answer"] and answer["citations"][0]["source_id"] == "testdal"
    assert admin.get("/v1/jobs/doesnotexist").json()["code"] == "job_not_found"
