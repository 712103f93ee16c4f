"""Term statistics per generation (`ingest/terms.py`): computed at ingest, read by the assistant at
load, and the same numbers as computing them from the passages."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.answer import Assistant
from assistant.compose import idf_from
from ingest import terms
from ingest.lexical import tokenize
from ingest.pipeline import run_ingest
from ingest.settings import Settings
from ingest.store import current_generation

from .conftest import add_factsheet

TEXTS = [
    "De vacatures in de zorg stijgen; vacatures blijven moeilijk vervulbaar.",
    "In de bouw daalt het aantal vacatures.",
    "Werkgevers in de Zorg zoeken personeel.",
]


def test_document_frequency_counts_passages_not_occurrences() -> None:
    stats = terms.compute(TEXTS)
    assert stats.passages == 3
    assert stats.document_frequency[tokenize("vacatures")[0]] == 2  # twice in the first passage: once
    assert stats.document_frequency[tokenize("zorg")[0]] == 2
    assert stats.words["vacatures"] == 3 and stats.words["zorg"] == 2  # "Zorg" lower-cased
    assert "de" not in stats.document_frequency  # stop word: not a BM25 term
    assert stats.words["de"] == 4
    assert terms.compute(["In 2024 en 2025 (niet 1850, niet 20250)."]).years == [2024, 2025]


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    stats = terms.compute(TEXTS)
    terms.save(stats, tmp_path)
    assert terms.load(tmp_path) == stats
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("content", [b"", b"{not json", b'{"passages": "veel"}', b"\xff\xfe\x00"])
def test_missing_or_unreadable_file_means_compute(tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture) -> None:
    assert terms.load(tmp_path) is None
    (tmp_path / terms.TERMS_FILE).write_bytes(content)
    assert terms.load(tmp_path) is None
    assert terms.TERMS_FILE in caplog.text


@pytest.mark.slow
def test_ingest_writes_the_statistics_the_assistant_loads(index_copy: Callable[[], Settings]) -> None:
    """An ingest that makes a new generation (one small source added) writes terms.json; the assistant
    loads it, and its IDF equals computing from the passages, which is what a generation without the
    file (built before it existed) still gets."""
    settings = index_copy()
    add_factsheet(settings, "factsheet-termen", "In Groningen zoeken werkgevers glaszetters en dakdekkers.", ["Groningen"])
    report = run_ingest(settings)
    assert report.added == 1 and report.failed == []
    generation = current_generation(settings.index_dir)
    assert generation is not None
    stored = terms.load(generation.root)
    assert stored is not None

    assistant = Assistant(settings)
    texts = [p.text for p in assistant.retriever.passages.values()]
    assert stored == terms.compute(texts)
    assert stored.document_frequency[tokenize("glaszetters")[0]] == 1
    idf, vocabulary = idf_from(terms.compute(texts))
    assert assistant.idf == idf
    assert assistant.quality.vocabulary == vocabulary
    years = {int(y) for text in texts for y in re.findall(r"\b(?:19[5-9]\d|20\d\d)\b", text)}
    assert assistant.corpus_years == years and 2025 in years

    (generation.root / terms.TERMS_FILE).unlink()
    without = Assistant(settings)
    assert without.idf == idf and without.quality.vocabulary == vocabulary and without.corpus_years == years
