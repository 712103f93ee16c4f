"""A damaged index generation (issue 20, finding 3): every file of a generation damaged in turn is
detected when it is loaded, reported without a path, and repaired by the next ingest; a damaged
CURRENT is reported once (no reload per request or per /readyz), an older intact generation serves
meanwhile unless it holds a source withdrawn since. Real index copies, real Chroma, real ingest,
a real `marktwijzer serve` over loopback HTTP."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from assistant import answer as answer_module
from assistant.answer import Assistant, Loaded
from assistant.cli import app
from benchmarks.common import stop_process_group
from ingest import figures
from ingest.lexical import LexicalIndex
from ingest.pipeline import run_ingest
from ingest.registry import SourceStatus, load_registry, save_registry
from ingest.sentences import SentenceStore
from ingest.settings import Settings
from ingest.store import (
    Generation,
    IndexDamaged,
    check_generation,
    current_generation,
    open_index,
    release_chroma,
)

from .apiserver import KEY_ENV, READER_KEY, free_port, start_server
from .conftest import SOURCE_IDS, add_factsheet

runner = CliRunner()
QUESTION = "Hoeveel vacatures stonden er eind tweede kwartaal 2025 open in regio Amersfoort?"
OLDER = "gen-00000000T000000-older"  # sorts before every real generation: published earlier
ABSOLUTE_PATH = re.compile(r"(?<![\w.])/[\w.-]+/")  # "/tmp/x/", "/work/..."; not "bm25/ids.json"


def _truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


# case -> (the part the damage is reported and repaired as, how to damage a generation directory)
DAMAGE: dict[str, tuple[str, Callable[[Path], None]]] = {
    "bm25/ deleted": ("bm25", lambda g: shutil.rmtree(g / "bm25")),
    "figures.jsonl emptied": ("figures.jsonl", lambda g: (g / "figures.jsonl").write_bytes(b"")),
    "sentences.npz truncated": ("sentences.npz", lambda g: _truncate(g / "sentences.npz")),
    "terms.json truncated": ("terms.json", lambda g: _truncate(g / "terms.json")),
    "records.sqlite truncated": ("records.sqlite", lambda g: _truncate(g / "records.sqlite")),
    "chroma.sqlite3 truncated": ("chroma", lambda g: _truncate(g / "chroma" / "chroma.sqlite3")),
    "manifest.json truncated": ("manifest.json", lambda g: _truncate(g / "manifest.json")),
}


def _env(settings: Settings) -> dict[str, str]:
    return {"MARKTWIJZER_DATA_DIR": str(settings.data_dir), "MARKTWIJZER_CORPUS_DIR": str(settings.corpus_dir)}


def _only_current(settings: Settings) -> Generation:
    """Leave CURRENT as the only generation on disk (the reused test index may hold an older one)."""
    current = current_generation(settings.index_dir)
    assert current is not None
    for other in settings.index_dir.glob("gen-*"):
        if other.name != current.name:
            shutil.rmtree(other)
    return current


def _no_path(text: str, settings: Settings) -> None:
    assert str(settings.data_dir) not in text and str(settings.data_dir.parent) not in text
    assert not ABSOLUTE_PATH.search(text), text


def _state(generation: Generation) -> dict[str, object]:
    """What a repaired generation must hold again, as the intact one did."""
    handle = open_index(generation.root.parent)
    sentences = SentenceStore.load(handle.generation.root, handle.manifest.embedding_dim)
    state = {
        "chroma": sorted(handle.collection.get(include=[])["ids"]),
        "bm25": sorted(LexicalIndex.load(handle.generation.bm25_dir).ids),
        "manifest": sorted(handle.manifest.chunk_ids()),
        "sentences": sorted(zip(sentences.chunk_ids, sentences.orders.tolist(), strict=True)),
        "figures": len(figures.load(handle.generation.root)),
        "terms": json.loads((handle.generation.root / "terms.json").read_text(encoding="utf-8"))["passages"],
    }
    release_chroma(handle.generation.chroma_dir)
    return state


@pytest.mark.parametrize("case", list(DAMAGE))
def test_each_damaged_file_is_detected_on_load_without_a_path_and_repaired_by_the_next_ingest(
    index_copy: Callable[[], Settings], tmp_path: Path, case: str,
) -> None:
    part, damage = DAMAGE[case]
    settings = index_copy()
    current = _only_current(settings)
    intact = _state(current)
    pristine = tmp_path / "pristine"
    shutil.copytree(current.root, pristine)
    damage(current.root)

    # detected on load, with a stable code and no path; an Assistant does not start on it either
    with pytest.raises(IndexDamaged) as raised:
        open_index(settings.index_dir)
    assert raised.value.code == "index_damaged" and raised.value.parts == [part]
    assert current.name in str(raised.value)
    _no_path(str(raised.value), settings)
    with pytest.raises(IndexDamaged):
        Assistant(settings)

    # The next ingest repairs it. Parts derived from Chroma are rebuilt from the damaged generation's
    # own collection; a damaged collection or manifest is rebuilt on an older intact generation.
    shutil.move(pristine, settings.index_dir / OLDER)
    result = runner.invoke(app, ["ingest", "--json"], env=_env(settings))
    assert result.exit_code == 3, result.output  # 3: damaged, and repaired
    report = json.loads(result.stdout)
    assert report["repaired"] == [part] and report["failed"] == [] and report["unchanged"] == 5
    assert report["embedded"] == 0  # nothing re-embedded (sentence vectors: seeded from the older one)
    repaired = current_generation(settings.index_dir)
    assert repaired is not None and repaired.name == report["generation"] != current.name
    assert check_generation(repaired) == []
    assert not current.root.exists()  # the damaged generation is gone, not kept as a "previous" one
    assert _state(repaired) == intact

    again = runner.invoke(app, ["ingest", "--json"], env=_env(settings))
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["repaired"] == [] and current_generation(settings.index_dir) == repaired


def test_figures_on_a_damaged_figures_store_fail_clearly(index_copy: Callable[[], Settings]) -> None:
    settings = index_copy()
    current = _only_current(settings)
    ok = runner.invoke(app, ["figures", "vacatures", "--json"], env=_env(settings))
    assert ok.exit_code == 0 and json.loads(ok.stdout), ok.output
    (current.root / "figures.jsonl").write_bytes(b"")
    result = runner.invoke(app, ["figures", "vacatures", "--json"], env=_env(settings))
    assert result.exit_code == 1, result.output
    assert "figures.jsonl" in result.output and "beschadigd" in result.output and "ingest" in result.output
    assert "Traceback" not in result.output and result.stdout.strip() != "[]"
    _no_path(result.output, settings)


def test_an_older_intact_generation_serves_and_the_damaged_one_is_not_reloaded_per_question(
    index_copy: Callable[[], Settings], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    settings = index_copy()
    current = _only_current(settings)
    shutil.copytree(current.root, settings.index_dir / OLDER)
    shutil.rmtree(current.root / "bm25")

    assistant = Assistant(settings)
    assert assistant.state.generation == OLDER
    assert assistant.retriever.handle.skipped is not None and assistant.retriever.handle.skipped.parts == ["bm25"]
    loads = 0
    real = answer_module.load_generation

    def counting(s: Settings) -> Loaded:
        nonlocal loads
        loads += 1
        return real(s)

    monkeypatch.setattr(answer_module, "load_generation", counting)
    for _ in range(3):
        answer = assistant.ask(QUESTION)
        assert not answer.refused and answer.citations
    assert loads == 0 and assistant.state.generation == OLDER
    assert caplog.text.count(f"index generation {current.name} is damaged") == 1  # reported once
    assert "Traceback" not in caplog.text

    report = run_ingest(settings)
    assert report.repaired == ["bm25"]
    assistant.ask(QUESTION)
    assert loads == 1 and assistant.state.generation == report.generation


def test_an_older_generation_with_a_source_withdrawn_since_never_serves(index_copy: Callable[[], Settings]) -> None:
    settings = index_copy()
    _only_current(settings)
    withdrawn = SOURCE_IDS[0]
    registry = load_registry(settings.registry_path)
    save_registry(registry.with_status(withdrawn, SourceStatus.withdrawn), settings.registry_path)
    report = run_ingest(settings)  # CURRENT without the source; the one before still holds it
    assert report.removed == 1
    current = current_generation(settings.index_dir)
    assert current is not None and len(list(settings.index_dir.glob("gen-*"))) == 2
    shutil.rmtree(current.root / "bm25")
    with pytest.raises(IndexDamaged) as raised:
        Assistant(settings)
    assert raised.value.generation == current.name


def _tiny_corpus(settings: Settings) -> None:
    """Only one small factsheet approved (a full rebuild then embeds a handful of passages)."""
    registry = load_registry(settings.registry_path)
    for source_id in SOURCE_IDS:
        registry = registry.with_status(source_id, SourceStatus.withdrawn)
    save_registry(registry, settings.registry_path)
    add_factsheet(settings, "factsheet-testwoud", "In regio Testwoud stonden in 2025 4.321 vacatures open. "
                  "De meeste vacatures waren er in de zorg en in de techniek.", ["Testwoud"])
    report = run_ingest(settings)
    assert report.added == 1 and report.removed == 5


@pytest.mark.parametrize("case", ["manifest.json truncated", "chroma.sqlite3 truncated"])
def test_without_an_older_generation_a_damaged_collection_or_manifest_is_rebuilt(
    index_copy: Callable[[], Settings], case: str,
) -> None:
    part, damage = DAMAGE[case]
    settings = index_copy()
    _tiny_corpus(settings)
    current = _only_current(settings)
    damage(current.root)
    command = ["ingest", "--json", "--rebuild"] if part == "manifest.json" else ["ingest", "--json"]
    result = runner.invoke(app, command, env=_env(settings))
    assert result.exit_code == 3, result.output
    report = json.loads(result.stdout)
    assert report["repaired"] == [part] and report["added"] == 1 and report["embedded"] == report["chunks"] > 0
    repaired = current_generation(settings.index_dir)
    assert repaired is not None and repaired.name == report["generation"] and check_generation(repaired) == []
    handle = open_index(settings.index_dir)
    assert set(handle.manifest.sources) == {"factsheet-testwoud"} and handle.collection.count() == report["chunks"]
    release_chroma(handle.generation.chroma_dir)


def _readyz(base_url: str) -> httpx.Response:
    return httpx.get(f"{base_url}/readyz", timeout=10)


def test_server_reports_a_damaged_index_once_without_paths_and_serves_after_the_repair(
    index_copy: Callable[[], Settings], tmp_path: Path,
) -> None:
    settings = index_copy()
    current = _only_current(settings)
    pristine = tmp_path / "pristine"
    shutil.copytree(current.root, pristine)
    _truncate(current.root / "manifest.json")
    port = free_port()
    log_path = tmp_path / "server.log"
    env = {**os.environ, **_env(settings), **KEY_ENV, "MARKTWIJZER_DATABASE_URL": f"sqlite:///{tmp_path / 'audit.db'}"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "assistant.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path, start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:  # until the load has found the damage
            assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
            try:
                if _readyz(base_url).json().get("code") == "index_damaged":
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        for _ in range(20):
            response = _readyz(base_url)
            assert response.status_code == 503 and response.json()["code"] == "index_damaged"
            assert "manifest.json" in response.json()["message"]
            _no_path(response.text, settings)
        sources = httpx.get(f"{base_url}/v1/sources", headers={"X-API-Key": READER_KEY}, timeout=10)
        assert sources.status_code == 503 and sources.json()["code"] == "index_damaged", sources.text
        _no_path(sources.text, settings)
        for _ in range(5):  # questions are refused quickly and say why, without a path
            asked = httpx.post(f"{base_url}/v1/ask", json={"question": QUESTION},
                               headers={"X-API-Key": READER_KEY}, timeout=30)
            assert asked.status_code == 503 and "beschadigd" in asked.text, asked.text
            _no_path(asked.text, settings)
        text = log_path.read_text(errors="replace")
        assert text.count(f"index generation {current.name} is damaged") == 1, text[-3000:]  # once, not per call
        assert "Traceback" not in text

        shutil.move(pristine, settings.index_dir / OLDER)
        report = run_ingest(settings)
        assert report.repaired == ["manifest.json"] and report.embedded == 0
        deadline = time.monotonic() + 120
        while (response := _readyz(base_url)).status_code != 200:
            assert time.monotonic() < deadline, response.text
            time.sleep(0.3)
        assert response.json()["generation"] == report.generation and response.json()["index_damaged"] is None
        answer = httpx.post(f"{base_url}/v1/ask", json={"question": QUESTION},
                            headers={"X-API-Key": READER_KEY}, timeout=60)
        assert answer.status_code == 200 and answer.json()["citations"], answer.text
    finally:
        stop_process_group(process)


def test_server_answers_from_an_older_intact_generation_while_current_is_damaged(
    index_copy: Callable[[], Settings], tmp_path: Path,
) -> None:
    settings = index_copy()
    current = _only_current(settings)
    shutil.copytree(current.root, settings.index_dir / OLDER)
    shutil.rmtree(current.root / "bm25")
    server = start_server(settings, tmp_path)  # waits for /readyz 200: the older generation serves
    try:
        reader = server.client()
        for _ in range(10):
            ready = reader.get("/readyz")
            assert ready.status_code == 200 and ready.json()["generation"] == OLDER, ready.text
            assert "bm25" in ready.json()["index_damaged"] and current.name in ready.json()["index_damaged"]
            _no_path(ready.text, settings)
        for _ in range(3):
            answer = reader.post("/v1/ask", json={"question": QUESTION})
            assert answer.status_code == 200 and answer.json()["citations"], answer.text
        assert reader.get("/metrics").status_code == 200
        log = server.log()
        assert log.count(f"index generation {current.name} is damaged") == 1 and "Traceback" not in log

        report = run_ingest(settings)
        assert report.repaired == ["bm25"]
        answer = reader.post("/v1/ask", json={"question": QUESTION})  # follows the repaired generation
        assert answer.status_code == 200 and answer.json()["citations"], answer.text
        ready = reader.get("/readyz").json()
        assert ready["generation"] == report.generation and ready["index_damaged"] is None
    finally:
        server.stop()
