"""API settings variants in process (FastAPI TestClient): auth off, rate limit, timeouts, no index;
and the small parts (key ring, file names, stream pieces, rate limiter) on their own."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

import assistant.api as api_module
from assistant.api import RateLimiter, _split_deltas, answer_timeout, create_app
from assistant.auth import KeyRing, Role, presented_key
from assistant.uploads import UploadRefused, safe_filename
from ingest.models import IngestReport
from ingest.pipeline import run_ingest
from ingest.registry import SourceStatus, load_registry, save_registry
from ingest.settings import Settings
from tests.apiserver import ADMIN_KEY, READER_KEY, app_settings as _settings, copy_index

QUESTION = "Hoeveel vacatures stonden er eind tweede kwartaal 2025 open in regio Amersfoort?"


@pytest.fixture
def make_client(built_index: tuple[Settings, IngestReport], tmp_path: Path) -> Iterator[Any]:
    clients: list[TestClient] = []

    def make(wait_ready: bool = True, **overrides: Any) -> TestClient:
        client = TestClient(create_app(_settings(built_index[0], tmp_path, **overrides)), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        deadline = time.monotonic() + 60
        while wait_ready and client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, client.get("/readyz").text
            time.sleep(0.1)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def _sse_kinds(text: str) -> list[tuple[str, str]]:
    events = []
    for block in text.split("\n\n"):
        lines = [line for line in block.splitlines() if not line.startswith(":")]
        if lines:
            kind = next(line[6:].strip() for line in lines if line.startswith("event:"))
            data = "".join(line[5:].strip() for line in lines if line.startswith("data:"))
            events.append((kind, data))
    return events


# -- auth off --------------------------------------------------------------------------------


def test_auth_is_on_unless_set_off_explicitly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MARKTWIJZER_AUTH", raising=False)
    assert Settings(_env_file=None).auth == "on"
    monkeypatch.setenv("MARKTWIJZER_AUTH", "off")
    assert Settings(_env_file=None).auth == "off"
    for value in ("", "no", "false", "0"):
        monkeypatch.setenv("MARKTWIJZER_AUTH", value)
        with pytest.raises(ValidationError):
            Settings(_env_file=None)


def test_auth_off_serves_everyone_as_admin_with_a_warning(make_client: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="assistant.api"):
        client = make_client(auth="off", reader_keys="", admin_keys="")
    assert any("MARKTWIJZER_AUTH=off" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    assert client.get("/v1/jobs").status_code == 200
    answer = client.post("/v1/ask", json={"question": QUESTION})
    assert answer.status_code == 200
    audit = client.get("/v1/audit").json()
    assert audit[0]["id"] == answer.json()["id"] and audit[0]["key_name"] == "auth-off"
    assert client.get("/readyz").json()["auth"] == "off"


def test_no_keys_configured_warns_and_refuses(make_client: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="assistant.api"):
        client = make_client(reader_keys="", admin_keys="")
    assert any("no API keys configured" in r.getMessage() for r in caplog.records)
    assert client.post("/v1/ask", json={"question": QUESTION}).json()["code"] == "missing_key"


# -- rate limit, timeouts, readiness ---------------------------------------------------------


def test_rate_limit_per_key(make_client: Any) -> None:
    client = make_client(rate_limit_per_minute=6, rate_limit_burst=3)
    reader = {"X-API-Key": READER_KEY}
    assert [client.get("/v1/sources", headers=reader).status_code for _ in range(3)] == [200, 200, 200]
    limited = client.get("/v1/sources", headers=reader)
    assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 10
    assert client.get("/v1/sources", headers={"X-API-Key": ADMIN_KEY}).status_code == 200  # another key
    assert client.get("/healthz").status_code == 200  # open endpoints are not limited


def test_answer_timeout_is_504_and_an_error_event(make_client: Any) -> None:
    client = make_client(answer_timeout_s=0.0001)
    headers = {"X-API-Key": READER_KEY}
    response = client.post("/v1/ask", json={"question": QUESTION}, headers=headers)
    assert response.status_code == 504 and response.json()["code"] == "timeout"
    stream = client.post("/v1/ask/stream", json={"question": QUESTION}, headers=headers)
    assert stream.status_code == 200
    events = _sse_kinds(stream.text)
    assert [kind for kind, _ in events] == ["error"]
    assert '"code": "timeout"' in events[0][1]


def test_no_index_is_503_with_json(make_client: Any, tmp_path: Path) -> None:
    client = make_client(wait_ready=False, data_dir=tmp_path / "empty")
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["code"] == "index_not_ready"
    headers = {"X-API-Key": READER_KEY}
    for path in ("/v1/ask", "/v1/ask/stream"):
        response = client.post(path, json={"question": QUESTION}, headers=headers)
        assert response.status_code == 503 and response.json()["code"] == "index_not_ready"
        assert response.headers["retry-after"]
    assert client.get("/healthz").status_code == 200


def test_all_sources_withdrawn_gives_a_refusal_not_an_error(
    built_index: tuple[Settings, IngestReport], tmp_path: Path
) -> None:
    """Found by schemathesis' stateful phase: withdrawing every source left /v1/ask with a 500."""
    settings = copy_index(built_index[0], tmp_path / "copy")
    registry = load_registry(settings.registry_path)
    for entry in registry.sources:
        registry = registry.with_status(entry.id, SourceStatus.withdrawn)
    save_registry(registry, settings.registry_path)
    assert run_ingest(settings).removed == 5
    app_settings = _settings(settings, tmp_path)
    with TestClient(create_app(app_settings), raise_server_exceptions=False) as client:
        deadline = time.monotonic() + 60
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        headers = {"X-API-Key": READER_KEY}
        response = client.post("/v1/ask", json={"question": QUESTION}, headers=headers)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["refused"] and answer["citations"] == [] and "geen goedgekeurde bronnen" in answer["answer"]
        stream = client.post("/v1/ask/stream", json={"question": QUESTION}, headers=headers)
        kinds = [kind for kind, _ in _sse_kinds(stream.text)]
        assert kinds[0] == "citations" and kinds[-1] == "done" and "error" not in kinds
        assert client.get("/v1/sources", headers=headers).json() == []


def test_module_app_is_built_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MARKTWIJZER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(api_module, "_default_app", None)
    app = api_module.app
    assert app is api_module.app and app.state.ctx.settings.data_dir == tmp_path / "data"


# -- parts -----------------------------------------------------------------------------------


def test_key_ring_names_roles_and_rejects_weak_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    ring = KeyRing(Settings(_env_file=None, reader_keys=f"crm:{READER_KEY}, {'r' * 20}", admin_keys=ADMIN_KEY))
    assert len(ring) == 3
    assert ring.lookup(READER_KEY) is not None and ring.lookup(READER_KEY).name == "crm"  # type: ignore[union-attr]
    assert ring.lookup("r" * 20).name == "reader-2"  # type: ignore[union-attr]
    assert ring.lookup(ADMIN_KEY).role is Role.admin  # type: ignore[union-attr]
    assert ring.lookup(READER_KEY[:-1]) is None and ring.lookup("") is None and ring.lookup(None) is None
    calls: list[int] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(1)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    ring.lookup(READER_KEY)  # matches the first key, still compares with every key
    assert len(calls) == 3
    with pytest.raises(ValueError, match="shorter"):
        KeyRing(Settings(_env_file=None, reader_keys="short"))
    with pytest.raises(ValueError, match="unique"):
        KeyRing(Settings(_env_file=None, reader_keys=f"a:{'x' * 20}", admin_keys=f"a:{'y' * 20}"))


def test_presented_key_headers() -> None:
    assert presented_key("Bearer abc", None) == "abc"
    assert presented_key("bearer  abc ", None) == "abc"
    assert presented_key("Basic abc", "k") == "k"
    assert presented_key(None, " k ") == "k"
    assert presented_key("Bearer ", "") is None


@pytest.mark.parametrize(
    ("name", "safe"),
    [("rapport.pdf", "rapport.pdf"), ("Regio in Beeld (2025).PDF", "Regio-in-Beeld-2025-.PDF"),
     ("Ëindrapport – juni.md", "Eindrapport-juni.md")],
)
def test_safe_filename_sanitises(name: str, safe: str) -> None:
    assert safe_filename(name) == safe


@pytest.mark.parametrize("name", ["../../x.pdf", "..\\x.pdf", "/etc/passwd", "C:\\x.pdf", "a/b.pdf", ".hidden.pdf",
                                  "x\x00.pdf", "", "  "])
def test_safe_filename_refuses_paths(name: str) -> None:
    with pytest.raises(UploadRefused) as refused:
        safe_filename(name)
    assert refused.value.code == "invalid_filename"


@given(st.text(alphabet=st.sampled_from(list("ab [1]\n•.,  ")), max_size=200))
def test_stream_pieces_join_to_the_text(text: str) -> None:
    pieces = _split_deltas(text)
    assert "".join(pieces) == text
    assert all(pieces)


def test_rate_limiter_refills(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    limiter = RateLimiter(per_minute=60, burst=2)
    assert limiter.take("k") == 0 and limiter.take("k") == 0
    assert limiter.take("k") == pytest.approx(1.0)
    now[0] += 1.0
    assert limiter.take("k") == 0
    assert RateLimiter(per_minute=0, burst=1).take("k") == 0


def test_answer_timeout_leaves_room_for_a_language_model() -> None:
    assert answer_timeout(Settings(_env_file=None, answer_timeout_s=30)) == 30
    with_model = Settings(_env_file=None, answer_timeout_s=30, llm="openai", llm_timeout=40)
    assert answer_timeout(with_model) == 95  # a structured try and a plain-text retry, then the fallback
    assert answer_timeout(Settings(_env_file=None, answer_timeout_s=300, llm="openai")) == 300
