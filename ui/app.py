"""Marktwijzer UI. For now a status page with the approved sources; the chat comes with its issue."""

import ingest  # noqa: F401  (offline environment first)

import streamlit as st

from ingest.registry import load_registry
from ingest.settings import Settings
from ingest.store import current_generation

st.set_page_config(page_title="Marktwijzer", page_icon="📊")
st.title("Marktwijzer")
st.info(
    "Je werkt met een AI-assistent. Antwoorden komen alleen uit goedgekeurde bronnen; "
    "controleer altijd de bron voordat je een cijfer gebruikt."
)

settings = Settings()
generation = current_generation(settings.index_dir)
if generation is None:
    st.warning("Er is nog geen index. Draai `marktwijzer ingest`.")
else:
    manifest = generation.read_manifest()
    st.subheader("Goedgekeurde bronnen in de index")
    registry = {entry.id: entry for entry in load_registry(settings.registry_path).sources}
    st.table(
        [
            {
                "bron": source.title,
                "uitgever": registry[source.id].publisher if source.id in registry else "",
                "pagina's": source.pages,
                "passages": source.chunks,
                "geïndexeerd": source.indexed_at,
            }
            for source in manifest.sources.values()
        ]
    )
