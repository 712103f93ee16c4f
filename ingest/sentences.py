"""Sentences of a passage, and their embeddings (stored per index generation).

The assistant answers with whole sentences of passages; which sentence answers best is decided
partly by e5 similarity to the question, so every usable sentence is embedded once at ingest
(~70 sentences/s here) instead of at question time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9‘'\"“(€•])")
# Dutch abbreviations that end in a dot without ending the sentence (answers and questions are split
# with them: assistant/verify.py, assistant/question.py).
ABBREVIATIONS = frozenset({
    "o.a", "bijv", "bv", "ca", "mln", "mld", "mrd", "t.o.v", "m.b.t", "i.v.m", "d.w.z", "enz", "etc",
    "nr", "blz", "p", "pag", "par", "hfst", "art", "afb", "fig", "dhr", "mevr", "mw", "drs", "dr", "ir",
    "ing", "prof", "e.d", "e.a", "resp", "incl", "excl", "vgl", "jl", "z.g.a.n", "zgn", "m.n", "a.s",
    "prov", "evt", "gem", "max", "min",
})


def abbreviation_before(text: str, dot: int) -> bool:
    """The dot at `dot` ends an abbreviation ("t.o.v.", "prov."), not a sentence."""
    if text[dot] != ".":
        return False
    word = re.search(r"([\w.]+)$", text[:dot])
    return word is not None and word.group(1).lower() in ABBREVIATIONS
BULLET_LINE = re.compile(r"^(?:•|\d{1,2}[.)]\s)")
CAPTION_LINE = re.compile(r"^(Afbeelding|Figuur|Tabel|Grafiek|Kaart)\s+\d", re.IGNORECASE)
SOURCE_LINE = re.compile(r"^(Bron|Bronnen)\s*:", re.IGNORECASE)
MIN_EMBED_CHARS = 20
FILE_NAME = "sentences.npz"


@dataclass(frozen=True)
class SentenceSpan:
    order: int
    kind: str  # "heading", "sentence", "bullet", "caption", "source_line"
    text: str


def split_passage(text: str, section: str) -> list[SentenceSpan]:
    """A passage's units in order: its heading line, sentences, list items, captions, 'Bron:' lines."""
    spans: list[SentenceSpan] = []
    for line_no, line in enumerate(text.split("\n")):
        line = line.strip()
        if not line:
            continue
        if line_no == 0 and line == section:
            parts = [("heading", line)]
        elif BULLET_LINE.match(line):
            parts = [("bullet", line)]
        elif CAPTION_LINE.match(line) and not line.endswith("."):
            parts = [("caption", line)]
        elif SOURCE_LINE.match(line):
            parts = [("source_line", line)]
        else:
            parts = [("sentence", s.strip()) for s in SENTENCE_END.split(line) if s.strip()]
        for kind, part in parts:
            spans.append(SentenceSpan(len(spans), kind, part))
    return spans


def embeddable(span: SentenceSpan) -> bool:
    return span.kind != "heading" and len(span.text) >= MIN_EMBED_CHARS


class SentenceStore:
    """Sentence vectors keyed by (chunk id, order); float16 on disk, one .npz per generation."""

    def __init__(self, chunk_ids: list[str], orders: np.ndarray, vectors: np.ndarray) -> None:
        self.chunk_ids = chunk_ids
        self.orders = orders.astype(np.int32)
        self.vectors = vectors.astype(np.float32)
        self._rows: dict[str, list[int]] = {}
        for row, chunk_id in enumerate(chunk_ids):
            self._rows.setdefault(chunk_id, []).append(row)

    @classmethod
    def empty(cls, dim: int) -> SentenceStore:
        return cls([], np.zeros(0, dtype=np.int32), np.zeros((0, dim), dtype=np.float32))

    @classmethod
    def load(cls, directory: Path, dim: int) -> SentenceStore:
        path = directory / FILE_NAME
        if not path.is_file():
            return cls.empty(dim)
        with np.load(path, allow_pickle=False) as data:
            return cls([str(c) for c in data["chunk_ids"]], data["orders"], data["vectors"])

    def save(self, directory: Path) -> None:
        path = directory / FILE_NAME
        with open(path, "wb") as handle:
            np.savez(handle, chunk_ids=np.array(self.chunk_ids, dtype=str), orders=self.orders,
                     vectors=self.vectors.astype(np.float16))

    def has(self, chunk_id: str) -> bool:
        return chunk_id in self._rows

    def of(self, chunk_id: str) -> dict[int, np.ndarray]:
        return {int(self.orders[row]): self.vectors[row] for row in self._rows.get(chunk_id, [])}

    def chunk_set(self) -> set[str]:
        return set(self._rows)

    def updated(self, keep: set[str], new_ids: list[str], new_orders: list[int], new_vectors: np.ndarray) -> SentenceStore:
        """A store holding the rows of `keep` chunks plus the new rows."""
        rows = [row for row, chunk_id in enumerate(self.chunk_ids) if chunk_id in keep]
        dim = self.vectors.shape[1] if self.vectors.ndim == 2 and self.vectors.shape[1] else new_vectors.shape[1]
        kept_vectors = self.vectors[rows] if rows else np.zeros((0, dim), dtype=np.float32)
        vectors = np.vstack([kept_vectors, new_vectors.reshape(-1, dim)]) if len(new_ids) else kept_vectors
        return SentenceStore(
            [self.chunk_ids[row] for row in rows] + list(new_ids),
            np.concatenate([self.orders[rows], np.asarray(new_orders, dtype=np.int32)]),
            vectors,
        )
