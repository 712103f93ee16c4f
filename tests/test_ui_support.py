"""Helpers for the UI tests (no tests here): a private copy of the built index, the environment that
points the UI at it, and an AppTest of `ui/app.py` on a chosen page."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ingest.settings import Settings

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "ui" / "app.py"
TIMEOUT = 600  # per script run; generous for a loaded 2-core CI machine (re-ingest, evaluation runs)


def copy_built(settings: Settings, dest: Path) -> Settings:
    """Corpus + data directory copied from the session index (never written to)."""
    shutil.copytree(settings.corpus_dir, dest / "corpus")
    shutil.copytree(settings.data_dir, dest / "data", ignore=shutil.ignore_patterns("ingest.lock", "*.db*"))
    return Settings(data_dir=dest / "data", corpus_dir=dest / "corpus", _env_file=None)


def point_ui_at(monkeypatch: pytest.MonkeyPatch, settings: Settings, **extra: str) -> None:
    monkeypatch.setenv("MARKTWIJZER_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("MARKTWIJZER_CORPUS_DIR", str(settings.corpus_dir))
    monkeypatch.delenv("MARKTWIJZER_API_URL", raising=False)
    monkeypatch.delenv("MARKTWIJZER_API_KEY", raising=False)
    monkeypatch.delenv("MARKTWIJZER_DATABASE_URL", raising=False)
    for key, value in extra.items():
        monkeypatch.setenv(key, value)


def app(page: str | None = None) -> AppTest:
    """The app, run once, optionally switched to `views/<page>.py` and run again."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    if page is not None:
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    """Everything the page shows as text (markdown, captions, alerts, expander labels, metrics)."""
    parts: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success", "text"):
        parts.extend(str(element.value) for element in getattr(at, kind))
    parts.extend(str(expander.label) for expander in at.expander)
    return "\n".join(parts)


def button(at: AppTest, label: str):  # noqa: ANN201
    matches = [b for b in at.button if b.label == label]
    assert matches, f"no button {label!r}; have {[b.label for b in at.button]}"
    return matches[0]
