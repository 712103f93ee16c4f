"""The serving state of a generation: what the assistant reads at start, written at ingest so that
loading needs no scan of the Chroma collection.

    serving/passages.sqlite        one row per chunk, in the collection's order: id, source id and type,
                                   the stored document and its metadata exactly as Chroma returns them
                                   (JSON), and the chunk's rows in the sentence arrays
    serving/sentence_vectors.npy   the sentence vectors of sentences.npz (float16, as stored there),
                                   grouped per chunk; memory-mapped, never read whole
    serving/sentence_orders.npy    the sentence order of each row (int32)
    serving/chunk_vectors.npy      the chunk embeddings, unit length, float32, in the table's row order:
                                   dense retrieval is an exact search over them (Chroma's HNSW query
                                   returned a different top 60 in each new process for one query vector)

Loading reads the ids, source ids and sentence spans (about 0.1 s at 70,000 chunks); a passage is read
when it is first asked for. Everything here is derived from the collection and sentences.npz, so the
Chroma path (`IndexHandle.all_chunks`, `SentenceStore`) gives the same passages and the same vectors,
bit for bit (tests/test_serving_state.py): the vectors stay float16 on disk and become float32 when
read, as `SentenceStore` does, and the metadata goes through JSON unchanged (ints, strings, bools).
A generation without serving/ (built before it existed) is loaded through the Chroma scan.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ingest.sentences import SentenceStore

log = logging.getLogger(__name__)

SERVING_DIR = "serving"
PASSAGES_FILE = "passages.sqlite"
VECTORS_FILE = "sentence_vectors.npy"
ORDERS_FILE = "sentence_orders.npy"
CHUNK_VECTORS_FILE = "chunk_vectors.npy"
SCHEMA = (
    "CREATE TABLE chunks (row INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, source_id TEXT NOT NULL, "
    "type TEXT NOT NULL, document TEXT NOT NULL, metadata TEXT NOT NULL, "
    "sentence_start INTEGER NOT NULL, sentence_end INTEGER NOT NULL)"
)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """float32 rows scaled to unit length (a zero row stays zero): a dot product is then the cosine."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True) if vectors.ndim == 2 else np.ones((0, 1), np.float32)
    return vectors / np.where(norms > 0, norms, 1.0)


def is_complete(root: Path) -> bool:
    """serving/ holds every file this version writes (older ones lack the chunk vectors)."""
    directory = root / SERVING_DIR
    return all((directory / name).is_file() for name in (PASSAGES_FILE, VECTORS_FILE, ORDERS_FILE, CHUNK_VECTORS_FILE))


def write_serving(
    root: Path, ids: list[str], documents: list[str], metadatas: list[dict[str, Any]], sentences: SentenceStore,
    chunk_vectors: np.ndarray,
) -> Path:
    """Write serving/ into a generation directory (before its manifest: the digests cover it).
    `chunk_vectors`: the collection's embeddings, row i for ids[i]."""
    directory = root / SERVING_DIR
    directory.mkdir(exist_ok=True)
    if len(chunk_vectors) != len(ids):
        raise ValueError(f"{len(chunk_vectors)} chunk vectors for {len(ids)} chunks")
    np.save(directory / CHUNK_VECTORS_FILE, unit_rows(chunk_vectors), allow_pickle=False)
    # Sentence rows grouped per chunk, keeping their order within a chunk (what SentenceStore.of returns).
    rows_of: dict[str, list[int]] = {}
    for row, chunk_id in enumerate(sentences.chunk_ids):
        rows_of.setdefault(chunk_id, []).append(row)
    order: list[int] = []
    spans: list[tuple[int, int]] = []
    for chunk_id in ids:
        start = len(order)
        order.extend(rows_of.get(chunk_id, []))
        spans.append((start, len(order)))
    dim = sentences.vectors.shape[1] if sentences.vectors.ndim == 2 else 0
    # float16 exactly as sentences.npz holds them: the Chroma path reads those, so the scores agree.
    vectors = sentences.vectors[order].astype(np.float16) if order else np.zeros((0, dim), np.float16)
    np.save(directory / VECTORS_FILE, vectors, allow_pickle=False)
    np.save(directory / ORDERS_FILE, sentences.orders[order].astype(np.int32), allow_pickle=False)

    path = directory / PASSAGES_FILE
    path.unlink(missing_ok=True)
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=OFF")  # written once, whole, before publishing
        connection.execute(SCHEMA)
        connection.executemany(
            "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (row, chunk_id, str(meta["source_id"]), str(meta["type"]), document,
                 json.dumps(meta, ensure_ascii=False, separators=(",", ":")), start, end)
                for row, (chunk_id, document, meta, (start, end)) in enumerate(zip(ids, documents, metadatas, spans, strict=True))
            ),
        )
        connection.commit()
    finally:
        connection.close()
    return directory


class MappedSentences:
    """Sentence vectors of a generation from serving/, memory-mapped: `of` as `SentenceStore.of`."""

    def __init__(self, vectors: np.ndarray, orders: np.ndarray, spans: dict[str, tuple[int, int]]) -> None:
        self.vectors = vectors  # float16 memmap
        self.orders = orders
        self._spans = spans

    def of(self, chunk_id: str) -> dict[int, np.ndarray]:
        start, end = self._spans.get(chunk_id, (0, 0))
        if start == end:
            return {}
        block = np.asarray(self.vectors[start:end], dtype=np.float32)  # as SentenceStore: float16 -> float32
        return {int(o): block[i] for i, o in enumerate(self.orders[start:end])}

    def has(self, chunk_id: str) -> bool:
        start, end = self._spans.get(chunk_id, (0, 0))
        return end > start

    def chunk_set(self) -> set[str]:
        return {chunk_id for chunk_id, (start, end) in self._spans.items() if end > start}

    def __len__(self) -> int:
        return int(self.orders.shape[0])


class ServingState:
    """A reader of serving/: ids in the collection's order, source of each, and chunk rows on demand.
    Thread-safe (one read-only connection behind a lock: a point read takes microseconds)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        # immutable=1: the file never changes after publishing, so SQLite takes no locks and writes nothing.
        self._connection = sqlite3.connect(f"file:{directory / PASSAGES_FILE}?mode=ro&immutable=1", uri=True,
                                           check_same_thread=False)
        self._lock = threading.Lock()
        rows = self._connection.execute(
            "SELECT id, source_id, type, sentence_start, sentence_end FROM chunks ORDER BY row").fetchall()
        self.ids: list[str] = [r[0] for r in rows]
        self.row_of: dict[str, int] = {chunk_id: row for row, chunk_id in enumerate(self.ids)}
        self.source_of: dict[str, str] = {}
        self.source_types: dict[str, str] = {}
        spans: dict[str, tuple[int, int]] = {}
        for chunk_id, source_id, source_type, start, end in rows:
            self.source_of[chunk_id] = sys.intern(source_id)  # a few sources, many chunks: one string each
            self.source_types.setdefault(source_id, source_type)
            if end > start:
                spans[chunk_id] = (start, end)
        vectors = np.load(directory / VECTORS_FILE, mmap_mode="r", allow_pickle=False)
        orders = np.load(directory / ORDERS_FILE, allow_pickle=False)
        if vectors.shape[0] != orders.shape[0] or any(end > orders.shape[0] for _, end in spans.values()):
            raise ValueError("serving/ sentence arrays do not match the passage table")
        self.sentences = MappedSentences(vectors, orders, spans)
        chunk_file = directory / CHUNK_VECTORS_FILE
        # memory-mapped: pages are read by the first searches, not at load
        self.chunk_vectors = np.load(chunk_file, mmap_mode="r", allow_pickle=False) if chunk_file.is_file() else None
        if self.chunk_vectors is not None and self.chunk_vectors.shape[0] != len(self.ids):
            raise ValueError("serving/ chunk vectors do not match the passage table")

    @classmethod
    def open(cls, root: Path) -> ServingState | None:
        """The generation's serving state, or None when it has none (built before it existed)."""
        directory = root / SERVING_DIR
        return cls(directory) if (directory / PASSAGES_FILE).is_file() else None

    def __len__(self) -> int:
        return len(self.ids)

    def chunk(self, chunk_id: str) -> dict[str, Any] | None:
        """{"id", "document", "metadata"} as `IndexHandle.all_chunks` gives it, or None."""
        row = self.row_of.get(chunk_id)
        if row is None:
            return None
        with self._lock:
            document, metadata = self._connection.execute(
                "SELECT document, metadata FROM chunks WHERE row = ?", (row,)).fetchone()
        return {"id": chunk_id, "document": document, "metadata": json.loads(metadata)}

    def chunks(self) -> Iterator[dict[str, Any]]:
        """Every chunk in the collection's order (one scan of the table; nothing is kept)."""
        with self._lock:
            rows = self._connection.execute("SELECT id, document, metadata FROM chunks ORDER BY row").fetchall()
        for chunk_id, document, metadata in rows:
            yield {"id": chunk_id, "document": document, "metadata": json.loads(metadata)}

    def close(self) -> None:
        with self._lock:
            self._connection.close()
