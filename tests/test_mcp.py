"""`marktwijzer mcp` (issue 16) through the official MCP SDK client: over stdio (the server as a child
process, as an MCP host starts it) every tool is listed and called, and a source withdrawn in the
registry (not yet re-ingested: the index still holds it) never appears in any result; over streamable
HTTP the API keys are required and answers are audited under the key's name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from assistant.audit import AuditStore
from assistant.uploads import set_status
from benchmarks.common import stop_process_group
from ingest.models import IngestReport
from ingest.registry import SourceStatus
from ingest.settings import Settings
from tests.apiserver import KEY_ENV, READER_KEY, copy_index, free_port

REPO = Path(__file__).resolve().parent.parent
AMERSFOORT = "uwv-regio-in-beeld-2025-2026-amersfoort"
GRONINGEN = "uwv-regio-in-beeld-2025-2026-groningen"
TOOLS = {"ask", "search_passages", "get_figures", "list_sources"}


def _env(settings: Settings, database: Path) -> dict[str, str]:
    return {
        "MARKTWIJZER_DATA_DIR": str(settings.data_dir), "MARKTWIJZER_CORPUS_DIR": str(settings.corpus_dir),
        "MARKTWIJZER_DATABASE_URL": f"sqlite:///{database}", "PATH": os.environ.get("PATH", ""),
    }


def _result(call: Any) -> Any:
    assert not call.is_error, call.content
    data = call.structured_content
    return data["result"] if isinstance(data, dict) and set(data) == {"result"} else data


async def test_stdio_tools_and_a_withdrawn_source(built_index: tuple[Settings, IngestReport], tmp_path: Path) -> None:
    settings = copy_index(built_index[0], tmp_path)
    set_status(settings, AMERSFOORT, SourceStatus.withdrawn)  # no ingest: the index still holds its passages
    manifest = (settings.index_dir / (settings.index_dir / "CURRENT").read_text().strip() / "manifest.json")
    assert AMERSFOORT in json.loads(manifest.read_text())["sources"]
    database = tmp_path / "audit.db"
    params = StdioServerParameters(command=sys.executable, args=["-m", "assistant.cli", "mcp"],
                                   env=_env(settings, database), cwd=str(REPO))
    results: list[Any] = []
    async with Client(params, read_timeout_seconds=120) as client:
        tools = (await client.list_tools()).tools
        assert {t.name for t in tools} == TOOLS
        assert all(t.description and t.output_schema for t in tools)

        answer = _result(await client.call_tool("ask", {"question": "Hoeveel vacatures stonden er eind tweede "
                                                                    "kwartaal 2025 open in regio Groningen?"}))
        assert not answer["refused"] and answer["citations"]
        assert {c["source_id"] for c in answer["citations"]} == {GRONINGEN}
        # the question the withdrawn source answered best: answered without it (or refused), never from it
        withdrawn = _result(await client.call_tool("ask", {"question": "Hoeveel vacatures stonden er eind tweede "
                                                                       "kwartaal 2025 open in regio Amersfoort?"}))
        filtered = _result(await client.call_tool("ask", {"question": "Hoeveel vacatures stonden er open?",
                                                          "region": "Groningen"}))
        assert {c["source_id"] for c in filtered["citations"]} == {GRONINGEN}
        passages = _result(await client.call_tool("search_passages", {"query": "vacatures regio Amersfoort", "k": 10}))
        assert len(passages) == 10 and all(p["page"] >= 1 and p["section"] and p["text"] for p in passages)
        figures = _result(await client.call_tool("get_figures", {"words": "vacatures", "limit": 200}))
        assert figures and all(f["sentence_text"] and f["page"] >= 1 and f["title"] for f in figures)
        assert _result(await client.call_tool("get_figures", {"region": "Amersfoort", "source": AMERSFOORT})) == []
        sources = _result(await client.call_tool("list_sources", {}))
        assert len(sources) == 4 and all(s["status"] == "approved" for s in sources)
        results += [answer, withdrawn, filtered, passages, figures, sources]
        refused = await client.call_tool("ask", {"question": "Hoeveel vacatures?", "source": [AMERSFOORT]})
        assert refused.is_error and "source_not_found" in refused.content[0].text
        too_long = await client.call_tool("ask", {"question": "x" * 2001})
        assert too_long.is_error
    assert AMERSFOORT not in json.dumps(results)
    records = AuditStore(url=f"sqlite:///{database}").list_answers()
    assert {r.id for r in records} == {answer["id"], withdrawn["id"], filtered["id"]}
    assert {(r.key_name, r.channel) for r in records} == {("mcp-stdio", "mcp")}


@pytest.fixture(scope="module")
def http_server(built_index: tuple[Settings, IngestReport], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    workdir = tmp_path_factory.mktemp("mcp-http")
    database = workdir / "audit.db"
    port = free_port()
    env = {**os.environ, **_env(built_index[0], database), **KEY_ENV}
    with open(workdir / "server.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "assistant.cli", "mcp", "--http", "--port", str(port)],
                                   stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True)
    url = f"http://127.0.0.1:{port}/mcp"
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, (workdir / "server.log").read_text()
        try:
            httpx.get(url, timeout=1)
            break
        except httpx.HTTPError:
            assert time.monotonic() < deadline, (workdir / "server.log").read_text()
            time.sleep(0.2)
    yield url, database
    stop_process_group(process)


def test_http_needs_a_key(http_server: tuple[str, Path]) -> None:
    url, _ = http_server
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    for headers, code in [({}, "missing_key"), ({"Authorization": "Bearer not-a-key-but-long-enough"}, "invalid_key"),
                          ({"Authorization": "Basic dXNlcjpwYXNz"}, "invalid_key")]:
        response = httpx.post(url, json=ping, headers={"Accept": "application/json, text/event-stream", **headers})
        assert response.status_code == 401 and response.json()["code"] == code
        assert response.headers["www-authenticate"] == "Bearer"


async def test_http_tools_with_a_reader_key_are_audited(http_server: tuple[str, Path]) -> None:
    url, database = http_server
    async with httpx2.AsyncClient(headers={"X-API-Key": READER_KEY}, timeout=120) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            assert {t.name for t in (await client.list_tools()).tools} == TOOLS
            assert len(_result(await client.call_tool("list_sources", {}))) == 5
            answer = _result(await client.call_tool("ask", {"question": "Hoeveel vacatures had de regio Groningen in 1998?"}))
    assert answer["refused"]
    record = next(r for r in AuditStore(url=f"sqlite:///{database}").list_answers() if r.id == answer["id"])
    assert (record.key_name, record.channel, record.refused) == ("crm", "mcp", True)
