"""Evaluations page (Streamlit AppTest on a copy of the real index): upload validation, running a set
with a progress bar, metrics per type (table + chart), failing questions with expected vs answered and
citations, and the comparison with the previous stored run."""

from __future__ import annotations

import re

import json

import pytest

from assistant.evaluate import METRIC_NAMES
from ingest.models import IngestReport
from ingest.settings import Settings
from ui import evalruns

from .test_ui_support import app, button, copy_built, point_ui_at, texts

ITEMS = [
    {"id": "t-vac", "question": "Hoeveel vacatures stonden er open in regio Amersfoort?", "type": "fact",
     "expected": ["9.500"], "doc": "uwv-regio-in-beeld-2025-2026-amersfoort",
     "evidence": ["Aan het eind van het tweede kwartaal van 2025 stonden er 9.500 vacatures open"]},
    {"id": "t-limburg", "question": "Hoeveel werklozen zijn er in Limburg?", "type": "unanswerable",
     "doc": None},
    {"id": "t-wrong", "question": "Wat is AIMI?", "type": "fact", "expected": ["een getal dat er niet staat 123.456"],
     "doc": "uwv-regio-in-beeld-2025-2026-groningen"},
]


def jsonl(items: list[dict]) -> bytes:
    return "\n".join(json.dumps(item, ensure_ascii=False) for item in items).encode()


@pytest.fixture
def ui(built_index: tuple[Settings, IngestReport], tmp_path, monkeypatch: pytest.MonkeyPatch) -> Settings:  # noqa: ANN001
    settings = copy_built(built_index[0], tmp_path)
    point_ui_at(monkeypatch, settings)
    return settings


def upload_set(at, name: str, data: bytes):  # noqa: ANN001, ANN201
    at.file_uploader(key="eval_upload").set_value((name, data, "application/jsonl")).run()
    button(at, "Set opslaan").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_shipped_sets_are_offered(ui: Settings) -> None:
    at = app("evaluations")
    options = at.selectbox(key="eval_set").options
    assert "dev" in options and "own" in options
    assert "nog niet gedraaid" in texts(at)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"id": "a", "question": "Vraag?"}\n{kapot', "invalid JSON"),
        (b'{"id": "a"}\n', "missing or empty 'question'"),
        (b'{"id": "a", "question": "x"}\n{"id": "a", "question": "y"}\n', "duplicate id"),
        (b"\n\n", "geen vragen"),
    ],
)
def test_invalid_set_upload_is_refused(ui: Settings, data: bytes, message: str) -> None:
    at = upload_set(app("evaluations"), "kapot.jsonl", data)
    assert any(message in e.value and "kapot.jsonl" in e.value for e in at.error), [e.value for e in at.error]
    assert "kapot" not in evalruns.available_sets(ui.data_dir)


def test_run_shows_metrics_failures_and_comparison(ui: Settings) -> None:
    at = upload_set(app("evaluations"), "mini.jsonl", jsonl(ITEMS))
    assert any("Set 'mini' opgeslagen (3 vragen)" in s.value for s in at.success)
    assert at.selectbox(key="eval_set").value == "mini"
    button(at, "Evaluatie starten").click().run()
    assert not at.exception, [e.value for e in at.exception]
    runs = evalruns.list_runs(ui.data_dir, "mini")
    assert len(runs) == 1 and (runs[0] / "report.md").is_file() and (runs[0] / "chart.png").is_file()

    shown = texts(at)
    assert "eerste run van deze set" in shown
    by_type = at.dataframe[0].value
    assert set(by_type["type"]) == {"fact", "unanswerable"}
    assert "hit@5 (juiste passage in top 5)" in by_type.columns
    assert any(m.label == "geslaagd" for m in at.metric)
    failing = [e.label for e in at.expander if e.label.startswith("t-")]
    assert failing == ["t-wrong · fact · Wat is AIMI?"]  # the other two pass
    assert "een getal dat er niet staat 123.456" in shown and "missing facts" in shown
    # its citations (shown as plain text: the Markdown source escapes their punctuation)
    assert "[1] uwv-regio-in-beeld-2025-2026-groningen p." in re.sub(r"\\(.)", r"\1", shown)
    assert any("AIMI" in t.value for t in at.text)  # what was answered

    # A second run is compared with the first (stored), on the same page.
    button(at, "Evaluatie starten").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(evalruns.list_runs(ui.data_dir, "mini")) == 2
    shown = texts(at)
    assert "vergeleken met" in shown and "Nieuw mislukt (0)" in shown
    comparison = at.dataframe[-1].value
    assert list(comparison.columns)[:4] == ["metriek", "deze run", "vorige run", "verschil"]
    assert len(comparison) == len(METRIC_NAMES)


def test_progress_callback_counts_every_item(ui: Settings) -> None:
    from ui.backend import InProcessBackend

    seen: list[tuple[int, int]] = []
    path = ui.data_dir / "mini.jsonl"
    path.write_bytes(jsonl(ITEMS))
    backend = InProcessBackend(ui)
    run = evalruns.run_set(ui.data_dir, "mini", path,
                           lambda item: backend.ask(item["question"], channel=None),
                           progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert evalruns.load_run(run).metrics["overall"]["n"] == 3
    assert evalruns.previous_run(ui.data_dir, "mini", run) is None


def test_negative_feedback_becomes_an_evaluation_item(ui: Settings) -> None:
    from assistant.audit import AuditStore
    from assistant.types import Answer

    store = AuditStore(ui)
    answer = Answer(question="Hoeveel banen kwamen er bij in Amersfoort?", answer="Dat staat er niet in.", refused=True)
    store.record_answer(answer, key_name="ui", channel="ui")
    store.record_feedback(answer.id, "down", "onterecht_geweigerd", "staat op p. 6", "ui")

    at = app("evaluations")
    assert at.selectbox(key="fb_pick").options[0].startswith("Hoeveel banen kwamen er bij in Amersfoort?")
    at.selectbox(key="fb_type").set_value("fact")
    at.text_input(key="fb_expected").input("6.300; 3,5%")
    at.selectbox(key="fb_doc").set_value("uwv-regio-in-beeld-2025-2026-amersfoort")
    button(at, "Toevoegen aan set 'feedback'").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("toegevoegd aan de set 'feedback'" in s.value for s in at.success)
    items = [json.loads(line) for line in (ui.data_dir / "evals" / "sets" / "feedback.jsonl").read_text().splitlines()]
    assert len(items) == 1 and items[0]["expected"] == ["6.300", "3,5%"] and items[0]["type"] == "fact"
    assert items[0]["doc"] == "uwv-regio-in-beeld-2025-2026-amersfoort" and items[0]["feedback"]["reason"] == "onterecht_geweigerd"
    assert "feedback" in at.selectbox(key="eval_set").options
    button(at, "Toevoegen aan set 'feedback'").click().run()  # the same feedback only once
    assert any("staat al in de set" in e.value for e in at.error)


def test_feedback_overview_and_evidence_picked_from_the_cited_passages(ui: Settings) -> None:
    """Issue 17: the trainer sees counts and the worst answer as shown, and turns the thumbs-down into
    an item whose evidence is one of the answer's cited passages."""
    from assistant.audit import AuditStore
    from assistant.feedback_overview import save_snapshot
    from ui.backend import InProcessBackend

    backend = InProcessBackend(ui)
    answer = backend.ask("Hoeveel vacatures stonden er open in regio Amersfoort?")
    backend.feedback(answer, "down", "onvolledig", "mist de sectoren")  # keeps a snapshot
    store = AuditStore(ui)
    save_snapshot(store, answer)  # a second snapshot of the same answer is ignored
    at = app("evaluations")
    shown = texts(at)
    assert "Feedback van adviseurs" in shown and "Slechtst beoordeelde antwoorden" in shown
    assert any(e.label.startswith("Hoeveel vacatures stonden er open in regio Amersfoort?") and "1× omlaag" in e.label
               for e in at.expander)
    assert [m.value for m in at.metric][:3] == ["1", "0", "1"]
    evidence = at.selectbox(key="fb_evidence")
    assert evidence.options[0] == "(geen)" and len(evidence.options) == len(answer.citations) + 1
    evidence.set_value("1")
    at.text_input(key="fb_expected").input("9.500")
    button(at, "Toevoegen aan set 'feedback'").click().run()
    assert not at.exception, [e.value for e in at.exception]
    [item] = [json.loads(line) for line in (ui.data_dir / "evals" / "sets" / "feedback.jsonl").read_text().splitlines()]
    assert item["evidence"] == [answer.citations[0].text] and item["doc"] == answer.citations[0].source_id
    assert item["expected"] == ["9.500"] and item["feedback"]["reason"] == "onvolledig"
