"""Chat page for advisers: question -> streamed answer with [n] markers, figure cards, sources panel,
refusal state, feedback and Markdown export. Follow-up questions get the conversation as history."""

import ingest  # noqa: F401  (offline environment first)

import html
import uuid

import streamlit as st

from assistant.types import MAX_HISTORY_ANSWER_CHARS, MAX_HISTORY_QUESTION_CHARS, Answer, HistoryTurn
from ui import render as R
from ui.backend import BackendError
from ui.common import backend

EXAMPLES = [
    "Hoeveel vacatures stonden er open in regio Amersfoort?",
    "Voor welke beroepen is de arbeidsmarkt in Groningen zeer krap?",
    "Met hoeveel % is het aantal mensen in het onbenut arbeidspotentieel in Amersfoort gedaald tussen 2015 en 2024?",
    "Wat is AIMI?",
    "Welke stappen horen bij het opstellen van een regionale meerjarenagenda?",
]
HISTORY_TURNS = 3
TYPE_LABELS = {
    "regio-in-beeld": "Regio in Beeld", "handreiking": "Handreiking", "factsheet": "Factsheet",
    "magazine": "Magazine", "rapport": "Rapport",
}
ALL_REGIONS = "Alle regio's"
# Reason codes are the audit store's (assistant.audit.FEEDBACK_REASONS_DOWN / _UP), labels in Dutch.
REASONS_DOWN = {
    "onjuist": "Antwoord of cijfer klopt niet",
    "bron_ondersteunt_niet": "De passage ondersteunt het antwoord niet",
    "onvolledig": "Antwoord is onvolledig",
    "niet_relevant": "Gaat niet over mijn vraag",
    "onterecht_geweigerd": "Ten onrechte geen antwoord",
    "onduidelijk": "Onduidelijk geformuleerd",
    "anders": "Anders",
}
REASONS_UP = {
    "juist_en_bruikbaar": "Klopt en is bruikbaar",
    "goede_bronnen": "Goede bronnen en passages",
    "tijdwinst": "Scheelt zoekwerk",
    "anders": "Anders",
}

be = backend()
state = st.session_state
state.setdefault("messages", [])
state.setdefault("feedback_sent", {})

try:
    sources = be.sources()
except BackendError as exc:
    st.error(str(exc))
    sources = []
source_map = {s["id"]: s for s in sources}


# -- sidebar: filters ----------------------------------------------------------------------------

with st.sidebar:
    st.subheader("Filters")
    regions = sorted({r for s in sources for r in [*(s.get("regions") or []), *(s.get("provinces") or [])]})
    region = st.selectbox("Regio", [ALL_REGIONS, *regions], key="filter_region",
                          help="Alleen bronnen over deze arbeidsmarktregio of provincie.")
    chosen_sources = st.multiselect("Bron", list(source_map), key="filter_sources",
                                    format_func=lambda i: source_map[i]["title"], placeholder="Alle bronnen")
    types = sorted({s["type"] for s in sources if s.get("type")})
    chosen_types = st.multiselect("Soort bron", types, key="filter_types",
                                  format_func=lambda t: TYPE_LABELS.get(t, t), placeholder="Alle soorten")
    if st.button("Nieuw gesprek", icon=":material/restart_alt:", help="Begin opnieuw; eerdere vragen tellen dan niet meer mee."):
        state["messages"] = []

filters = {
    "region": None if region == ALL_REGIONS else region,
    "sources": chosen_sources,
    "types": chosen_types,
}


# -- rendering one answer ------------------------------------------------------------------------

def render_refusal(answer: Answer) -> None:
    with st.container(border=True):
        st.markdown(f"#### :material/search_off: {R.refusal_heading(answer.answer)}")
        st.markdown(html.escape(answer.answer).replace("$", "\\$"))
        if sources:
            with st.expander("Wat staat er wél in de goedgekeurde bronnen?"):
                st.markdown("\n".join(f"- {R.md_text(line)}" for line in R.coverage_lines(sources)))
        st.caption("Probeer een andere regio, periode of formulering, of kies een bron in de filters links.")


def render_figures(answer: Answer) -> None:
    by_n = {c.n: c for c in answer.citations}
    columns = st.columns(min(len(answer.figures), 3))
    for index, figure in enumerate(answer.figures):
        with columns[index % len(columns)], st.container(border=True):
            unit = f" {figure.unit}" if figure.unit and figure.unit not in figure.display else ""
            st.caption(f":material/calculate: Berekend cijfer · {R.md_text(figure.label)}")
            st.markdown(f'<div class="mw-figure-value">{html.escape(figure.display + unit)}</div>',
                        unsafe_allow_html=True)
            st.markdown(f"**Berekening:** {html.escape(figure.expression)} = {html.escape(figure.display)}"
                        .replace("$", "\\$"))  # computed by us: digits and operators only
            lines = []
            for number, refs in R.figure_inputs(figure, answer.citations):
                if refs:
                    where = "; ".join(f"[{n}] " + R.md_text(f"{by_n[n].title}, {R.page_label(by_n[n])}")
                                      for n in refs if n in by_n)
                    lines.append(f"- {R.md_text(number)} — {where}")
                else:
                    lines.append(f"- {R.md_text(number)} — rekenconstante")
            st.markdown("**Invoer:**\n" + "\n".join(lines))


def render_sources(answer: Answer, key: str, expanded: bool) -> None:
    claims = R.claims_by_marker(answer.answer)
    st.markdown(f'<div id="{R.sources_anchor(key)}"><b>Bronnen ({len(answer.citations)})</b></div>',
                unsafe_allow_html=True)
    for citation in answer.citations:
        # Titles, headings and publishers come from sources and admin metadata: plain text, never live Markdown.
        label = f"[{citation.n}] " + R.md_text(f"{citation.title} — {R.page_label(citation)}, {citation.section}")
        with st.expander(label, expanded=expanded):
            st.caption(R.md_text(R.citation_meta(citation)))
            spans = R.highlight_spans(citation.text, claims.get(citation.n, []))
            st.markdown(R.passage_html(citation.text, spans), unsafe_allow_html=True)
            url = R.safe_url((source_map.get(citation.source_id) or {}).get("url"))
            if url:
                st.markdown(f"[Open de bron]({url})")


def render_feedback(answer: Answer, key: str) -> None:
    sent = state["feedback_sent"]
    if answer.id in sent:
        st.caption(f":material/check: Feedback opgeslagen ({sent[answer.id]}). Dank je wel!")
        return
    rating = st.feedback("thumbs", key=f"rating-{key}")
    if rating is None:
        return
    up = rating == 1
    options = REASONS_UP if up else REASONS_DOWN
    with st.form(f"feedback-{key}", border=True):
        reason = st.selectbox("Wat vond je ervan?" if up else "Wat ging er mis?", list(options),
                              format_func=options.get, key=f"reason-{key}")
        comment = st.text_area("Toelichting (optioneel)", key=f"comment-{key}", max_chars=2000,
                               placeholder="Bijvoorbeeld: welk cijfer klopt niet, of wat miste je?")
        if st.form_submit_button("Feedback versturen"):
            try:
                be.feedback(answer, "up" if up else "down", reason, comment.strip())
            except BackendError as exc:
                st.error(str(exc))
            else:
                sent[answer.id] = "duim omhoog" if up else "duim omlaag"
                st.success("Feedback opgeslagen. Dank je wel!")


def render_actions(answer: Answer, key: str) -> None:
    note = R.export_markdown(answer, source_map)
    left, right = st.columns([1, 1])
    with left:
        render_feedback(answer, key)
    with right:
        st.download_button("Exporteer antwoord + bronnen (Markdown)", data=note, icon=":material/download:",
                           file_name=f"marktwijzer-{answer.id or key}.md", mime="text/markdown",
                           key=f"export-{key}", on_click="ignore")
        with st.expander("Gespreksnotitie om te kopiëren"):
            st.code(note, language="markdown", wrap_lines=True)


def render_answer(answer: Answer, key: str, expanded: bool) -> None:
    if answer.refused:
        render_refusal(answer)
    else:
        st.markdown(R.answer_html(answer, key), unsafe_allow_html=True)
        if answer.generator != "extractive":
            st.caption(":material/edit_note: Geformuleerd door een taalmodel en per zin gecontroleerd tegen de "
                       "passages hieronder." if answer.verified else
                       ":material/warning: Niet volledig gecontroleerd: lees de passages na.")
        if answer.audit_dropped:
            st.caption(f":material/rule: {answer.audit_dropped} zin(nen) weggelaten: een getal erin stond niet in de "
                       "geciteerde passage.")
        if answer.figures:
            render_figures(answer)
        if answer.citations:
            render_sources(answer, key, expanded)
    render_actions(answer, key)


# -- asking --------------------------------------------------------------------------------------

def history() -> list[HistoryTurn]:
    turns = state["messages"][-HISTORY_TURNS:]  # within the API's bounds (assistant.types)
    return [HistoryTurn(question=t["question"][:MAX_HISTORY_QUESTION_CHARS],
                        answer=t["answer"].answer[:MAX_HISTORY_ANSWER_CHARS]) for t in turns]


def ask(question: str) -> Answer | None:
    """Stream the answer into the page, then show it with its sources; None on an error."""
    result: dict = {}
    events = be.stream(question, history(), filters)

    def deltas():  # noqa: ANN202
        for kind, data in events:
            if kind == "delta":
                yield R.stream_safe(data)
            elif kind == "done":
                result["answer"] = data
            elif kind == "error":
                result["error"] = data

    holder = st.empty()
    with holder.container():
        st.write_stream(deltas())
    holder.empty()
    if "error" in result or "answer" not in result:
        st.error(result.get("error") or "Er ging iets mis; probeer het opnieuw.")
        return None
    answer: Answer = result["answer"]
    if not answer.id:
        answer = answer.model_copy(update={"id": uuid.uuid4().hex[:12]})
    return answer


# -- page ----------------------------------------------------------------------------------------

st.title("Vraag het Marktwijzer")
active = [f"regio {filters['region']}" if filters["region"] else "",
          ", ".join(source_map[i]["title"] for i in chosen_sources if i in source_map),
          ", ".join(TYPE_LABELS.get(t, t) for t in chosen_types)]
if any(active):
    st.caption("Filters actief: " + " · ".join(a for a in active if a))

question = st.chat_input("Stel je vraag over de regionale arbeidsmarkt…")
examples = st.empty()
if not state["messages"] and not question:
    with examples.container():
        st.markdown(
            "Stel een vraag over de arbeidsmarkt in de regio. Je krijgt een kort antwoord uit de "
            "goedgekeurde bronnen, met bij elke zin een bronverwijzing [n] en de passage zelf. "
            "Vervolgvragen (\"en in Groningen?\") gaan verder op het gesprek."
        )
        st.markdown("**Voorbeeldvragen**")
        for index, example in enumerate(EXAMPLES):
            if st.button(example, key=f"example-{index}"):
                question = example
    if question:
        examples.empty()

count = len(state["messages"])
for index, turn in enumerate(state["messages"]):
    with st.chat_message("user"):
        st.markdown(html.escape(turn["question"]))
    with st.chat_message("assistant"):
        render_answer(turn["answer"], turn["key"], expanded=index == count - 1 and not question)

if question:
    with st.chat_message("user"):
        st.markdown(html.escape(question))
    with st.chat_message("assistant"):
        answer = ask(question)
        if answer is not None:
            key = answer.id or uuid.uuid4().hex[:12]
            state["messages"].append({"question": question, "answer": answer, "key": key})
            render_answer(answer, key, expanded=True)
