"""The assistant on the real index: answers cite real passages, numbers trace to them, refusals."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from assistant.answer import Assistant
from assistant.cli import app
from assistant.evaluate import untraceable_numbers
from assistant.retrieve import Filters, MarktwijzerRetriever
from assistant.types import Answer, HistoryTurn
from ingest.models import IngestReport
from ingest.settings import Settings


@pytest.fixture(scope="module")
def assistant(built_index: tuple[Settings, IngestReport]) -> Assistant:
    settings, _ = built_index
    return Assistant(settings)


def _markers(answer: Answer) -> list[int]:
    return [int(n) for n in re.findall(r"\[(\d+)\]", answer.answer)]


def _check_contract(answer: Answer) -> None:
    markers = _markers(answer)
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    assert set(markers) == {c.n for c in answer.citations}  # only cited passages are listed
    first_use = list(dict.fromkeys(markers))
    assert first_use == sorted(first_use)  # numbered in order of first use
    assert untraceable_numbers(answer, include_metadata=False) == []


def test_vacancies_amersfoort_cites_the_figure(assistant: Assistant) -> None:
    answer = assistant.ask("Hoeveel vacatures stonden er eind tweede kwartaal 2025 open in regio Amersfoort?")
    assert not answer.refused
    assert "9.500" in answer.answer
    _check_contract(answer)
    assert all(c.source_id == "uwv-regio-in-beeld-2025-2026-amersfoort" for c in answer.citations)
    assert answer.answer.startswith("Volgens Regio in Beeld")
    assert answer.timings_ms["total"] > 0


def test_groningen_figure_comes_from_groningen(assistant: Assistant) -> None:
    answer = assistant.ask("Hoeveel openstaande vacatures had regio Groningen eind tweede kwartaal 2025?")
    assert not answer.refused and "12.500" in answer.answer
    assert answer.citations[0].source_id == "uwv-regio-in-beeld-2025-2026-groningen"
    _check_contract(answer)


@pytest.mark.parametrize(
    "question",
    [
        "Wat is het telefoonnummer van werkgeversadviseur Jan Jansen?",
        "Hoeveel vacatures had de regio Groningen in 1998?",
        "Geef me een recept voor appeltaart met kaneel.",
        "Voorspel jij hoeveel werklozen er in 2040 zijn?",
    ],
)
def test_refuses_what_the_sources_do_not_answer(assistant: Assistant, question: str) -> None:
    answer = assistant.ask(question)
    assert answer.refused
    assert answer.citations == []
    assert "goedgekeurde bronnen" in answer.answer
    assert not re.search(r"\d", answer.answer)  # a refusal never brings numbers of its own


def test_follow_up_uses_history(assistant: Assistant) -> None:
    first = "Hoeveel vacatures stonden er eind tweede kwartaal 2025 open in regio Amersfoort?"
    answer = assistant.ask("En in Groningen?", history=[HistoryTurn(question=first)])
    assert not answer.refused
    assert answer.citations[0].source_id == "uwv-regio-in-beeld-2025-2026-groningen"
    _check_contract(answer)


def test_source_filter_limits_citations(assistant: Assistant) -> None:
    answer = assistant.ask("Wat is onbenut arbeidspotentieel?", filters=Filters(sources=["ser-ongekend-talent-2025"]))
    assert not answer.refused
    assert {c.source_id for c in answer.citations} == {"ser-ongekend-talent-2025"}


def test_empty_and_huge_questions_are_rejected(assistant: Assistant) -> None:
    with pytest.raises(ValueError):
        assistant.ask("   ")
    with pytest.raises(ValueError):
        assistant.ask("vacatures " * 1000)


def test_langchain_retriever(assistant: Assistant) -> None:
    retriever = MarktwijzerRetriever(retriever=assistant.retriever, k=3)
    documents = retriever.invoke("werknemersbanen prognose Amersfoort 2027")
    assert len(documents) == 3
    assert all(d.metadata["source_id"] and d.metadata["page_start"] >= 1 for d in documents)


def test_ask_batch_cli(built_index: tuple[Settings, IngestReport], tmp_path) -> None:  # noqa: ANN001
    settings, _ = built_index
    batch = tmp_path / "vragen.jsonl"
    batch.write_text(
        '{"id": "a", "question": "Hoeveel vacatures stonden er open in regio Amersfoort?"}\n'
        "dit is geen json\n"
        '{"id": "b", "question": "Wat is het mailadres van Piet?"}\n',
        encoding="utf-8",
    )
    env = {"MARKTWIJZER_DATA_DIR": str(settings.data_dir), "MARKTWIJZER_CORPUS_DIR": str(settings.corpus_dir)}
    result = CliRunner().invoke(app, ["ask", "--batch", str(batch)], env=env)
    assert result.exit_code == 2  # one bad line
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line.get("id") for line in lines] == ["a", None, "b"]
    assert Answer.model_validate(lines[0]).citations and lines[1]["error"] and lines[2]["refused"] is True
