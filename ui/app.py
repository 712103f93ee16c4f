"""Marktwijzer UI (Streamlit), started by `marktwijzer ui`: chat for advisers, Sources and
Evaluations pages for trainers. Talks to the assistant in-process, or to the HTTP API when
MARKTWIJZER_API_URL is set (ui/backend.py)."""

import ingest  # noqa: F401  (offline environment first)

from pathlib import Path

import streamlit as st

from ui.common import ai_notice, backend, styles

HERE = Path(__file__).resolve().parent

st.set_page_config(page_title="Marktwijzer", page_icon=":material/query_stats:", layout="wide")
styles()

# One flat list: Streamlit draws section headings ("Adviseurs", "Trainers") as paragraphs inside the
# <ul>, which screen readers and axe (list, listitem) reject. The trainers' pages say so in their title.
pages = [
    st.Page(HERE / "views" / "chat.py", title="Vraag het Marktwijzer", icon=":material/chat:", default=True),
    st.Page(HERE / "views" / "sources.py", title="Bronnen (trainers)", icon=":material/library_books:", url_path="bronnen"),
    st.Page(HERE / "views" / "evaluations.py", title="Evaluaties (trainers)", icon=":material/monitoring:",
            url_path="evaluaties"),
]
page = st.navigation(pages)
with st.sidebar:
    mode = backend()
    st.caption(
        ":material/smart_toy: Je praat met een AI-assistent. Antwoorden komen alleen uit goedgekeurde bronnen; "
        "controleer altijd de bron. "
        + ("Verbonden met de API." if mode.remote else "")
    )
ai_notice()
page.run()
