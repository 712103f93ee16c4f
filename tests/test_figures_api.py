"""GET /v1/figures (issue 16): the figure store `marktwijzer figures` queries, over HTTP, paginated,
with the same filters and order; a withdrawn source's figures are gone at once. In process (TestClient)
on the session's index; the withdrawal on a private copy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from assistant.api import create_app
from assistant.cli import app as cli
from assistant.uploads import set_status
from ingest.models import IngestReport
from ingest.registry import SourceStatus
from ingest.settings import Settings
from tests.apiserver import READER_KEY, app_settings, copy_index

AMERSFOORT = "uwv-regio-in-beeld-2025-2026-amersfoort"
HEADERS = {"Authorization": f"Bearer {READER_KEY}"}


def _client(settings: Settings, tmp_path: Path) -> TestClient:
    # Pagination walks every page in a burst; the rate limiter has its own tests (test_api_inprocess),
    # and its budget here would make the outcome depend on how fast the machine is.
    return TestClient(create_app(app_settings(settings, tmp_path, rate_limit_per_minute=0)),
                      raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client(built_index: tuple[Settings, IngestReport], tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with _client(built_index[0], tmp_path_factory.mktemp("figures")) as test_client:
        yield test_client


def _cli_figures(settings: Settings, *args: str) -> list[dict[str, Any]]:
    env = {"MARKTWIJZER_DATA_DIR": str(settings.data_dir), "MARKTWIJZER_CORPUS_DIR": str(settings.corpus_dir)}
    result = CliRunner().invoke(cli, ["figures", *args, "--limit", "100000", "--json"], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("query", [
    {"words": "vacatures", "region": "Amersfoort"},
    {"words": "werknemersbanen", "year": 2024},
    {"source": "uwv-regio-in-beeld-2025-2026-groningen", "kind": "change"},
    {},
])
def test_same_records_and_order_as_the_cli(client: TestClient, built_index: tuple[Settings, IngestReport],
                                           query: dict[str, Any]) -> None:
    args = [query.get("words", "")]
    for name in ("region", "year", "source", "kind"):
        if name in query:
            args += [f"--{name}", str(query[name])]
    expected = _cli_figures(built_index[0], *args)
    page = client.get("/v1/figures", params={**query, "limit": 500}, headers=HEADERS)
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["total"] == len(expected) > 0
    items = body["items"]
    assert [{k: v for k, v in item.items() if k not in ("title", "publisher", "edition")} for item in items] == \
        expected[: len(items)]
    for item in items:  # provenance: where the number stands
        assert item["source_id"] and item["page"] >= 1 and item["chunk_id"].startswith(item["source_id"] + ":")
        assert item["text"] in item["sentence_text"] and item["title"]


def test_pagination_and_parameters(client: TestClient) -> None:
    everything = client.get("/v1/figures", params={"words": "vacatures", "limit": 500}, headers=HEADERS).json()
    assert everything["total"] > 10
    pages = [client.get("/v1/figures", params={"words": "vacatures", "limit": 4, "offset": offset}, headers=HEADERS).json()
             for offset in range(0, everything["total"], 4)]
    assert [item for page in pages for item in page["items"]] == everything["items"]
    assert {page["total"] for page in pages} == {everything["total"]} and pages[1]["offset"] == 4
    beyond = client.get("/v1/figures", params={"offset": 10_000}, headers=HEADERS).json()
    assert beyond["items"] == [] and beyond["total"] > 0
    for bad in ({"limit": 0}, {"limit": 501}, {"kind": "roman"}, {"year": "twintig"}, {"offset": -1}):
        response = client.get("/v1/figures", params=bad, headers=HEADERS)
        assert response.status_code == 422 and response.json()["code"] == "invalid_request", (bad, response.text)
    missing = client.get("/v1/figures")
    assert missing.status_code == 401 and missing.json()["code"] == "missing_key"


def test_a_withdrawn_source_is_gone_before_the_ingest(built_index: tuple[Settings, IngestReport], tmp_path: Path) -> None:
    settings = copy_index(built_index[0], tmp_path)
    with _client(settings, tmp_path) as client:
        before = client.get("/v1/figures", params={"source": AMERSFOORT, "limit": 1}, headers=HEADERS).json()
        assert before["total"] > 0
        set_status(settings, AMERSFOORT, SourceStatus.withdrawn)  # registry only: the index still holds it
        after = client.get("/v1/figures", params={"limit": 500}, headers=HEADERS).json()
        assert after["total"] > 0 and all(item["source_id"] != AMERSFOORT for item in after["items"])
        assert client.get("/v1/figures", params={"source": AMERSFOORT}, headers=HEADERS).json()["total"] == 0
