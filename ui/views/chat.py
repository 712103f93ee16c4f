"""Chat page for advisers: question -> streamed answer with [n] markers, figure cards, sources panel
with "Open bron op p. N" (the source viewer), refusal state, feedback and export. Follow-up questions
get the conversation as history. Conversations are stored per adviser (sidebar: reopen, rename,
delete; "Exporteer gesprek" as Markdown and Word).

The answer is computed in a worker thread (`AnswerJob`) and its turn is in the session state before
the first word is drawn: a follow-up typed while an answer is still being drawn reruns this script,
which stops the drawing but not the work, so the first turn stays and the follow-up gets it as
context (issue 17)."""

import ingest  # noqa: F401  (offline environment first)

import datetime as dt
import html
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import unquote

import streamlit as st

from assistant.types import MAX_HISTORY_ANSWER_CHARS, MAX_HISTORY_QUESTION_CHARS, Answer, Citation, HistoryTurn
from ui import render as R
from ui.backend import BackendError
from ui.common import backend, settings
from ui.export import conversation_docx, conversation_markdown

log = logging.getLogger(__name__)

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

ADVISER_COOKIE = "marktwijzer_adviseur"
ANSWER_WAIT_S = 120.0  # an answer still being computed when the page reruns is waited for this long

be = backend()
state = st.session_state
state.setdefault("messages", [])
state.setdefault("feedback_sent", {})
state.setdefault("conversation_id", None)


@dataclass
class AnswerJob:
    """One answer being computed outside the script run (see the module docstring)."""

    deltas: list[str] = field(default_factory=list)
    answer: Answer | None = None
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)


# -- who is asking ---------------------------------------------------------------------------------

def _text(value: object) -> str:
    return value if isinstance(value, str) else ""  # outside a browser session (AppTest) these are mocks


def adviser_name() -> str | None:
    """The reverse proxy's user header (MARKTWIJZER_USER_HEADER), else the name this browser gave once
    (cookie), else None (then the sidebar asks)."""
    header = settings().user_header.strip()
    if header:
        value = _text(st.context.headers.get(header)).strip()
        return value[:100] or None
    if state.get("adviser"):
        return state["adviser"]
    cookie = unquote(_text(st.context.cookies.get(ADVISER_COOKIE))).strip()
    if cookie:
        state["adviser"] = cookie[:100]
        return state["adviser"]
    return None


def owner_of(name: str | None) -> str | None:
    # "ui:" keeps UI names apart from API key names (a key name never holds a colon).
    return f"ui:{' '.join(name.casefold().split())}" if name else None


def remember_in_browser(name: str) -> None:
    value = json.dumps(name).replace("<", "\\u003c")  # a JS string literal that cannot end the script
    st.html(f"<script>document.cookie = '{ADVISER_COOKIE}=' + encodeURIComponent({value}) + "
            "'; path=/; max-age=31536000; SameSite=Strict';</script>", unsafe_allow_javascript=True)

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
        state["conversation_id"] = None

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
            if st.button(R.open_source_label(citation), key=f"open-{key}-{citation.n}", icon=":material/description:",
                         help="Toont de bron op de geciteerde pagina, met de geciteerde zinnen gemarkeerd."):
                show_source(citation, tuple(claims.get(citation.n, [])))
            url = R.safe_url((source_map.get(citation.source_id) or {}).get("url"))
            if url:
                st.markdown(f"[Website van de uitgever]({url})")


@st.cache_data(max_entries=64, show_spinner=False)
def _page_png(source_id: str, digest: str, page: int, _data: bytes) -> bytes:  # noqa: ARG001 (cache key)
    from assistant.source_files import render_pdf_page

    return render_pdf_page(_data, page)


@st.dialog("Bron", width="large")
def show_source(citation: Citation, claims: tuple[str, ...]) -> None:
    """The source at the cited page, inside the app: the page as PDFium draws it, and its text with
    the cited sentences marked (findable with Ctrl+F). The file is fetched anew each time, so a
    withdrawn source cannot be opened any more."""
    import hashlib

    from assistant.source_files import PDF, pdf_page_count, pdf_page_text

    st.markdown(f"<b>{html.escape(citation.title)}</b>", unsafe_allow_html=True)
    try:
        data, content_type = be.source_file(citation.source_id)
    except BackendError as exc:
        st.error(str(exc))
        return
    marked = [*claims] or [citation.text[:300]]
    if not content_type.startswith(PDF):
        text = data.decode("utf-8", "replace")
        st.caption(R.md_text(R.citation_meta(citation)))
        st.markdown(R.passage_html(text, R.highlight_spans(text, marked)), unsafe_allow_html=True)
        return
    count = pdf_page_count(data)
    page = int(st.number_input("Pagina", min_value=1, max_value=count, value=min(citation.page, count), step=1,
                               key=f"viewer-page-{citation.chunk_id}-{citation.n}"))
    printed = f" · gedrukt paginanummer {citation.page_label}" if citation.page_label and page == citation.page else ""
    cited = " · geciteerde pagina" if citation.page <= page <= (citation.page_end or citation.page) else ""
    st.markdown(f'<p class="mw-viewer-page">Pagina {page} van {count}{html.escape(printed)}{cited}</p>',
                unsafe_allow_html=True)
    digest = hashlib.sha256(data).hexdigest()
    st.image(_page_png(citation.source_id, digest, page, data),
             caption=f"{citation.title}, pagina {page}", width="stretch",
             alt=f"Pagina {page} van {citation.title}")
    text = pdf_page_text(data, page)
    spans = R.highlight_spans(text, marked) if cited else []
    with st.expander("Tekst van deze pagina (geciteerde zinnen gemarkeerd)", expanded=bool(spans)):
        st.markdown(R.passage_html(text, spans), unsafe_allow_html=True)
    st.download_button("Download de bron", data=data, file_name=f"{citation.source_id}.pdf", mime=PDF,
                       icon=":material/download:", on_click="ignore", key=f"viewer-download-{citation.n}")


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
    turns = [t for t in state["messages"] if t.get("answer") is not None][-HISTORY_TURNS:]  # the API's bounds
    return [HistoryTurn(question=t["question"][:MAX_HISTORY_QUESTION_CHARS],
                        answer=t["answer"].answer[:MAX_HISTORY_ANSWER_CHARS]) for t in turns]


def start_answer(question: str, turns: list[HistoryTurn], owner: str | None, conversation_id: str) -> AnswerJob:
    """Computes the answer in a worker thread (no Streamlit calls there) and stores the turn in the
    adviser's conversation when it is done, also when the page was closed meanwhile."""
    job = AnswerJob()

    def run() -> None:
        answer: Answer | None = None
        try:
            # Over HTTP the server stores the turn (conversation_id); in process we do, below.
            events = (be.stream(question, turns, filters, conversation_id=conversation_id) if be.remote
                      else be.stream(question, turns, filters))
            for kind, data in events:
                if kind == "delta":
                    job.deltas.append(R.stream_safe(data))
                elif kind == "done":
                    answer = data
                elif kind == "error":
                    job.error = str(data)
            if answer is not None and job.error is None:
                if not answer.id:
                    answer = answer.model_copy(update={"id": uuid.uuid4().hex[:12]})
                if owner:
                    try:
                        be.add_turn(owner, conversation_id, answer)
                    except BackendError as exc:
                        log.warning("conversation turn not stored: %s", exc)
                job.answer = answer
            elif job.error is None:
                job.error = "Er ging iets mis; probeer het opnieuw."
        except Exception:  # noqa: BLE001  (shown as a Dutch message; the details go to the log)
            log.exception("answer worker failed")
            job.error = "Er ging iets mis; probeer het opnieuw."
        finally:
            job.done.set()

    threading.Thread(target=run, name="marktwijzer-answer", daemon=True).start()
    return job


def settle(turn: dict) -> None:
    """Takes a finished job's answer into the turn (waiting for it when it is still being computed)."""
    job: AnswerJob | None = turn.get("job")
    if job is None:
        return
    if not job.done.wait(ANSWER_WAIT_S):
        turn["error"] = "Het antwoord duurt te lang; probeer het opnieuw."
    elif job.error or job.answer is None:
        turn["error"] = job.error or "Er ging iets mis; probeer het opnieuw."
    else:
        turn["answer"] = job.answer
        turn["saved"] = bool(owner)
    turn["job"] = None


def stream_into_page(job: AnswerJob) -> None:
    def deltas():  # noqa: ANN202
        shown = 0
        while True:
            finished = job.done.is_set()
            while shown < len(job.deltas):
                yield job.deltas[shown]
                shown += 1
            if finished:
                return
            time.sleep(0.02)

    holder = st.empty()
    with holder.container():
        st.write_stream(deltas())
    holder.empty()


def render_turn(turn: dict, expanded: bool) -> None:
    with st.chat_message("user"):
        st.markdown(html.escape(turn["question"]))
    with st.chat_message("assistant"):
        if turn.get("job") is not None:
            stream_into_page(turn["job"])
            settle(turn)
        if turn.get("error"):
            st.error(turn["error"])
        elif turn.get("answer") is not None:
            render_answer(turn["answer"], turn["key"], expanded=expanded)


def open_conversation(conversation_id: str) -> None:
    """Button callback (runs before the page is drawn again)."""
    try:
        stored = be.conversation(owner, conversation_id)
    except BackendError as exc:
        state["conversation_error"] = str(exc)
        return
    state["messages"] = [
        {"question": item["question"], "answer": Answer.model_validate(item["answer"]), "saved": True,
         "key": f"{conversation_id}-{item['position']}"}
        for item in stored.get("items", [])
    ]
    state["conversation_id"] = conversation_id


def rename_current() -> None:
    title = str(state.get("rename-title") or "").strip()
    if not title or not state["conversation_id"]:
        return
    try:
        be.rename_conversation(owner, state["conversation_id"], title)
    except BackendError as exc:
        state["conversation_error"] = str(exc)


def delete_current() -> None:
    try:
        be.delete_conversation(owner, state["conversation_id"])
    except BackendError as exc:
        state["conversation_error"] = str(exc)
    else:
        state["messages"] = []
        state["conversation_id"] = None


def draw_conversations() -> None:
    """The adviser's stored conversations, newest first, and the current one's rename and delete."""
    if "conversation_error" in state:
        st.error(state.pop("conversation_error"))
    try:
        stored_list = be.conversations(owner)
    except BackendError as exc:
        st.caption(str(exc))
        return
    for item in stored_list[:30]:
        st.button(f"{item['title']} · {when_label(item['updated_at'])}", key=f"conversation-{item['id']}",
                  icon=":material/forum:", disabled=item["id"] == state["conversation_id"], width="stretch",
                  on_click=open_conversation, args=(item["id"],))
    if state["conversation_id"] and any(i["id"] == state["conversation_id"] for i in stored_list):
        with st.expander("Dit gesprek beheren"):
            st.text_input("Nieuwe naam", key="rename-title", max_chars=120)
            st.button("Hernoemen", key="rename-conversation", on_click=rename_current)
            st.button("Gesprek verwijderen", key="delete-conversation", icon=":material/delete:", on_click=delete_current)


def save_unsaved_turns() -> None:
    """Turns answered before the adviser gave a name are stored once there is one."""
    if not owner or not state["conversation_id"]:
        return
    for turn in state["messages"]:
        if turn.get("answer") is not None and not turn.get("saved"):
            try:
                be.add_turn(owner, state["conversation_id"], turn["answer"])
                turn["saved"] = True
            except BackendError as exc:
                log.warning("conversation turn not stored: %s", exc)
                return


def when_label(value: str) -> str:
    try:
        moment = dt.datetime.fromisoformat(value).astimezone()
    except ValueError:
        return ""
    return f"{moment:%d-%m-%Y %H:%M}"


# -- sidebar: conversations ---------------------------------------------------------------------

name = adviser_name()
owner = owner_of(name)
with st.sidebar:
    st.subheader("Gesprekken")
    if owner is None and settings().user_header.strip():
        # The name comes from the sign-in proxy only: a typed name would let anyone read another's.
        st.caption("De inlogomgeving gaf geen naam door; gesprekken worden nu niet bewaard.")
    elif owner is None:
        with st.form("adviser-name", border=False):
            typed = st.text_input("Je naam", max_chars=100, placeholder="Bijvoorbeeld: Anna de Vries")
            if st.form_submit_button("Gesprekken bewaren") and typed.strip():
                state["adviser"] = " ".join(typed.split())[:100]
                state["remember_cookie"] = True
                st.rerun()
        st.caption("Geef één keer je naam om je gesprekken te bewaren en later terug te vinden; "
                   "alleen jij ziet ze.")
    else:
        if state.pop("remember_cookie", False) or not _text(st.context.cookies.get(ADVISER_COOKIE)):
            if not settings().user_header.strip():
                remember_in_browser(name)
        st.caption(f"Bewaard voor {R.md_text(name)} · {settings().conversation_days} dagen")
        save_unsaved_turns()
    # Filled at the end of the run, so a conversation answered just now is listed at once.
    conversations_box = st.container()


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

# Earlier turns first: one still being computed (a rerun interrupted its drawing) is waited for, so
# the new question below gets it as history.
count = len(state["messages"])
for index, turn in enumerate(state["messages"]):
    render_turn(turn, expanded=index == count - 1 and not question)

if question:
    if not state["conversation_id"]:
        state["conversation_id"] = uuid.uuid4().hex[:16]
    turn = {"question": question, "key": uuid.uuid4().hex[:12], "answer": None}
    turn["job"] = start_answer(question, history(), owner, state["conversation_id"])
    state["messages"].append(turn)  # before the first word is drawn: a rerun now keeps this turn
    render_turn(turn, expanded=True)

answered = [(t["question"], t["answer"]) for t in state["messages"] if t.get("answer") is not None]
if answered:
    with st.container(border=True):
        st.markdown("<b>Exporteer gesprek</b> (alle vragen, antwoorden en bronnen, voor het klantdossier)",
                    unsafe_allow_html=True)
        title = answered[0][0]
        left, right = st.columns(2)
        with left:
            st.download_button("Exporteer gesprek (Markdown)", data=conversation_markdown(title, answered, source_map),
                               file_name="marktwijzer-gesprek.md", mime="text/markdown", icon=":material/download:",
                               key="export-conversation-md", on_click="ignore")
        with right:
            st.download_button("Exporteer gesprek (Word)", data=lambda: conversation_docx(title, answered, source_map),
                               file_name="marktwijzer-gesprek.docx", icon=":material/description:",
                               mime="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                               key="export-conversation-docx", on_click="ignore")

if owner is not None:
    with conversations_box:
        draw_conversations()
