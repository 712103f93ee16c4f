"""What every page shares: settings, the cached backend, the AI notice and the page styles."""

from __future__ import annotations

import ingest  # noqa: F401  (offline environment first)

import logging

import streamlit as st

from ingest.settings import Settings
from ui.backend import Backend, InProcessBackend, make_backend
from ui.render import AI_NOTICE

log = logging.getLogger(__name__)

CSS = """
<style>
.mw-answer { line-height: 1.6; }
.mw-ref { color: #0b5cad; font-weight: 600; cursor: help; font-size: 0.85em; text-decoration: none; }
.mw-passage { font-size: 0.92em; line-height: 1.5; color: #333; white-space: normal; }
mark.mw-cited { background: #fff3a3; padding: 0 2px; border-radius: 2px; }
.mw-figure-value { font-size: 1.6em; font-weight: 700; }
</style>
"""


def settings() -> Settings:
    return Settings()


@st.cache_resource(show_spinner="Marktwijzer wordt geladen (index en taalmodel)…")
def _backend(data_dir: str, corpus_dir: str, api_url: str, api_key: str) -> Backend:  # noqa: ARG001 (cache key)
    """One backend per process and configuration. In-process, the index and the embedding model are
    loaded here, once (about 3 s), so no question waits for them. Not in a background thread:
    concurrent first imports of numpy/chromadb from two threads fail."""
    made = make_backend(Settings())
    if isinstance(made, InProcessBackend):
        try:
            made.warm_up()
        except Exception:  # noqa: BLE001  (no index yet: shown to the user on the first question)
            log.warning("warm-up failed", exc_info=True)
    return made


def backend() -> Backend:
    current = settings()
    return _backend(str(current.data_dir.resolve()), str(current.corpus_dir.resolve()), current.api_url,
                    current.api_key.get_secret_value())


def ai_notice() -> None:
    """EU AI Act art. 50: the user knows they talk to an AI system (on every page, always visible)."""
    st.info(AI_NOTICE, icon=":material/smart_toy:")


def styles() -> None:
    st.markdown(CSS, unsafe_allow_html=True)
