"""Server mode (MARKTWIJZER_CHROMA_URL): a real `chroma run` on loopback gives the same answers as the
embedded index, ingests into per-generation collections, and garbage collection drops old ones."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.answer import Assistant
from ingest.lexical import LexicalIndex
from ingest.models import IngestReport
from ingest.pipeline import IngestError, run_ingest
from ingest.registry import (
    SourceEntry,
    SourceStatus,
    SourceType,
    load_registry,
    save_registry,
)
from ingest.settings import Settings
from ingest.store import (
    COLLECTION,
    SERVER_SEARCH_EF,
    chroma_client,
    current_generation,
    open_index,
    release_chroma,
    server_client,
)

from .chromaserver import chroma_binary, chroma_server, server_mode_copy

REPO = Path(__file__).resolve().parent.parent
DEV = [json.loads(line) for line in (REPO / "evals" / "dev.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]

pytestmark = pytest.mark.skipif(chroma_binary() is None, reason="no `chroma` command")


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with chroma_server(tmp_path_factory.mktemp("chroma-server")) as url:
        yield url


@pytest.fixture(scope="module")
def server_settings(
    built_index: tuple[Settings, IngestReport], chroma_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    settings, _ = built_index
    return server_mode_copy(settings, tmp_path_factory.mktemp("server-mode"), chroma_url)


def _collections(url: str) -> set[str]:
    return {c.name for c in server_client(url).list_collections()}


def _comparable(answer: object) -> dict:
    return answer.model_dump(mode="json", exclude={"timings_ms", "id"})  # type: ignore[attr-defined]


def test_server_mode_reads_the_generation_collection(
    built_index: tuple[Settings, IngestReport], server_settings: Settings, chroma_url: str
) -> None:
    embedded = open_index(built_index[0].index_dir)
    server = open_index(server_settings.index_dir, server_settings.chroma_url)
    from chromadb.api.fastapi import FastAPI as ChromaHttpApi

    assert isinstance(server.collection._client, ChromaHttpApi)  # the HTTP client
    assert server.collection.name == f"{COLLECTION}-{server.generation.name}"
    assert f"{COLLECTION}-{server.generation.name}" in _collections(chroma_url)
    assert not server.generation.chroma_dir.exists()  # nothing embedded left to fall back on
    assert server.collection.count() == embedded.collection.count() == len(embedded.manifest.chunk_ids())
    assert [c["id"] for c in server.all_chunks()] == [c["id"] for c in embedded.all_chunks()]
    assert server.all_chunks() == embedded.all_chunks()


@pytest.fixture(scope="module")
def embedded_same_search(
    built_index: tuple[Settings, IngestReport], tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """An embedded copy whose collection searches with the server-mode beam (SERVER_SEARCH_EF)."""
    settings, _ = built_index
    root = tmp_path_factory.mktemp("embedded-exact")
    shutil.copytree(settings.corpus_dir, root / "corpus")
    shutil.copytree(settings.data_dir, root / "data", ignore=shutil.ignore_patterns("ingest.lock", "*.db*"))
    copy = Settings(data_dir=root / "data", corpus_dir=root / "corpus", _env_file=None)
    generation = current_generation(copy.index_dir)
    assert generation is not None
    try:
        collection = chroma_client(generation.chroma_dir).get_collection(COLLECTION)
        collection.modify(configuration={"hnsw": {"ef_search": SERVER_SEARCH_EF}})  # type: ignore[arg-type]
    finally:
        release_chroma(generation.chroma_dir)
    return copy


def _differences(left: Assistant, right: Assistant) -> list[str]:
    return [item["id"] for item in DEV if _comparable(left.ask(item["question"])) != _comparable(right.ask(item["question"]))]


def test_dev_set_answers_identical_embedded_and_server(
    embedded_same_search: Settings, server_settings: Settings
) -> None:
    """All 60 dev questions: the same Answer JSON (timings and id aside) from embedded Chroma and
    from the Chroma server, both searching with the same HNSW beam."""
    embedded = Assistant(embedded_same_search)
    server = Assistant(server_settings)
    assert server.retriever.handle.collection.name.startswith(f"{COLLECTION}-gen-")
    assert server.retriever.handle.collection.configuration_json["hnsw"]["ef_search"] == SERVER_SEARCH_EF
    assert len(DEV) == 60
    differences = _differences(embedded, server)
    assert differences == [], f"{len(differences)} of {len(DEV)} dev answers differ: {differences}"


def test_dev_set_default_embedded_vs_server(built_index: tuple[Settings, IngestReport], server_settings: Settings) -> None:
    """The embedded index as `marktwijzer ingest` builds it (Chroma's default ef_search 100) against
    the server: dense retrieval is an exact search over the stored chunk vectors, so the HNSW
    settings no longer matter (with Chroma's query, 2 of 60 answers differed)."""
    differences = _differences(Assistant(built_index[0]), Assistant(server_settings))
    print(f"default embedded vs server: {len(DEV) - len(differences)} of {len(DEV)} identical; differ: {differences}")
    assert differences == [], differences


def test_missing_bm25_is_rebuilt_from_the_collection_with_the_same_ranking(
    server_settings: Settings, tmp_path: Path
) -> None:
    """A replica without the shared bm25/ directory ranks exactly like one that has it."""
    stored = open_index(server_settings.index_dir, server_settings.chroma_url)
    data = tmp_path / "data"
    shutil.copytree(server_settings.data_dir, data, ignore=shutil.ignore_patterns("bm25", "ingest.lock"))
    replica = Settings(data_dir=data, corpus_dir=server_settings.corpus_dir, chroma_url=server_settings.chroma_url,
                       _env_file=None)
    assert not (current_generation(replica.index_dir).bm25_dir).exists()  # type: ignore[union-attr]
    rebuilt = open_index(replica.index_dir, replica.chroma_url)
    assert rebuilt.generation.name == stored.generation.name
    assert rebuilt.lexical.ids == stored.lexical.ids
    for item in DEV:
        assert rebuilt.lexical.top(item["question"], k=20) == stored.lexical.top(item["question"], k=20), item["id"]
        assert (rebuilt.lexical.scores(item["question"]) == stored.lexical.scores(item["question"])).all()
    assert isinstance(rebuilt.lexical, LexicalIndex)


def test_ingest_in_server_mode_and_garbage_collection(
    built_index: tuple[Settings, IngestReport], tmp_path: Path
) -> None:
    """A real incremental ingest against the server (its own server: garbage collection deletes)."""
    with chroma_server(tmp_path / "server") as chroma_url:
        _ingest_and_collect(server_mode_copy(built_index[0], tmp_path, chroma_url, keep_generations=1), chroma_url)


def _ingest_and_collect(settings: Settings, chroma_url: str) -> None:
    first = current_generation(settings.index_dir)
    assert first is not None
    note = settings.corpus_dir / "notitie.md"
    note.write_text("## Testland\n\nIn regio Testland stonden 4.321 vacatures open in juni 2025.", encoding="utf-8")
    registry = load_registry(settings.registry_path)
    save_registry(registry.with_added(SourceEntry(
        id="notitie-testland", title="Notitie Testland", publisher="Test", edition="1", published=2025,
        type=SourceType.factsheet, file="notitie.md", status=SourceStatus.approved,
    )), settings.registry_path)

    report = run_ingest(settings)

    assert report.added == 1 and report.unchanged == 5 and report.embedded == 1 and not report.failed
    second = current_generation(settings.index_dir)
    assert second is not None and second.name == report.generation != first.name
    assert not second.chroma_dir.exists()  # the vectors are in the server, not on DATA_DIR
    names = _collections(chroma_url)
    assert f"{COLLECTION}-{second.name}" in names
    assert f"{COLLECTION}-{first.name}" not in names  # keep_generations=1: the old one is gone
    assert not first.root.exists()
    handle = open_index(settings.index_dir, chroma_url)
    assert handle.collection.count() == len(handle.manifest.chunk_ids()) == report.chunks
    assert set(handle.lexical.ids) == set(handle.manifest.chunk_ids())
    answer = Assistant(settings).ask("Hoeveel vacatures stonden er open in regio Testland in juni 2025?")
    assert any(c.source_id == "notitie-testland" for c in answer.citations)
    assert "4.321" in answer.answer

    # the serving generation's collection lost on the server: a clear error, CURRENT stays
    server_client(chroma_url).delete_collection(f"{COLLECTION}-{second.name}")
    note.write_text("## Testland\n\nIn regio Testland stonden 5.432 vacatures open in juni 2025.", encoding="utf-8")
    with pytest.raises(IngestError, match="ingest --rebuild"):
        run_ingest(settings)
    assert current_generation(settings.index_dir) == second


def test_cli_index_push(built_index: tuple[Settings, IngestReport], tmp_path: Path) -> None:
    """`marktwijzer index push` moves an embedded install to the server without re-embedding."""
    from typer.testing import CliRunner

    from assistant.cli import app

    built, _ = built_index
    shutil.copytree(built.data_dir, tmp_path / "data", ignore=shutil.ignore_patterns("ingest.lock", "*.db*"))
    settings = Settings(data_dir=tmp_path / "data", corpus_dir=built.corpus_dir, _env_file=None)  # read-only corpus
    generation = current_generation(settings.index_dir)
    assert generation is not None
    env = {"MARKTWIJZER_DATA_DIR": str(settings.data_dir), "MARKTWIJZER_CORPUS_DIR": str(settings.corpus_dir)}
    with chroma_server(tmp_path / "server") as chroma_url:
        result = CliRunner().invoke(app, ["index", "push", "--chroma-url", chroma_url], env=env)
        assert result.exit_code == 0, result.output
        pushed = server_client(chroma_url).get_collection(f"{COLLECTION}-{generation.name}")
        assert pushed.count() == len(generation.read_manifest().chunk_ids())
        assert pushed.configuration_json["hnsw"]["ef_search"] == SERVER_SEARCH_EF
    missing = CliRunner().invoke(app, ["index", "push"], env={**env, "MARKTWIJZER_CHROMA_URL": ""})
    assert missing.exit_code == 1
