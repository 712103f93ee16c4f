"""Fuzzing (issue 10): the cleaner, the chunker (through structure), the registry loader and question
analysis on arbitrary input: no exception, and their invariants hold. Bounded so CI stays fast
(the number parser has its own properties in test_numbers.py)."""

from __future__ import annotations

import re
import string
import tempfile
from pathlib import Path

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ingest  # noqa: F401  (offline environment first)
from assistant.question import QuestionAnalyzer
from assistant.types import HistoryTurn
from ingest.chunk import build_chunks
from ingest.clean import (
    CONTROL,
    INVISIBLE,
    LIGATURES,
    SPACE_LIKE,
    clean_pages,
    normalise_text,
)
from ingest.infographic import pair_labels
from ingest.models import Page
from ingest.registry import Registry, RegistryError, load_registry
from ingest.structure import build_blocks

REPO = Path(__file__).resolve().parent.parent
FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text that looks like what PDF extraction gives, plus the odd characters it also gives.
ODD = list("\u00a0\u2009\u202f\u00ad\u200b\ufeff\ufb01\ufb02\x00\x07\x0b\x1b\x7f\r\t•–—‘’“”€%") + ["e\u0301", "\r\n"]
WORDS = [
    "Werkloosheid", "vacatures", "regio", "Amersfoort", "Groningen", "2025", "3,4%", "9.500", "daalt",
    "stijgt", "1.2", "Hoofdstuk", "Box 2.1", "Afbeelding 3.1", "Bron: UWV", "Tabel 2", "-", "•", ":",
    "arbeids-", "markt", "Pagina 3", "12", "ZORG", "€ 35,9 miljoen",
]
TOKEN = st.one_of(st.sampled_from(WORDS), st.sampled_from(ODD), st.text(max_size=8))
LINE = st.lists(TOKEN, max_size=12).map(" ".join)
PAGE_TEXT = st.one_of(st.lists(LINE, max_size=25).map("\n".join), st.text(max_size=400))


@FUZZ
@given(st.one_of(st.text(), PAGE_TEXT))
def test_normalise_text_leaves_no_odd_characters(text: str) -> None:
    out = normalise_text(text)
    assert isinstance(out, str)
    assert "\r" not in out
    assert not CONTROL.search(out) and not INVISIBLE.search(out) and not SPACE_LIKE.search(out)
    assert not any(ligature in out for ligature in LIGATURES)
    assert len(out) <= 3 * len(text)  # a ligature becomes at most three letters
    # the visible words survive: letters and digits are never dropped (NFC may compose them)
    plain = lambda s: re.sub(r"[^0-9A-Za-z]", "", s)
    assert plain(out) == plain(normalise_text(out))


def test_normalise_text_is_idempotent() -> None:
    text = "Cafe\u200b\u0301 en re\u00ad\u0301gio"
    assert normalise_text(normalise_text(text)) == normalise_text(text)


@FUZZ
@given(st.lists(PAGE_TEXT, min_size=1, max_size=6), st.integers(min_value=200, max_value=1400))
def test_clean_structure_chunk_never_fail_and_chunks_keep_their_shape(pages_text: list[str], max_chars: int) -> None:
    pages = [Page(number=i + 1, text=text) for i, text in enumerate(pages_text)]
    lines = clean_pages(pages)
    assert {line.page for line in lines} <= {page.number for page in pages}
    blocks = build_blocks(pair_labels(lines))
    chunks = build_chunks("fuzz-bron", blocks, max_chars, salt="x")
    again = build_chunks("fuzz-bron", build_blocks(pair_labels(clean_pages(pages))), max_chars, salt="x")
    assert [c.id for c in chunks] == [c.id for c in again]  # deterministic ids
    assert len({c.id for c in chunks}) == len(chunks)  # unique
    for index, chunk in enumerate(chunks):
        assert chunk.id.startswith("fuzz-bron:") and chunk.source_id == "fuzz-bron"
        assert chunk.index == index
        assert chunk.text.strip() and len(chunk.text) <= max_chars
        assert 1 <= chunk.page_start <= chunk.page_end <= len(pages)
        assert chunk.section_path and chunk.section == chunk.section_path[-1]
        assert "\x00" not in chunk.text and "\r" not in chunk.text


# -- registry --------------------------------------------------------------------------------------

FIELD_NAMES = ["id", "title", "publisher", "edition", "published", "period", "regions", "municipalities",
               "provinces", "scope", "type", "file", "url", "status", "aliases", "unknown"]
TOML_VALUES = st.one_of(
    st.text(max_size=20), st.integers(min_value=-10**6, max_value=10**6), st.booleans(),
    st.lists(st.text(max_size=10), max_size=3), st.dates(), st.sampled_from(
        ["approved", "draft", "withdrawn", "rapport", "factsheet", "pdf/a.pdf", "../x.pdf", "/etc/passwd", "2025"]),
)
ENTRY = st.dictionaries(st.sampled_from(FIELD_NAMES), TOML_VALUES, max_size=14)
STRUCTURED = st.one_of(
    st.fixed_dictionaries({"sources": st.lists(ENTRY, max_size=3)}),
    st.dictionaries(st.sampled_from(["sources", "extra", "version"]),
                    st.one_of(TOML_VALUES, st.lists(ENTRY, max_size=2)), max_size=3),
)
TOMLISH = st.lists(st.one_of(
    st.sampled_from(["[[sources]]", "[sources]", 'id = "a"', 'title = "T"', "status = approved", "published = 2025-13-40",
                     'file = "pdf/x.pdf"', "regions = [", "]", '"""', "= 1", "\x00", "\ufeff", "sources = 3"]),
    st.text(max_size=30)), max_size=12).map("\n".join)


def _load(data: bytes) -> Registry | None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sources.toml"
        path.write_bytes(data)
        try:
            return load_registry(path)
        except RegistryError as exc:
            assert str(exc)  # a message that says what is wrong
            return None


@FUZZ
@given(st.one_of(TOMLISH.map(lambda t: t.encode("utf-8", "surrogatepass")), st.binary(max_size=200)))
def test_registry_loader_raises_only_registry_error_on_arbitrary_text(data: bytes) -> None:
    registry = _load(data)
    assert registry is None or isinstance(registry, Registry)


@FUZZ
@given(STRUCTURED)
def test_registry_loader_on_arbitrary_toml_structures(document: dict) -> None:
    registry = _load(tomli_w.dumps(document).encode())
    if registry is not None:  # whatever was accepted is valid by construction
        for entry in registry.sources:
            assert entry.id and entry.title and not Path(entry.file).is_absolute() and ".." not in Path(entry.file).parts


# -- question analysis -----------------------------------------------------------------------------

ANALYZER = QuestionAnalyzer(load_registry(REPO / "corpus" / "sources.toml").sources)
QUESTION_WORDS = ["Hoeveel", "vacatures", "in", "regio", "Amersfoort", "Groningen", "Utrecht", "2024", "2025",
                  "tweede", "kwartaal", "En", "?", "zzp'ers", "BSN", "123456782", "verschil", "procent",
                  "tussen", "en", "van", "naar", "voorspel", "2030", "wat", "is", "het", "aandeel"]
QUESTION = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(st.sampled_from(QUESTION_WORDS), st.text(string.printable, max_size=5)), max_size=20).map(" ".join),
)


@FUZZ
@given(QUESTION, st.lists(st.builds(HistoryTurn, question=QUESTION, answer=st.text(max_size=50)), max_size=3))
def test_question_analysis_never_fails(question: str, history: list[HistoryTurn]) -> None:
    analysis = ANALYZER.analyze(question, history or None)
    assert isinstance(analysis.retrieval_text, str)
    for place in analysis.places:
        assert place.name
