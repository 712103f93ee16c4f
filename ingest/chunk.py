"""Chunking: blocks -> section-aware passages sized for the embedding model.

Sizing (measured, see README): multilingual-e5-small reads 512 tokens; Dutch report text runs at
about 3.2 characters per token with its tokenizer, so 1,400 characters (~440 tokens, plus the
section line that is embedded with it) fits one window. NOTES.md measured 500-character chunks as
worse than 1,000 (lists get cut apart), so chunks fill up to the limit within a section.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from ingest.models import Block, BlockKind, Chunk

SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9‘'\"“(•])")
NO_SECTION = "Begin van het document"


@dataclass
class _Unit:
    text: str
    page_start: int
    page_end: int
    kind: BlockKind


@dataclass
class _Draft:
    section_path: list[str]
    units: list[_Unit] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(len(unit.text) + 1 for unit in self.units)


def split_sentences(text: str) -> list[str]:
    return [part for part in SENTENCE_END.split(text) if part.strip()]


def _split_long(unit: _Unit, max_chars: int) -> list[_Unit]:
    """Cut an over-long block at sentence ends (or, failing that, at spaces)."""
    if len(unit.text) <= max_chars:
        return [unit]
    pieces: list[str] = []
    current = ""
    for sentence in split_sentences(unit.text):
        if len(sentence) > max_chars and current:
            pieces.append(current)  # keep the text in order before cutting the long one
            current = ""
        while len(sentence) > max_chars:  # a "sentence" longer than a chunk: a table run together
            cut = sentence.rfind(" ", 0, max_chars)
            cut = cut if cut > max_chars // 2 else max_chars
            pieces.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if current and len(current) + 1 + len(sentence) > max_chars:
            pieces.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        pieces.append(current)
    return [_Unit(piece, unit.page_start, unit.page_end, unit.kind) for piece in pieces]


def _chunk_id(source_id: str, key: str, seen: dict[str, int]) -> str:
    """Deterministic id: source id + hash of the content (text, section, pages, metadata salt)."""
    digest = hashlib.sha256(f"{source_id}\x1f{key}".encode()).hexdigest()[:16]
    occurrence = seen.get(digest, 0)
    seen[digest] = occurrence + 1
    if occurrence:  # identical passages in one source (repeated captions) stay distinct and stable
        digest = hashlib.sha256(f"{digest}\x1f{occurrence}".encode()).hexdigest()[:16]
    return f"{source_id}:{digest}"


def build_chunks(source_id: str, blocks: list[Block], max_chars: int = 1400, salt: str = "") -> list[Chunk]:
    """Passages that never cross a section boundary and never exceed `max_chars` of text.

    `salt` goes into every id: metadata stored with the chunks (title, edition, ...) changes ids,
    so the indexing API re-writes those chunks instead of keeping stale metadata.
    """
    drafts: list[_Draft] = []
    current: _Draft | None = None
    for block in blocks:
        path = block.section_path or [NO_SECTION]
        if current is None or block.kind in (BlockKind.heading, BlockKind.box) or path != current.section_path:
            current = _Draft(section_path=path)
            drafts.append(current)
        current.units.append(_Unit(block.text, block.page_start, block.page_end, block.kind))

    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    for draft in drafts:
        # A heading with nothing under it before the next heading lives on in its children's paths.
        if all(unit.kind in (BlockKind.heading, BlockKind.box) for unit in draft.units):
            continue
        for units in _pack(draft.units, max_chars):
            text = "\n".join(unit.text for unit in units).strip()
            if not text:
                continue
            section = draft.section_path[-1]
            page_start = min(unit.page_start for unit in units)
            page_end = max(unit.page_end for unit in units)
            key = "\x1f".join([salt, " > ".join(draft.section_path), f"{page_start}-{page_end}", text])
            chunks.append(
                Chunk(
                    id=_chunk_id(source_id, key, seen),
                    source_id=source_id,
                    index=len(chunks),
                    page_start=page_start,
                    page_end=page_end,
                    section=section,
                    section_path=draft.section_path,
                    text=text,
                )
            )
    return chunks


def _pack(units: list[_Unit], max_chars: int) -> list[list[_Unit]]:
    """Greedy packing; a list that is cut keeps its lead-in sentence ("... bestaat uit:") in front."""
    pieces = [piece for unit in units for piece in _split_long(unit, max_chars)]
    packs: list[list[_Unit]] = []
    current: list[_Unit] = []
    size = 0
    lead_in: _Unit | None = None
    for piece in pieces:
        if piece.kind is not BlockKind.bullet:
            lead_in = piece if piece.text.rstrip().endswith(":") else None
        if current and size + len(piece.text) + 1 > max_chars:
            packs.append(current)
            current, size = [], 0
            carried = len(lead_in.text) + len(piece.text) + 2 if lead_in is not None else max_chars + 1
            if piece.kind is BlockKind.bullet and lead_in is not None and carried <= max_chars:
                current, size = [lead_in], len(lead_in.text) + 1
        current.append(piece)
        size += len(piece.text) + 1
    if current:
        packs.append(current)
    return packs
