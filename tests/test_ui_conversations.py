"""Conversations on the chat page (Streamlit AppTest, in-process assistant on a copy of the real index):
the adviser names herself once, the conversation is stored as it is asked, listed in the sidebar,
reopened with its answers and sources, renamed and deleted; another adviser sees none of it; the
user-header setting names the adviser without asking; ingest errors are shown in Dutch."""

from __future__ import annotations

import pytest

from assistant.conversations import ConversationStore
from ingest.models import IngestReport
from ingest.settings import Settings
from ui.render import ingest_error_nl

from .test_ui_support import app, button, copy_built, point_ui_at, texts

QUESTION = "Hoeveel vacatures stonden er open in regio Amersfoort?"


@pytest.fixture
def ui(built_index: tuple[Settings, IngestReport], tmp_path, monkeypatch: pytest.MonkeyPatch) -> Settings:  # noqa: ANN001
    settings = copy_built(built_index[0], tmp_path)
    point_ui_at(monkeypatch, settings)
    return settings


def _name(at, name: str):  # noqa: ANN001, ANN202
    at.sidebar.text_input[0].input(name)
    return button(at, "Gesprekken bewaren").click().run()


def _stored(at) -> list[str]:  # noqa: ANN001
    return [b.label for b in at.sidebar.button if b.key and b.key.startswith("conversation-")]


def test_conversation_is_stored_listed_reopened_renamed_and_deleted(ui: Settings) -> None:
    at = app()
    assert "Geef één keer je naam" in texts(at)
    at.chat_input[0].set_value(QUESTION).run()  # asked before naming: stored once there is a name
    at = _name(at, "Anna de Vries")
    assert not at.exception, [e.value for e in at.exception]
    assert "Bewaard voor Anna de Vries" in texts(at)
    at.chat_input[0].set_value("En in Groningen?").run()
    store = ConversationStore(ui)
    [summary] = store.list("ui:anna de vries")
    assert summary.title == QUESTION and summary.turns == 2
    assert [t.question for t in store.get("ui:anna de vries", summary.id).items] == [QUESTION, "En in Groningen?"]
    assert _stored(at) and _stored(at)[0].startswith(QUESTION)

    button(at, "Nieuw gesprek").click().run()
    assert "Voorbeeldvragen" in texts(at)
    at.sidebar.button(key=f"conversation-{summary.id}").click().run()
    answers = [m.value for m in at.markdown if m.value.startswith('<div class="mw-answer">')]
    assert len(answers) == 2 and "9.500" in answers[0]
    assert any(e.label.startswith("[1] Regio in Beeld 2025-2026 Groningen") for e in at.expander)
    assert [b.label for b in at.download_button][-2:] == ["Exporteer gesprek (Markdown)", "Exporteer gesprek (Word)"]

    at.sidebar.text_input(key="rename-title").input("Werkgever Jansen")
    at.sidebar.button(key="rename-conversation").click().run()
    assert store.list("ui:anna de vries")[0].title == "Werkgever Jansen"
    assert _stored(at)[0].startswith("Werkgever Jansen")

    # Another adviser in another browser session: nothing of Anna's.
    other = _name(app(), "Bram")
    assert not _stored(other) and store.list("ui:bram") == []

    at.sidebar.button(key="delete-conversation").click().run()
    assert store.list("ui:anna de vries") == [] and not _stored(at)


def test_user_header_names_the_adviser_without_asking(ui: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKTWIJZER_USER_HEADER", "X-Remote-User")
    at = app()  # AppTest sends no such header: no name, and no form asking for one either
    assert "Geef één keer je naam" not in texts(at) and not at.sidebar.text_input
    assert "De inlogomgeving gaf geen naam door" in texts(at)


def test_ingest_errors_are_shown_in_dutch() -> None:
    assert ingest_error_nl("the PDF has no extractable text (scanned or image-only?); OCR it first").startswith(
        "de PDF bevat geen leesbare tekst")
    assert ingest_error_nl("the file is 120 MB; the limit is 50 MB") == "het bestand is 120 MB; de grens is 50 MB"
    assert ingest_error_nl("the PDF is encrypted (password-protected); upload an unprotected copy "
                           "(the previously indexed version stays in the index)").endswith(
        "(de eerder geïndexeerde versie blijft in de index)")
    assert ingest_error_nl("something nobody foresaw") == "het bestand kon niet worden gelezen (onbekende fout)"
