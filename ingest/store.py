"""The index on disk: generations of (Chroma collection + BM25 + manifest), and a CURRENT pointer.

An ingest copies the current generation, changes the copy, checks it and only then moves CURRENT
(an atomic rename). A crash or an error at any point before that leaves CURRENT on the previous,
complete generation; the unfinished copy is swept up by the next ingest.

    DATA_DIR/index/CURRENT            name of the serving generation
    DATA_DIR/index/gen-<time>-<rand>/
        chroma/                       embedded Chroma (PersistentClient)
        records.sqlite                LangChain indexing API record manager
        bm25/                         bm25s index + ids.json
        manifest.json                 written last: a generation without it is incomplete
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import chromadb
from chromadb.config import Settings as ChromaSettings

from ingest.lexical import LexicalIndex
from ingest.models import Manifest
from ingest.sentences import SentenceStore

log = logging.getLogger(__name__)

CURRENT_FILE = "CURRENT"
COLLECTION = "chunks"
MANIFEST_FILE = "manifest.json"
LOCK_FILE = "ingest.lock"


class IndexNotReady(RuntimeError):
    """No complete index generation exists yet (run `marktwijzer ingest`)."""


class IngestLocked(RuntimeError):
    """Another ingest holds the lock."""


@dataclass(frozen=True)
class Generation:
    root: Path

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def chroma_dir(self) -> Path:
        return self.root / "chroma"

    @property
    def records_path(self) -> Path:
        return self.root / "records.sqlite"

    @property
    def bm25_dir(self) -> Path:
        return self.root / "bm25"

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST_FILE

    def read_manifest(self) -> Manifest:
        return Manifest.model_validate_json(self.manifest_path.read_text(encoding="utf-8"))

    def is_complete(self) -> bool:
        return self.manifest_path.is_file()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def current_generation(index_dir: Path) -> Generation | None:
    pointer = index_dir / CURRENT_FILE
    if not pointer.is_file():
        return None
    generation = Generation(index_dir / pointer.read_text(encoding="utf-8").strip())
    return generation if generation.is_complete() else None


def new_generation(index_dir: Path, base: Generation | None) -> Generation:
    """A fresh working copy of `base` (or an empty one)."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    generation = Generation(index_dir / f"gen-{stamp}-{secrets.token_hex(3)}")
    if base is not None:
        shutil.copytree(base.root, generation.root, ignore=shutil.ignore_patterns(MANIFEST_FILE))
    else:
        generation.root.mkdir(parents=True)
    return generation


def publish(index_dir: Path, generation: Generation, manifest: Manifest) -> None:
    """Write the manifest (marks the generation complete), then point CURRENT at it."""
    atomic_write(generation.manifest_path, manifest.model_dump_json(indent=1))
    atomic_write(index_dir / CURRENT_FILE, generation.name + "\n")
    log.info("index generation %s is now current", generation.name)


def collect_garbage(index_dir: Path, keep: int) -> list[str]:
    """Remove unfinished generations and all but the `keep` newest complete ones (never CURRENT)."""
    current = current_generation(index_dir)
    generations = sorted((p for p in index_dir.glob("gen-*") if p.is_dir()), key=lambda p: p.name)
    complete = [p for p in generations if (p / MANIFEST_FILE).is_file()]
    keep_names = {p.name for p in complete[-keep:]} | ({current.name} if current else set())
    removed = []
    for path in generations:
        if path.name not in keep_names:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed


@contextmanager
def ingest_lock(index_dir: Path) -> Iterator[None]:
    """One ingest at a time per data directory (advisory lock, released if the process dies)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / LOCK_FILE, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise IngestLocked(f"another ingest is running on {index_dir}") from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def chroma_client(path: Path) -> chromadb.ClientAPI:
    return chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))


def release_chroma(path: Path) -> None:
    """Drop chromadb's per-path cached system, so the directory can be copied or removed safely."""
    from chromadb.api.client import SharedSystemClient

    identifier = str(path)
    system = SharedSystemClient._identifier_to_system.pop(identifier, None)  # noqa: SLF001
    if system is not None:
        system.stop()


@dataclass
class IndexHandle:
    """A reader's view of one complete generation: Chroma collection, BM25 and manifest."""

    generation: Generation
    manifest: Manifest
    collection: chromadb.Collection
    lexical: LexicalIndex
    sentences: SentenceStore
    _chunk_cache: dict[str, dict] = field(default_factory=dict)

    def all_chunks(self) -> list[dict]:
        """Every chunk with id, document and metadata (small corpora: the whole collection)."""
        if not self._chunk_cache:
            got = self.collection.get(include=["documents", "metadatas"])
            for chunk_id, document, metadata in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
                self._chunk_cache[chunk_id] = {"id": chunk_id, "document": document, "metadata": metadata}
        return list(self._chunk_cache.values())

    def chunks_of(self, source_id: str) -> list[dict]:
        chunks = [c for c in self.all_chunks() if c["metadata"]["source_id"] == source_id]
        return sorted(chunks, key=lambda c: c["metadata"]["chunk_index"])


def open_index(index_dir: Path) -> IndexHandle:
    generation = current_generation(index_dir)
    if generation is None:
        raise IndexNotReady(f"no index in {index_dir}; run `marktwijzer ingest` first")
    manifest = generation.read_manifest()
    collection = chroma_client(generation.chroma_dir).get_collection(COLLECTION)
    lexical = LexicalIndex.load(generation.bm25_dir)
    sentences = SentenceStore.load(generation.root, manifest.embedding_dim)
    return IndexHandle(generation, manifest, collection, lexical, sentences)

