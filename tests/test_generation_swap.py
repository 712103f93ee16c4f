"""Following new index generations: whole-state swap, a question stays on the generation it started
on, and a generation that cannot be loaded leaves the current one serving."""

from __future__ import annotations

import shutil
from collections.abc import Callable

import pytest

from assistant import answer as answer_module
from assistant.answer import Assistant, Loaded
from ingest.settings import Settings
from ingest.store import CURRENT_FILE, current_generation

QUESTION = "Hoeveel vacatures stonden er eind tweede kwartaal 2025 open in regio Amersfoort?"


def _publish_copy(settings: Settings, name: str, source: str | None = None) -> None:
    """Publish a copy of a generation (default: the current one) under a new name, as an ingest would."""
    current = current_generation(settings.index_dir)
    assert current is not None
    shutil.copytree(settings.index_dir / source if source else current.root, settings.index_dir / name)
    (settings.index_dir / CURRENT_FILE).write_text(name + "\n", encoding="utf-8")


def test_new_generation_replaces_the_whole_state(index_copy: Callable[[], Settings]) -> None:
    settings = index_copy()
    assistant = Assistant(settings)
    before = assistant.state
    _publish_copy(settings, "gen-99999999T000000-copy")
    answer = assistant.ask(QUESTION)
    after = assistant.state
    assert not answer.refused and answer.citations
    assert after.generation == "gen-99999999T000000-copy" != before.generation
    assert after.retriever is not before.retriever and after.analyzer is not before.analyzer
    assert assistant.retriever is after.retriever  # the read accessors follow the swap


def test_a_broken_generation_leaves_the_current_one_serving(
    index_copy: Callable[[], Settings], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = index_copy()
    assistant = Assistant(settings)
    serving = assistant.state.generation
    broken = settings.index_dir / "gen-99999999T000000-broken"
    broken.mkdir()
    (broken / "manifest.json").write_text("{not json", encoding="utf-8")
    (settings.index_dir / CURRENT_FILE).write_text(broken.name + "\n", encoding="utf-8")

    answer = assistant.ask(QUESTION)
    assert not answer.refused and answer.citations
    assert assistant.state.generation == serving
    assert broken.name in caplog.text  # logged, with the generation still serving

    loads = 0
    real = answer_module.load_generation

    def counting(s: Settings) -> Loaded:
        nonlocal loads
        loads += 1
        return real(s)

    monkeypatch.setattr(answer_module, "load_generation", counting)
    assistant.ask(QUESTION)
    assert loads == 0  # the failed generation is not retried on every question
    _publish_copy(settings, "gen-99999999T000001-fixed", source=serving)
    assistant.ask(QUESTION)
    assert loads == 1 and assistant.state.generation == "gen-99999999T000001-fixed"


def test_a_question_finishes_on_the_generation_it_started_on(index_copy: Callable[[], Settings]) -> None:
    settings = index_copy()
    assistant = Assistant(settings)
    started_on = assistant.state
    _publish_copy(settings, "gen-99999999T000002-next")
    assistant.refresh()
    newer = assistant.state
    assert newer is not started_on

    seen: list[object] = []
    analyze = newer.analyzer.analyze

    def analyze_then_swap(*args, **kwargs):
        result = analyze(*args, **kwargs)
        assistant._loaded = started_on  # another thread swaps generations mid-question
        seen.append(assistant.retriever)
        return result

    newer.analyzer.analyze = analyze_then_swap  # type: ignore[method-assign]
    try:
        answer = assistant.ask(QUESTION)
    finally:
        del newer.analyzer.analyze
    assert seen == [newer.retriever]  # still the generation the question started on
    assert answer.citations and all(c.chunk_id in newer.retriever.passages for c in answer.citations)
    assert assistant.retriever is started_on.retriever  # after the question: the newest loaded
