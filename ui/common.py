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
.mw-viewer-page { font-weight: 600; margin: 0.2em 0; }
/* WCAG AA contrast (4.5:1): Streamlit's captions and placeholders are too light on white. */
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] * { color: #4b4f5c !important; opacity: 1 !important; }
[data-testid="stCaptionContainer"] code { color: #3d3f45 !important; background: #eceef1 !important; }
textarea::placeholder, input::placeholder { color: #5f6370 !important; opacity: 1; }
</style>
"""
# The page is Dutch (screen readers, spelling, axe's html-has-lang/valid-lang): Streamlit's index.html
# says lang="en" and offers no setting, so the document element is corrected on every page, and the
# few English texts Streamlit draws itself (skip link, file uploader, status) are shown in Dutch.
LANG_SCRIPT = """<script>
(() => {
  const root = window.parent && window.parent.document ? window.parent.document : document;
  root.documentElement.lang = 'nl';
  if (root.defaultView.__mwDutch) return;
  root.defaultView.__mwDutch = true;
  const words = [
    [/^Skip to main content$/, 'Naar de inhoud'],
    [/^Drag and drop files? here$/, 'Sleep een bestand hierheen'],
    [/^Browse files$/, 'Bestand kiezen'],
    [/^Upload$/, 'Uploaden'],
    [/^Limit (\\d+)\\s?MB per file/, (m, n) => 'Maximaal ' + n + ' MB per bestand'],
    [/^Running\\.\\.\\.$/, 'Bezig…'],
    [/^Stop$/, 'Stoppen'],
    [/^Press Enter to submit form$/, 'Druk op Enter om te versturen'],
    [/^Press Enter to apply$/, 'Druk op Enter om toe te passen'],
    [/^No results$/, 'Geen resultaten'],
  ];
  const fix = (node) => {
    const text = node.nodeValue && node.nodeValue.trim();
    if (!text) return;
    for (const [pattern, dutch] of words) {
      if (pattern.test(text)) { node.nodeValue = node.nodeValue.replace(text, text.replace(pattern, dutch)); return; }
    }
  };
  const walk = (el) => {
    const it = root.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let n = it.nextNode(); n; n = it.nextNode()) fix(n);
  };
  walk(root.body);
  new MutationObserver((changes) => {
    for (const c of changes) {
      if (c.type === 'characterData') fix(c.target);
      for (const n of c.addedNodes) n.nodeType === 3 ? fix(n) : (n.nodeType === 1 && walk(n));
    }
  }).observe(root.body, {childList: true, subtree: true, characterData: true});
})();
</script>"""


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
    st.html(LANG_SCRIPT, unsafe_allow_javascript=True)
