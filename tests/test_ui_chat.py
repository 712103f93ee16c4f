"""Chat page (Streamlit AppTest, in-process assistant on a copy of the real index): question -> answer
with [n] markers and its sources panel, refusal state, follow-ups with history, filters, figure
cards, feedback stored in the audit store, export, AI notice."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assistant.audit import AuditStore
from ingest.models import IngestReport
from ingest.settings import Settings
from ui.backend import InProcessBackend

from .test_ui_support import app, button, copy_built, point_ui_at, texts

VACANCIES = "Hoeveel vacatures stonden er open in regio Amersfoort?"
AMERSFOORT = "Regio in Beeld 2025-2026 Amersfoort"


@pytest.fixture(scope="module")
def chat_settings(built_index: tuple[Settings, IngestReport], tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings, _ = built_index
    return copy_built(settings, tmp_path_factory.mktemp("ui-chat"))


@pytest.fixture
def ui(chat_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    point_ui_at(monkeypatch, chat_settings)
    return chat_settings


def ask(at, question: str):  # noqa: ANN001, ANN201
    at.chat_input[0].set_value(question).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def answer_html(at) -> list[str]:  # noqa: ANN001
    return [m.value for m in at.markdown if m.value.startswith('<div class="mw-answer">')]


def test_first_visit_shows_ai_notice_examples_and_filters(ui: Settings) -> None:
    at = app()
    assert any("AI-assistent" in i.value and "controleer" in i.value for i in at.info)
    assert any("Je praat met een AI-assistent" in c.value for c in at.sidebar.caption)  # also in the sidebar
    labels = [b.label for b in at.button]
    assert "Hoeveel vacatures stonden er open in regio Amersfoort?" in labels and len(labels) >= 5
    assert "Voorbeeldvragen" in texts(at)
    assert [s.label for s in at.sidebar.selectbox] == ["Regio"]
    assert {m.label for m in at.sidebar.multiselect} == {"Bron", "Soort bron"}
    assert "Groningen" in at.sidebar.selectbox[0].options


def test_question_shows_answer_with_markers_and_sources_panel(ui: Settings) -> None:
    at = ask(app(), VACANCIES)
    html = answer_html(at)
    assert len(html) == 1 and "9.500" in html[0] and 'class="mw-ref"' in html[0] and ">[1]</a>" in html[0]
    anchor = re.search(r'href="#(mw-bronnen-[\w-]+)"', html[0]).group(1)  # markers lead to the panel
    assert any(m.value.startswith(f'<div id="{anchor}"><b>Bronnen (') for m in at.markdown)
    labels = [e.label for e in at.expander]
    assert any(label.startswith("[1] " + AMERSFOORT) and "p. " in label for label in labels)
    shown = texts(at)
    assert "editie 2025-2026" in shown and "UWV" in shown
    assert any('<mark class="mw-cited">' in m.value and "9.500" in m.value for m in at.markdown)
    assert at.download_button and at.download_button[0].label.startswith("Exporteer")
    assert any("## Bronnen" in c.value and AMERSFOORT in c.value for c in at.code)  # the copyable note
    assert "Voorbeeldvragen" not in shown  # examples only for a first-time, empty chat
    assert any("AI-assistent" in i.value for i in at.info)  # the notice stays


def test_example_question_button_asks_it(ui: Settings) -> None:
    at = app()
    button(at, "Wat is AIMI?").click().run()
    assert not at.exception
    assert any(m.value == "Wat is AIMI?" for m in at.markdown)
    assert answer_html(at) and "AIMI" in answer_html(at)[0]


def test_refusal_state_says_not_found_and_what_is_covered(ui: Settings) -> None:
    at = ask(app(), "Hoeveel werklozen zijn er in Limburg?")
    shown = texts(at)
    assert "Niet gevonden in de goedgekeurde bronnen" in shown
    assert "De goedgekeurde bronnen gaan over" in shown
    assert any(e.label.startswith("Wat staat er wél") for e in at.expander)
    assert AMERSFOORT in shown  # the covered sources are listed
    assert not answer_html(at) and "<b>Bronnen (" not in shown


def test_follow_up_keeps_the_conversation(ui: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple] = []
    original = InProcessBackend.stream

    def spy(self, question, history=None, filters=None):  # noqa: ANN001, ANN202
        seen.append((question, [h.question for h in history or []], filters))
        return original(self, question, history, filters)

    monkeypatch.setattr(InProcessBackend, "stream", spy)
    at = ask(app(), VACANCIES)
    at = ask(at, "En in Groningen?")
    assert seen[-1][0] == "En in Groningen?" and seen[-1][1] == [VACANCIES]
    assert len(answer_html(at)) == 2
    second = [e.label for e in at.expander if e.label.startswith("[")][-1]
    assert "Groningen" in second  # the follow-up was answered for Groningen, from its own report


def test_sidebar_filters_reach_the_assistant(ui: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list = []
    original = InProcessBackend.stream

    def spy(self, question, history=None, filters=None):  # noqa: ANN001, ANN202
        seen.append(filters)
        return original(self, question, history, filters)

    monkeypatch.setattr(InProcessBackend, "stream", spy)
    at = app()
    at.sidebar.selectbox[0].set_value("Groningen").run()
    at.sidebar.multiselect(key="filter_types").set_value(["regio-in-beeld"]).run()
    at = ask(at, "Hoeveel vacatures stonden er open?")
    assert seen[-1] == {"region": "Groningen", "sources": [], "types": ["regio-in-beeld"]}
    assert "Filters actief" in texts(at)
    cited = [e.label for e in at.expander if e.label.startswith("[")]
    assert cited and all("Groningen" in label for label in cited)


def test_computed_figure_card_shows_value_calculation_and_inputs(ui: Settings) -> None:
    question = ("Met hoeveel % is het aantal mensen in het onbenut arbeidspotentieel in Amersfoort gedaald "
                "tussen 2015 en 2024?")
    at = ask(app(), question)
    shown = texts(at)
    assert "Berekend cijfer" in shown and "-38,9%" in shown
    assert "**Berekening:** (22.000 − 36.000) / 36.000 × 100 = -38,9%" in shown
    assert "22.000 — [1] " + AMERSFOORT in shown and "36.000 — [1]" in shown


def test_feedback_with_reason_and_comment_is_stored(ui: Settings) -> None:
    at = ask(app(), VACANCIES)
    assert len(at.feedback) == 1
    at.feedback[0].set_value(0).run()  # thumbs down
    reason = [s for s in at.selectbox if s.key and s.key.startswith("reason-")][0]
    assert "Ten onrechte geen antwoord" in reason.options
    reason.set_value("onjuist")
    at.text_area[0].input("Het cijfer klopt niet; mail me op jan@example.nl")
    button(at, "Feedback versturen").click().run()
    assert not at.exception and any("Feedback opgeslagen" in s.value for s in at.success)
    records = AuditStore(ui).list_feedback()
    assert records and records[0].rating == "down" and records[0].reason == "onjuist"
    assert records[0].key_name == "ui" and "jan@example.nl" not in (records[0].comment or "")
    assert records[0].question == VACANCIES
    # After sending: a confirmation instead of the form, also after the next rerun.
    at.run()
    assert "Feedback opgeslagen" in texts(at) and not [s for s in at.selectbox if (s.key or "").startswith("reason-")]


def test_thumbs_up_offers_positive_reasons(ui: Settings) -> None:
    at = ask(app(), VACANCIES)
    at.feedback[0].set_value(1).run()
    reason = [s for s in at.selectbox if s.key and s.key.startswith("reason-")][0]
    assert reason.options == ["Klopt en is bruikbaar", "Goede bronnen en passages", "Scheelt zoekwerk", "Anders"]
    button(at, "Feedback versturen").click().run()
    records = AuditStore(ui).list_feedback(rating="up")
    assert records and records[0].reason == "juist_en_bruikbaar" and records[0].comment is None


def test_new_conversation_clears_history(ui: Settings) -> None:
    at = ask(app(), VACANCIES)
    button(at, "Nieuw gesprek").click().run()
    assert not answer_html(at) and "Voorbeeldvragen" in texts(at)


def test_index_missing_shows_dutch_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "sources.toml").write_text("", encoding="utf-8")
    point_ui_at(monkeypatch, Settings(data_dir=tmp_path / "data", corpus_dir=corpus, _env_file=None))
    at = ask(app(), VACANCIES)
    assert any("nog geen index" in e.value for e in at.error)



def test_feedback_reason_codes_are_the_audit_stores() -> None:
    import ast  # the page is a script: read its constants without running it

    from assistant.audit import FEEDBACK_REASONS_DOWN, FEEDBACK_REASONS_UP

    source = (Path(__file__).resolve().parent.parent / "ui" / "views" / "chat.py").read_text(encoding="utf-8")
    found = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id.startswith("REASONS_"):
            found[node.targets[0].id] = list(ast.literal_eval(node.value))
    assert found["REASONS_DOWN"] == list(FEEDBACK_REASONS_DOWN)
    assert found["REASONS_UP"] == list(FEEDBACK_REASONS_UP)


def test_model_written_answer_streams_and_final_text_replaces_the_deltas(
    ui: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a language model, assistant.llm.stream_ask yields verified sentences; when the final
    answer differs (verification failed late), the page shows the final one."""
    import assistant.llm as llm

    def fake_stream_ask(assistant, question, history=None, filters=None, request_id=None):  # noqa: ANN001, ANN202
        real = assistant.ask(question, history, filters, request_id)
        yield llm.StreamEvent("delta", "Een eerste zin die later wordt vervangen [1]. ")
        final = real.model_copy(update={"generator": "llm:test", "verified": True})
        yield llm.StreamEvent("done", answer=final, replace=True)

    monkeypatch.setattr(llm, "stream_ask", fake_stream_ask)
    at = ask(app(), VACANCIES)
    html = answer_html(at)
    assert len(html) == 1 and "9.500" in html[0] and "later wordt vervangen" not in html[0]
    assert "Geformuleerd door een taalmodel" in texts(at)


def test_too_long_question_gets_the_assistants_dutch_message(ui: Settings) -> None:
    at = ask(app(), "Hoeveel vacatures? " * 120)
    assert any("te lang" in e.value for e in at.error) and not answer_html(at)
