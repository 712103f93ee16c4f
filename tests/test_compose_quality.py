"""SentenceQuality: which source sentences may be quoted (fragments that PDF extraction mangled may not)."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from assistant.compose import SentenceQuality, Unit
from assistant.retrieve import Passage

PASSAGE = Passage(
    chunk_id="c1", source_id="s1", title="T", publisher="P", edition="1", source_type="factsheet",
    page_start=1, page_end=1, section="", section_path="", text="", chunk_index=0,
)
WHOLE = [
    "Vervangingsvraag (door bijv. pensionering) UWV: Regio in Beeld (leeftijdsopbouw per sector).",
    "Het gaat om 1.200 mensen, resp. 800 en 400 in de twee gemeenten.",
    "De lonen stijgen, incl. de eindejaarsuitkering, met 4% in 2025.",
    "Werkloosheid: 3,4%.",
    "Zij kozen drie routes: 1) scholing, 2) begeleiding en 3) plaatsing.",
]
MANGLED = [
    "De vraag naar personeel blijft hoog in de zorg. de werkloosheid daalt verder in de regio.",  # lost start glued on
    "het aantal vacatures in de zorg steeg tot een nieuw record.",  # starts mid-sentence
    "Het aantal vacatures in de zorg steeg in het tweede kwartaal tot",  # cut off at the end
    "In de regio wordt de veili ngend zwaar ervaren door werkgevers.",  # a word split by extraction
    "Lees hier meer over de arbeidsmarkt in de regio.",  # a pointer says nothing itself
    "Kort.",
]
# The corpus vocabulary: every word of these texts is common, except the halves of the split word.
VOCABULARY = Counter(re.findall(r"[^\W\d_]+", " ".join(WHOLE + MANGLED).lower()) * 2)
VOCABULARY.subtract({"veili": 2, "ngend": 2})
QUALITY = SentenceQuality(VOCABULARY)


def _usable(text: str, kind: str = "sentence") -> bool:
    return QUALITY.usable(Unit(PASSAGE, 0, 0, text, kind, frozenset()))


@pytest.mark.parametrize("text", WHOLE)
def test_whole_sentences_are_usable(text: str) -> None:
    assert _usable(text)


@pytest.mark.parametrize("text", MANGLED)
def test_mangled_fragments_are_not(text: str) -> None:
    assert not _usable(text)
