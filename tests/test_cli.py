"""The `marktwijzer` CLI as a trainer uses it (in-process through Typer's runner, real index)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.cli import app
from ingest.models import IngestReport
from ingest.settings import Settings

from .conftest import SOURCE_IDS

runner = CliRunner()


def _env(settings: Settings) -> dict[str, str]:
    return {"MARKTWIJZER_DATA_DIR": str(settings.data_dir), "MARKTWIJZER_CORPUS_DIR": str(settings.corpus_dir)}


def test_ingest_json_reports_counts(built_index: tuple[Settings, IngestReport]) -> None:
    settings, first = built_index
    result = runner.invoke(app, ["ingest", "--json"], env=_env(settings))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) >= {"added", "updated", "unchanged", "removed", "failed", "chunks", "seconds"}
    assert report["unchanged"] == 5 and report["chunks"] == first.chunks and report["failed"] == []


def test_sources_json_lists_registry_and_index_state(built_index: tuple[Settings, IngestReport]) -> None:
    settings, _ = built_index
    result = runner.invoke(app, ["sources", "--json"], env=_env(settings))
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [row["id"] for row in rows] == SOURCE_IDS
    for row in rows:
        assert set(row) == {"id", "title", "status", "type", "pages", "chunks", "sha256", "indexed_at"}
        assert row["status"] == "approved" and row["chunks"] > 0 and row["pages"] > 0 and len(row["sha256"]) == 64


@pytest.mark.parametrize("source_id", SOURCE_IDS)
def test_sources_show_chunks(built_index: tuple[Settings, IngestReport], source_id: str) -> None:
    settings, _ = built_index
    result = runner.invoke(app, ["sources", "show", source_id, "--chunks", "--json"], env=_env(settings))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["id"] == source_id and data["chunks"]
    for chunk in data["chunks"]:
        assert set(chunk) >= {"id", "page_start", "page_end", "section", "text"}
        assert chunk["text"].strip() and chunk["section"].strip()
        assert 1 <= chunk["page_start"] <= chunk["page_end"] <= data["pages"]


def test_sources_show_unknown_id_fails_clearly(built_index: tuple[Settings, IngestReport]) -> None:
    settings, _ = built_index
    result = runner.invoke(app, ["sources", "show", "bestaat-niet"], env=_env(settings))
    assert result.exit_code == 1
    assert "bestaat-niet" in result.output


def test_add_approve_withdraw_cycle(index_copy: Callable[[], Settings], tmp_path: Path) -> None:
    settings = index_copy()
    env = _env(settings)
    upload = tmp_path / "factsheet.txt"
    upload.write_text("Factsheet Testland\n\nIn Testland werken 12.345 mensen in de zorg.\n", encoding="utf-8")

    added = runner.invoke(app, ["sources", "add", str(upload), "--id", "factsheet-testland", "--title", "Factsheet Testland",
                                "--type", "factsheet", "--published", "2025"], env=env)
    assert added.exit_code == 0, added.output
    draft = runner.invoke(app, ["ingest", "--json"], env=env)
    assert json.loads(draft.stdout)["added"] == 0  # a draft is not indexed

    assert runner.invoke(app, ["sources", "approve", "factsheet-testland"], env=env).exit_code == 0
    approved = json.loads(runner.invoke(app, ["ingest", "--json"], env=env).stdout)
    assert approved["added"] == 1

    assert runner.invoke(app, ["sources", "withdraw", "factsheet-testland"], env=env).exit_code == 0
    withdrawn = json.loads(runner.invoke(app, ["ingest", "--json"], env=env).stdout)
    assert withdrawn["removed"] == 1
    rows = json.loads(runner.invoke(app, ["sources", "--json"], env=env).stdout)
    row = next(r for r in rows if r["id"] == "factsheet-testland")
    assert row["status"] == "withdrawn" and row["chunks"] == 0


def test_add_rejects_unreadable_file_and_keeps_registry(index_copy: Callable[[], Settings], tmp_path: Path) -> None:
    settings = index_copy()
    before = settings.registry_path.read_text(encoding="utf-8")
    bad = tmp_path / "kapot.pdf"
    bad.write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 100)
    result = runner.invoke(app, ["sources", "add", str(bad), "--id", "kapot", "--title", "Kapot"], env=_env(settings))
    assert result.exit_code == 1
    assert "kapot.pdf" in result.output
    assert settings.registry_path.read_text(encoding="utf-8") == before


def test_partial_ingest_exits_with_code_2(index_copy: Callable[[], Settings]) -> None:
    settings = index_copy()
    env = _env(settings)
    (settings.corpus_dir / "leeg.txt").write_bytes(b"")
    with settings.registry_path.open("a", encoding="utf-8") as handle:
        handle.write('\n[[sources]]\nid = "lege-bron"\ntitle = "Leeg"\npublisher = "x"\nedition = "1"\n'
                     'published = 2025\ntype = "factsheet"\nfile = "leeg.txt"\nstatus = "approved"\n')
    result = runner.invoke(app, ["ingest", "--json"], env=env)
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert report["failed"][0]["source_id"] == "lege-bron" and report["unchanged"] == 5


def test_invalid_registry_names_entry_and_field(index_copy: Callable[[], Settings]) -> None:
    settings = index_copy()
    text = settings.registry_path.read_text(encoding="utf-8").replace('type = "rapport"', 'type = "roman"')
    settings.registry_path.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["ingest", "--json"], env=_env(settings))
    assert result.exit_code == 1
    assert "ser-ongekend-talent-2025" in result.output and "type" in result.output
