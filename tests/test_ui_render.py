"""The UI's pure helpers (ui/render.py, ui/backend.split_deltas): claims per marker, highlighted
passages, answer HTML, figure inputs, refusal headings and the Markdown export."""

from __future__ import annotations

import datetime as dt

from assistant import prompts
from assistant.types import Answer, Citation, Figure
from ui import render as R
from ui.backend import split_deltas

PASSAGE = (
    "Het aantal openstaande vacatures in Amersfoort steeg de afgelopen jaren sterk. Vacatures ontstaan niet "
    "alleen door banengroei.\nAan het eind van het tweede kwartaal van 2025 stonden er 9.500 vacatures open. "
    "De arbeidsmarkt is nog altijd krap."
)


def citation(n: int = 1, text: str = PASSAGE, **extra: object) -> Citation:
    data = {"n": n, "source_id": "uwv-regio-in-beeld-2025-2026-amersfoort", "title": "Regio in Beeld 2025-2026 Amersfoort",
            "publisher": "UWV", "edition": "2025-2026", "page": 1, "page_end": 2, "section": "De arbeidsmarkt blijft krap",
            "text": text, "score": 0.8, **extra}
    return Citation.model_validate(data)


def test_claims_by_marker_strip_introductions_and_bullets() -> None:
    text = ("Volgens Regio in Beeld Amersfoort (UWV), cijfers tot en met juni 2025: aan het eind van het tweede "
            "kwartaal van 2025 stonden er 9.500 vacatures open [1].\n• De arbeidsmarkt is krap [2][1].")
    claims = R.claims_by_marker(text)
    assert claims[1] == ["aan het eind van het tweede kwartaal van 2025 stonden er 9.500 vacatures open",
                         "De arbeidsmarkt is krap"]
    assert claims[2] == ["De arbeidsmarkt is krap"]


def test_highlight_finds_the_cited_sentence_despite_case_and_intro() -> None:
    claims = ["aan het eind van het tweede kwartaal van 2025 stonden er 9.500 vacatures open"]
    spans = R.highlight_spans(PASSAGE, claims)
    assert len(spans) == 1
    begin, end = spans[0]
    assert PASSAGE[begin:end].lower().startswith("an het eind") or PASSAGE[begin:end].startswith("Aan het eind")
    assert PASSAGE[begin:end].endswith("vacatures open")


def test_highlight_ignores_text_that_is_not_in_the_passage() -> None:
    assert R.highlight_spans(PASSAGE, ["Berekend met cijfers uit Regio in Beeld: 182.900 − 6.300 = 176.600"]) == []


def test_passage_html_escapes_and_marks() -> None:
    text = "A <b>bold</b> claim & more\nnext line $5"
    html = R.passage_html(text, [(2, 13)])
    assert html.startswith('<div class="mw-passage">') and "\n" not in html
    assert '<mark class="mw-cited">&lt;b&gt;bold&lt;/b&gt;</mark>' in html and "&amp; more<br>next line $5" in html


def test_answer_html_markers_carry_their_source() -> None:
    answer = Answer(question="q", answer="Er stonden 9.500 vacatures open [1].\n• <script> [2]", citations=[citation()])
    html = R.answer_html(answer)
    assert '<span class="mw-ref" title="Regio in Beeld 2025-2026 Amersfoort, p. 1-2, De arbeidsmarkt blijft krap">[1]</span>' in html
    assert "&lt;script&gt;" in html and "<br>" in html and "\n" not in html
    assert '<span class="mw-ref" title="">[2]</span>' in html
    linked = R.answer_html(answer, key="abc 1")
    assert '<a class="mw-ref" href="#mw-bronnen-abc1" title="Regio in Beeld' in linked and R.sources_anchor("abc 1") == "mw-bronnen-abc1"


def test_stream_safe_escapes_markdown_and_latex() -> None:
    assert R.stream_safe("€ 5 $ 6 *x* _y_") == "€ 5 \\$ 6 \\*x\\* \\_y\\_"


def test_figure_inputs_point_to_the_passages_holding_them() -> None:
    figure = Figure(label="verschil", value=-14000, display="-14.000", expression="22.000 − 36.000", citations=[1, 2])
    cites = [citation(1, "In 2024 waren het er 22.000."), citation(2, "In 2015 telde men 36.000 mensen en 122.000 banen.")]
    assert R.figure_inputs(figure, cites) == [("22.000", [1]), ("36.000", [2])]
    percent = Figure(label="%", value=-38.9, display="-38,9%", expression="(22.000 − 36.000) / 36.000 × 100", citations=[1])
    assert R.figure_inputs(percent, cites) == [("22.000", [1]), ("36.000", []), ("100", [])]


def test_refusal_headings() -> None:
    assert R.refusal_heading(prompts.REFUSE_NOT_FOUND) == "Niet gevonden in de goedgekeurde bronnen"
    assert R.refusal_heading(prompts.REFUSE_PLACE + " De goedgekeurde bronnen gaan over: x.") == R.REFUSAL_HEADING
    assert R.refusal_heading(prompts.REFUSE_PERSONAL) == "Geen persoonsgegevens"
    assert R.refusal_heading(prompts.REFUSE_FORECAST) == "Geen eigen voorspellingen"


def test_export_markdown_has_question_answer_sources_and_notice() -> None:
    answer = Answer(
        id="abc123", question="Hoeveel vacatures?", answer="Er stonden 9.500 vacatures open [1].",
        citations=[citation(text="Er stonden 9.500 vacatures open. Rest.")],
        figures=[Figure(label="verschil", value=1, display="1", unit="banen", expression="2 − 1", citations=[1])],
    )
    note = R.export_markdown(answer, {answer.citations[0].source_id: {"url": "https://example.org/rib.pdf"}},
                             when=dt.datetime(2026, 11, 22, 10, 5))
    assert "**Vraag:** Hoeveel vacatures?" in note and "Er stonden 9.500 vacatures open [1]." in note
    assert "[1] [Regio in Beeld 2025-2026 Amersfoort](https://example.org/rib.pdf). UWV · editie 2025-2026 · p. 1-2" in note
    assert "> **Er stonden 9.500 vacatures open**. Rest." in note
    assert "- verschil: **1 banen** = 2 − 1 [1]" in note
    assert "22-11-2026 10:05" in note and "antwoord-id `abc123`" in note and "AI-assistent" in note


def test_export_markdown_of_a_refusal() -> None:
    answer = Answer(question="Limburg?", answer=prompts.refusal_text(prompts.REFUSE_PLACE, []), refused=True)
    note = R.export_markdown(answer)
    assert "**Niet gevonden in de goedgekeurde bronnen.**" in note and "## Bronnen" not in note


def test_coverage_lines() -> None:
    lines = R.coverage_lines([{"id": "x", "title": "RiB Groningen", "publisher": "UWV", "regions": ["Groningen"],
                               "period": "cijfers tot juni 2025"}])
    assert lines == ["RiB Groningen (UWV): Groningen; cijfers tot juni 2025"]


def test_split_deltas_keeps_the_text() -> None:
    text = "Volgens de bron:  er  stonden\n• 9.500 vacatures open [1]."
    pieces = split_deltas(text)
    assert "".join(pieces) == text and len(pieces) > 1
    assert split_deltas("") == []


# -- issue 20, finding 6: source headings and admin metadata are plain text, never live Markdown ----

HOSTILE = "Regio ![baken](http://127.0.0.1:9/baken.png) [klik](javascript:alert(1)) **vet** <img src=x> :red[rood]"


def _live_markdown(text: str) -> list[str]:
    """Token types of `text` parsed as CommonMark that would make it more than plain text."""
    from markdown_it import MarkdownIt

    live = {"image", "link_open", "strong_open", "em_open", "html_inline", "html_block", "bullet_list_open",
            "ordered_list_open", "heading_open"}
    found: list[str] = []

    def walk(tokens) -> None:  # noqa: ANN001
        for token in tokens:
            if token.type in live:
                found.append(token.type)
            walk(token.children or [])

    walk(MarkdownIt("commonmark").parse(text))
    return found


def test_md_text_shows_metadata_literally() -> None:
    assert _live_markdown(HOSTILE)  # the check itself sees live Markdown
    for text in (HOSTILE, "1. Inleiding", "- lijst", "# Kop", "a\n\n![x](http://e/x.png)"):
        escaped = R.md_text(text)
        assert _live_markdown(escaped) == [], (text, escaped)
        assert "\n" not in escaped
    assert R.md_text("Regio in Beeld 2025-2026 Amersfoort") == "Regio in Beeld 2025-2026 Amersfoort"


def test_only_http_urls_become_links() -> None:
    assert R.safe_url("javascript:alert(1)") == ""
    assert R.safe_url("data:text/html,<b>x</b>") == ""
    assert R.safe_url("//evil.example/x") == ""
    assert R.safe_url(" JavaScript:alert(1)") == ""
    assert R.safe_url("https://example.org/rib.pdf") == "https://example.org/rib.pdf"
    assert R.safe_url("https://example.org/a (1).pdf") == "https://example.org/a%20%281%29.pdf"  # cannot end the link


def test_export_escapes_titles_and_drops_javascript_urls() -> None:
    answer = Answer(question="q", answer="Er stonden 9.500 vacatures open [1].", citations=[citation(title=HOSTILE)])
    note = R.export_markdown(answer, {answer.citations[0].source_id: {"url": "javascript:alert(1)"}})
    line = next(line for line in note.splitlines() if line.startswith("[1] "))
    assert _live_markdown(line) == []
    assert note.count("javascript") == 1  # the (escaped) title's own text; the url is not used


def test_chat_page_shows_source_metadata_as_plain_text(built_index, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """The real chat page on a copy of the index, answering for real; the cited source's title,
    heading and publisher are then made hostile (as an admin's metadata or a PDF heading could be)
    and the sources' urls are `javascript:`."""
    from ui.backend import InProcessBackend

    from .test_ui_support import app, copy_built, point_ui_at

    settings = copy_built(built_index[0], tmp_path)
    point_ui_at(monkeypatch, settings)
    original, sources = InProcessBackend.stream, InProcessBackend.sources

    def javascript_urls(self):  # noqa: ANN001, ANN202  (a registry written before urls were checked)
        return [{**source, "url": "javascript:alert(1)"} for source in sources(self)]

    def hostile(self, question, history=None, filters=None):  # noqa: ANN001, ANN202
        for kind, data in original(self, question, history, filters):
            if kind == "done":
                for c in data.citations:
                    c.title, c.section, c.publisher = HOSTILE, "# Kop " + HOSTILE, "[UWV](http://127.0.0.1:9/)"
            yield kind, data

    monkeypatch.setattr(InProcessBackend, "stream", hostile)
    monkeypatch.setattr(InProcessBackend, "sources", javascript_urls)
    at = app()
    at.chat_input[0].set_value("Hoeveel vacatures stonden er open in regio Amersfoort?").run()
    assert not at.exception, [e.value for e in at.exception]
    labels = [e.label for e in at.expander if e.label.startswith("[1] ")]
    assert labels and "baken" in labels[0]
    shown = [*labels, *(c.value for c in at.caption)]
    shown += [m.value for m in at.markdown if not m.value.startswith("<")]  # our own escaped HTML aside
    for text in shown:
        assert _live_markdown(text) == [], text
    assert not any("Website van de uitgever" in m.value for m in at.markdown)  # no link to a javascript: url
