"""What every page shares: settings, the cached backend, the AI notice and the page styles."""

from __future__ import annotations

import ingest  # noqa: F401  (offline environment first)

import logging
import threading

import streamlit as st

from ingest.settings import Settings
from ui.backend import Backend, InProcessBackend, make_backend
from ui.render import AI_NOTICE

log = logging.getLogger(__name__)

CSS = """
<style>
.mw-answer { line-height: 1.6; }
.mw-ref { color: #0b5cad; font-weight: 600; cursor: help; font-size: 0.85em; }
.mw-passage { font-size: 0.92em; line-height: 1.5; color: #333; white-space: normal; }
mark.mw-cited { background: #fff3a3; padding: 0 2px; border-radius: 2px; }
.mw-figure-value { font-size: 1.6em; font-weight: 700; }
</style>
"""


def settings() -> Settings:
    return Settings()


@st.cache_resource(show_spinner=False)
def _backend(data_dir: str, corpus_dir: str, api_url: str, api_key: str) -> Backend:  # noqa: ARG001 (cache key)
    """One backend per process and configuration. In-process, the index and embedding model load in
    the background right away, so the first question does not wait for them."""
    made = make_backend(Settings())
    if isinstance(made, InProcessBackend):
        threading.Thread(target=_warm_up, args=(made,), name="marktwijzer-warm-up", daemon=True).start()
    return made


def _warm_up(made: InProcessBackend) -> None:
    try:
        made.warm_up()
    except Exception:  # noqa: BLE001  (shown to the user on the first question instead)
        log.warning("warm-up failed", exc_info=True)


def backend() -> Backend:
    current = settings()
    return _backend(str(current.data_dir.resolve()), str(current.corpus_dir.resolve()), current.api_url,
                    current.api_key.get_secret_value())


def ai_notice() -> None:
    """EU AI Act art. 50: the user knows they talk to an AI system (on every page, always visible)."""
    st.info(AI_NOTICE, icon="🤖")


def styles() -> None:
    st.markdown(CSS, unsafe_allow_html=True)
