"""/v1/ask/stream on the language-model path (issue 8): verified text as `delta`, then the resolved
citations, figures and `done`; a model answer that fails verification falls back to the extractive one.
The model is the scripted OpenAI-compatible server on loopback (tests/llm_server.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from assistant.api import create_app
from ingest.models import IngestReport
from ingest.settings import Settings
from tests.test_llm import llm_server  # noqa: F401  (fixture)

QUESTION = "Hoeveel vacatures stonden er eind tweede kwartaal 2025 open in regio Amersfoort?"


def _events(text: str) -> list[tuple[str, Any]]:
    events = []
    for block in text.split("\n\n"):
        lines = [line for line in block.splitlines() if line and not line.startswith(":")]
        if lines:
            kind = next(line[6:].strip() for line in lines if line.startswith("event:"))
            data = "".join(line[5:].strip() for line in lines if line.startswith("data:"))
            events.append((kind, json.loads(data)))
    return events


def _client(built: Settings, tmp_path: Path, base_url: str) -> TestClient:
    settings = Settings(
        _env_file=None, data_dir=built.data_dir, corpus_dir=built.corpus_dir, auth="off",
        database_url=f"sqlite:///{tmp_path / 'audit.db'}", llm="openai", llm_model="lokaal-model",
        llm_base_url=base_url, llm_api_key="x", llm_timeout=5,
    )
    client = TestClient(create_app(settings), raise_server_exceptions=False)
    client.__enter__()
    deadline = time.monotonic() + 120
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    return client


def test_model_stream_ends_with_resolved_citations_and_done(
    built_index: tuple[Settings, IngestReport], tmp_path: Path, llm_server: tuple[str, Path, Path]  # noqa: F811
) -> None:
    base_url, script, log_file = llm_server
    # A model answer with a phantom citation and an invented number: it must not be shown.
    script.write_text(json.dumps([{"content": "Er stonden 12.345 vacatures open [9]."}]))
    client = _client(built_index[0], tmp_path, base_url)
    try:
        response = client.post("/v1/ask/stream", json={"question": QUESTION})
        assert response.status_code == 200
        events = _events(response.text)
        kinds = [kind for kind, _ in events]
        assert kinds[-3:] == ["citations", "figures", "done"] and "delta" in kinds
        assert kinds.index("citations") > max(i for i, k in enumerate(kinds) if k == "delta")
        done = events[-1][1]
        assert "12.345" not in done["answer"] and "[9]" not in done["answer"]
        assert done["generator"] == "extractive"  # the model's answer failed verification
        assert done["citations"] == events[kinds.index("citations")][1]["citations"]
        shown = "".join(data["text"] for kind, data in events if kind == "delta")
        replace = events[kinds.index("citations")][1]["replace"]
        assert shown == done["answer"] or replace
        assert log_file.exists() and log_file.read_text().strip()  # the model was asked
    finally:
        client.__exit__(None, None, None)
