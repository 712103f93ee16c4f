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

Server mode (MARKTWIJZER_CHROMA_URL=http://host:port): the vectors of a generation live in the
Chroma server as the collection `chunks-<generation>` instead of in chroma/; everything else (BM25,
sentence vectors, figures, records, manifest, CURRENT) stays in the generation directory on
DATA_DIR, shared by the API replicas of one site. Every replica loads BM25 from the generation that
CURRENT names, so all of them rank with the same lexical index, and `Assistant.refresh` moves them
to a new generation on the next question. A replica that lacks bm25/ (no shared disk) rebuilds it
from the generation's collection documents (`lexical_for`), which gives the same ranking.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import chromadb
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import NotFoundError

from ingest.lexical import LexicalIndex
from ingest.models import Manifest
from ingest.sentences import SentenceStore

log = logging.getLogger(__name__)

CURRENT_FILE = "CURRENT"
CHUNK_PAGE = 10_000
COLLECTION = "chunks"
MANIFEST_FILE = "manifest.json"
LOCK_FILE = "ingest.lock"
COPY_BATCH = 256  # records per request when copying a collection through the server
# Server-mode collections search HNSW with a wide beam: on corpora up to ~1000 chunks that is an
# exact nearest-neighbour search, so the ranking does not depend on how the graph happened to be
# built (a collection copied or pushed to the server gets a different graph than the embedded one).
# Embedded collections keep Chroma's default (ef_search 100): see tests/test_chroma_server.py.
SERVER_SEARCH_EF = 1000
SERVER_CONFIGURATION = {"hnsw": {"space": "cosine", "ef_search": SERVER_SEARCH_EF}}


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


def new_generation(index_dir: Path, base: Generation | None, chroma_url: str = "") -> Generation:
    """A fresh working copy of `base` (or an empty one). In server mode the base's collection is
    copied server-side into the new generation's collection (no chroma/ directory)."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    generation = Generation(index_dir / f"gen-{stamp}-{secrets.token_hex(3)}")
    if base is not None:
        ignore = (MANIFEST_FILE, "chroma") if chroma_url else (MANIFEST_FILE,)
        shutil.copytree(base.root, generation.root, ignore=shutil.ignore_patterns(*ignore))
        if chroma_url:
            client = chroma_for(chroma_url, generation)
            copy_collection(
                client.get_collection(collection_name(chroma_url, base)),
                _fresh_collection(client, collection_name(chroma_url, generation)),
            )
    else:
        generation.root.mkdir(parents=True)
        if chroma_url:
            _fresh_collection(chroma_for(chroma_url, generation), collection_name(chroma_url, generation))
    return generation


def publish(index_dir: Path, generation: Generation, manifest: Manifest) -> None:
    """Write the manifest (marks the generation complete), then point CURRENT at it."""
    atomic_write(generation.manifest_path, manifest.model_dump_json(indent=1))
    atomic_write(index_dir / CURRENT_FILE, generation.name + "\n")
    log.info("index generation %s is now current", generation.name)


def collect_garbage(index_dir: Path, keep: int, chroma_url: str = "") -> list[str]:
    """Remove unfinished generations and all but the `keep` newest complete ones (never CURRENT);
    in server mode their Chroma collections too."""
    current = current_generation(index_dir)
    generations = sorted((p for p in index_dir.glob("gen-*") if p.is_dir()), key=lambda p: p.name)
    complete = [p for p in generations if (p / MANIFEST_FILE).is_file()]
    keep_names = {p.name for p in complete[-keep:]} | ({current.name} if current else set())
    removed = []
    for path in generations:
        if path.name not in keep_names:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    if chroma_url and removed:
        try:
            client = server_client(chroma_url)
            existing = {c.name for c in client.list_collections()}
            for name in removed:
                collection = f"{COLLECTION}-{name}"
                if collection in existing:
                    client.delete_collection(collection)
                    log.info("deleted Chroma collection %s", collection)
        except Exception as exc:  # noqa: BLE001  (the new generation is published; leftovers are harmless)
            log.warning("could not delete the Chroma collections of %s: %s", removed, exc)
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


def server_client(chroma_url: str) -> chromadb.ClientAPI:
    """An HttpClient for MARKTWIJZER_CHROMA_URL (http://host:port or https://host[:port])."""
    parts = urlsplit(chroma_url if "://" in chroma_url else f"http://{chroma_url}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"MARKTWIJZER_CHROMA_URL must look like http://host:port, not {chroma_url!r}")
    ssl = parts.scheme == "https"
    return chromadb.HttpClient(
        host=parts.hostname, port=parts.port or (443 if ssl else 8000), ssl=ssl,
        settings=ChromaSettings(anonymized_telemetry=False),
    )


def collection_name(chroma_url: str, generation: Generation) -> str:
    """Embedded: `chunks` inside the generation's chroma/; server: `chunks-<generation>`."""
    return f"{COLLECTION}-{generation.name}" if chroma_url else COLLECTION


def chroma_for(chroma_url: str, generation: Generation) -> chromadb.ClientAPI:
    """The one place that picks the Chroma client of a generation (embedded or server)."""
    return server_client(chroma_url) if chroma_url else chroma_client(generation.chroma_dir)


def _fresh_collection(client: chromadb.ClientAPI, name: str) -> chromadb.Collection:
    """An empty collection `name` (a leftover of an interrupted copy is replaced)."""
    with suppress(NotFoundError):  # does not exist: the normal case
        client.delete_collection(name)
    return client.create_collection(name, configuration=SERVER_CONFIGURATION, embedding_function=None)  # type: ignore[arg-type]


def copy_collection(source: chromadb.Collection, target: chromadb.Collection, batch: int = COPY_BATCH) -> int:
    """Copy every record (id, embedding, document, metadata) in batches, in the source's order."""
    copied, offset = 0, 0
    while True:
        got = source.get(include=["embeddings", "documents", "metadatas"], limit=batch, offset=offset)
        if not got["ids"]:
            return copied
        target.add(ids=got["ids"], embeddings=got["embeddings"], documents=got["documents"], metadatas=got["metadatas"])
        copied += len(got["ids"])
        offset += len(got["ids"])


def push_generation_to_server(index_dir: Path, chroma_url: str, generation: Generation | None = None) -> int:
    """Copy an embedded generation's collection (default: CURRENT) into the Chroma server as
    `chunks-<generation>`, so the same DATA_DIR serves in server mode without re-embedding.
    Returns the number of chunks copied. The local chroma/ directory is left in place."""
    generation = generation or current_generation(index_dir)
    if generation is None:
        raise IndexNotReady(f"no index in {index_dir}; run `marktwijzer ingest` first")
    client = server_client(chroma_url)
    with borrowed_chroma(generation.chroma_dir) as local:
        source = local.get_collection(COLLECTION)
        copied = copy_collection(source, _fresh_collection(client, collection_name(chroma_url, generation)))
    expected = len(generation.read_manifest().chunk_ids())
    if copied != expected:
        raise RuntimeError(f"pushed {copied} chunks, the manifest of {generation.name} lists {expected}")
    log.info("pushed %d chunks of %s to %s", copied, generation.name, chroma_url)
    return copied


@contextmanager
def borrowed_chroma(path: Path) -> Iterator[chromadb.ClientAPI]:
    """An embedded client for a read; released afterwards only if this call opened it (a system that
    an open index handle already uses must keep running: stopping it breaks every reader of it)."""
    from chromadb.api.client import SharedSystemClient

    already_open = str(path) in SharedSystemClient._identifier_to_system  # noqa: SLF001
    try:
        yield chroma_client(path)
    finally:
        if not already_open:
            release_chroma(path)


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
            # In pages: one get() of more than 32,766 ids fails in Chroma's SQLite ("too many SQL variables").
            offset = 0
            while True:
                got = self.collection.get(include=["documents", "metadatas"], limit=CHUNK_PAGE, offset=offset)
                for chunk_id, document, metadata in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
                    self._chunk_cache[chunk_id] = {"id": chunk_id, "document": document, "metadata": metadata}
                if len(got["ids"]) < CHUNK_PAGE:
                    break
                offset += CHUNK_PAGE
        return list(self._chunk_cache.values())

    def chunks_of(self, source_id: str) -> list[dict]:
        chunks = [c for c in self.all_chunks() if c["metadata"]["source_id"] == source_id]
        return sorted(chunks, key=lambda c: c["metadata"]["chunk_index"])


def lexical_for(generation: Generation, collection: chromadb.Collection, rebuild_missing: bool = True) -> LexicalIndex:
    """The generation's BM25 index: from bm25/ on the (shared) data disk, or, when a server-mode
    replica does not have it, rebuilt from the collection's documents exactly as the ingest built it
    (same ids in the same order, same texts: the same ranking)."""
    if not rebuild_missing or (generation.bm25_dir / "ids.json").is_file():
        return LexicalIndex.load(generation.bm25_dir)
    log.warning("no bm25/ in %s: rebuilding the lexical index from the Chroma collection", generation.name)
    got = collection.get(include=["documents"])
    return LexicalIndex.build(got["ids"], got["documents"])


def open_index(index_dir: Path, chroma_url: str = "") -> IndexHandle:
    generation = current_generation(index_dir)
    if generation is None:
        raise IndexNotReady(f"no index in {index_dir}; run `marktwijzer ingest` first")
    manifest = generation.read_manifest()
    collection = chroma_for(chroma_url, generation).get_collection(collection_name(chroma_url, generation))
    lexical = lexical_for(generation, collection, rebuild_missing=bool(chroma_url))
    sentences = SentenceStore.load(generation.root, manifest.embedding_dim)
    return IndexHandle(generation, manifest, collection, lexical, sentences)

