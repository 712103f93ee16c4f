"""The index on disk: generations of (Chroma collection + BM25 + manifest), and a CURRENT pointer.

An ingest copies the current generation, changes the copy, checks it and only then moves CURRENT
(an atomic rename). A crash or an error at any point before that leaves CURRENT on the previous,
complete generation; the unfinished copy is swept up by the next ingest.

    DATA_DIR/index/CURRENT            name of the serving generation
    DATA_DIR/index/gen-<time>-<rand>/
        chroma/                       embedded Chroma (PersistentClient)
        records.sqlite                LangChain indexing API record manager
        bm25/                         bm25s index + ids.json
        serving/                      passages + sentence vectors as the assistant loads them, without
                                      a Chroma scan (ingest.serving; older generations: the scan)
        manifest.json                 written last: a generation without it is incomplete; it records
                                      the size and SHA-256 of every other file (checked on load)

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
import hashlib
import logging
import os
import secrets
import shutil
import sqlite3
import threading
import zipfile
from collections.abc import Collection, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import chromadb
import numpy as np
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import NotFoundError

from ingest.atomic import atomic_write, fsync_dir  # noqa: F401  (atomic_write: re-exported)
from ingest.lexical import LexicalIndex
from ingest.models import FileDigest, Manifest
from ingest.sentences import SentenceStore
from ingest.serving import SERVING_DIR, MappedSentences, ServingState, unit_rows
from ingest.terms import TERMS_FILE

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


NO_INDEX = "Er is nog geen index; draai eerst `marktwijzer ingest`."  # no path: callers show it to users


@dataclass(frozen=True)
class Damage:
    """One damaged file of a generation. `part` is what an ingest rebuilds: 'manifest.json', 'chroma',
    'bm25', 'sentences.npz', 'figures.jsonl', 'terms.json', 'records.sqlite' or 'serving'."""

    part: str
    file: str  # relative to the generation directory
    problem: str  # Dutch, for people

    def __str__(self) -> str:
        return f"{self.file} {self.problem}"


class IndexDamaged(IndexNotReady):
    """A generation is damaged (see `check_generation`). The message, in Dutch, names the generation and
    its damaged files relative to it: never an absolute path. An IndexNotReady: callers that handle
    "no index" handle this too."""

    code = "index_damaged"

    def __init__(self, generation: str, damage: list[Damage]) -> None:
        self.generation = generation
        self.damage = list(damage)
        problems = "; ".join(map(str, self.damage)) or "onbekend"
        super().__init__(
            f"De index (generatie {generation}) is beschadigd: {problems}. "
            "Draai `marktwijzer ingest` om hem te herstellen."
        )

    @property
    def parts(self) -> list[str]:
        return sorted({d.part for d in self.damage})


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
        """The manifest; `IndexDamaged` when it is missing, truncated or not a manifest."""
        try:
            return Manifest.model_validate_json(self.manifest_path.read_bytes())
        except FileNotFoundError:
            raise IndexDamaged(self.name, [Damage(MANIFEST_FILE, MANIFEST_FILE, "ontbreekt")]) from None
        except (OSError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
            raise IndexDamaged(self.name, [Damage(MANIFEST_FILE, MANIFEST_FILE, "is onleesbaar")]) from exc

    def is_complete(self) -> bool:
        return self.manifest_path.is_file()


def named_generation(index_dir: Path) -> Generation | None:
    """The generation CURRENT names, complete or not (None without CURRENT)."""
    pointer = index_dir / CURRENT_FILE
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return Generation(index_dir / name) if name and "/" not in name and name not in (".", "..") else None


def current_generation(index_dir: Path) -> Generation | None:
    """The generation CURRENT names if it is complete (cheap: called per question; its files are not
    verified here, see `check_generation`, and its manifest may still be unreadable: IndexDamaged)."""
    generation = named_generation(index_dir)
    return generation if generation is not None and generation.is_complete() else None


def older_complete_generations(index_dir: Path, than: Generation) -> list[Generation]:
    """Complete generations published before `than`, newest first (names sort by creation time). Newer
    ones are never offered: a complete generation newer than CURRENT was never published."""
    older = [p for p in index_dir.glob("gen-*") if p.is_dir() and p.name < than.name and (p / MANIFEST_FILE).is_file()]
    return [Generation(p) for p in sorted(older, key=lambda p: p.name, reverse=True)]


# -- integrity -----------------------------------------------------------------------------------
#
# The ingest records size and SHA-256 of every file it wrote (`digest_files`); loading compares them
# (`check_generation`). Cost measured on the shipped corpus (17.6 MB generation, 6.8 MB of it hashed,
# 2-core box): 35-45 ms, once per generation per process; then 0.5 ms (a stat of its files).
# Chroma's own files are the exception: Chroma rewrites chroma.sqlite3 (and the HNSW segment's
# length.bin) every time it opens a collection, even only to read (measured: a new SHA-256 after a
# read-only open and query), so their checksums could never match. For chroma.sqlite3 we check
# instead that its size matches the page count in its own header (a truncated file is shorter) and
# run SQLite's `PRAGMA quick_check` (13 ms); `open_generation` then compares the collection's count
# with the manifest. The HNSW segment files are not checked: Chroma rebuilds them from chroma.sqlite3
# (measured: with the segment deleted or truncated, queries still answer with the same neighbours).

CHROMA_SQLITE = "chroma/chroma.sqlite3"
UNHASHED_PREFIX = "chroma/"
REBUILT_PARTS = frozenset({"bm25", "sentences.npz", "figures.jsonl", "terms.json", "records.sqlite", SERVING_DIR})
SQLITE_HEADER = b"SQLite format 3\x00"


def _part(relative: str) -> str:
    return relative.split("/", 1)[0]


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:  # streamed: large files never sit in memory whole
        return hashlib.file_digest(handle, "sha256").hexdigest()


def digest_files(generation: Generation) -> dict[str, FileDigest]:
    """Size and SHA-256 of every file of the generation except the manifest (Chroma's files: size
    only, see above). Called after the ingest has closed Chroma and the record manager."""
    digests: dict[str, FileDigest] = {}
    for path in sorted(p for p in generation.root.rglob("*") if p.is_file()):
        relative = path.relative_to(generation.root).as_posix()
        if relative == MANIFEST_FILE or relative.endswith(".tmp"):
            continue
        if relative.startswith(UNHASHED_PREFIX) and relative != CHROMA_SQLITE:
            continue  # HNSW segment files: Chroma's cache of chroma.sqlite3
        hashed = not relative.startswith(UNHASHED_PREFIX)
        digests[relative] = FileDigest(size=path.stat().st_size, sha256=_sha256(path) if hashed else "")
    return digests


def _sqlite_problem(path: Path) -> str | None:
    """Why an SQLite file is damaged, or None. Cheap: the header, the size it implies, quick_check."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            header = handle.read(100)
    except FileNotFoundError:
        return "ontbreekt"
    if len(header) < 100 or not header.startswith(SQLITE_HEADER):
        return "is geen SQLite-database (meer)"
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    if header[24:28] == header[92:96] and size < pages * page_size:  # the header's page count is valid
        return f"is afgekapt ({size} van {pages * page_size} bytes)"
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)
        try:
            result = connection.execute("PRAGMA quick_check").fetchall()
        finally:
            connection.close()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return None  # a writer holds it right now: not damage
        return "is niet te openen"
    except sqlite3.DatabaseError:
        return "is beschadigd"
    return None if result == [("ok",)] else "is beschadigd (quick_check)"


def _find_damage(generation: Generation, chroma_url: str) -> list[Damage]:
    try:
        manifest = generation.read_manifest()
    except IndexDamaged as exc:
        return exc.damage
    damage: list[Damage] = []
    if manifest.files:
        # Server mode: the vectors live in the Chroma server (checked by count when opened), and a
        # replica without the shared disk's bm25/ rebuilds it from the collection (`lexical_for`).
        skip = ("chroma/", "bm25/") if chroma_url and not (generation.bm25_dir / "ids.json").exists() else ("chroma/",)
        for relative, digest in manifest.files.items():
            if chroma_url and relative.startswith(skip):
                continue
            path = generation.root / relative
            if relative == CHROMA_SQLITE:
                problem = _sqlite_problem(path)
            elif not path.is_file():
                # terms.json alone may be absent: the assistant computes the statistics from the passages
                # then (ingest.terms, as for generations built before it existed); truncated it is damage.
                problem = None if relative == TERMS_FILE else "ontbreekt"
            elif (size := path.stat().st_size) != digest.size:
                problem = f"is {size} bytes in plaats van {digest.size}"
            elif digest.sha256 and _sha256(path) != digest.sha256:
                problem = "heeft een andere controlesom dan bij het indexeren"
            else:
                problem = None
            if problem:
                damage.append(Damage(_part(relative), relative, problem))
        return damage
    # A generation from before checksums: what loading needs must at least be there and readable.
    if not chroma_url and (problem := _sqlite_problem(generation.root / CHROMA_SQLITE)):
        damage.append(Damage("chroma", CHROMA_SQLITE, problem))
    if not (generation.bm25_dir / "ids.json").is_file() and not chroma_url:
        damage.append(Damage("bm25", "bm25/ids.json", "ontbreekt"))
    return damage


def _signature(generation: Generation) -> tuple:
    """The state of a generation's files (names, sizes, mtimes) to tell whether a check still holds.
    chroma.sqlite3 counts by size only: Chroma touches it on every open."""
    entries = []
    try:
        for path in generation.root.rglob("*"):
            relative = path.relative_to(generation.root).as_posix()
            if relative.startswith(UNHASHED_PREFIX) and relative != CHROMA_SQLITE:
                continue
            with suppress(FileNotFoundError):
                stat = path.stat()
                entries.append((relative, stat.st_size, 0 if relative == CHROMA_SQLITE else stat.st_mtime_ns))
    except FileNotFoundError:
        pass
    return tuple(sorted(entries))


_checked: dict[str, tuple[tuple, list[Damage]]] = {}
_checked_lock = threading.Lock()


def check_generation(generation: Generation, chroma_url: str = "") -> list[Damage]:
    """The damaged files of a generation ([] = intact). Remembered per state of its files, so a
    damaged generation is checked and logged once, not on every request."""
    signature = _signature(generation)
    with _checked_lock:
        known = _checked.get(_key(generation, chroma_url))
    if known is not None and known[0] == signature:
        return list(known[1])
    damage = _find_damage(generation, chroma_url)
    if damage:
        log.warning("index generation %s is damaged: %s", generation.name, "; ".join(map(str, damage)))
    _remember(generation, chroma_url, damage, signature)
    return damage


def _key(generation: Generation, chroma_url: str) -> str:
    return f"{generation.root}\x1f{chroma_url}"  # server mode checks less (see _find_damage)


def _remember(generation: Generation, chroma_url: str, damage: list[Damage], signature: tuple | None = None) -> None:
    with _checked_lock:
        _checked[_key(generation, chroma_url)] = (signature or _signature(generation), list(damage))


def known_damage(generation: Generation, chroma_url: str = "") -> IndexDamaged | None:
    """What an earlier check in this process found wrong with `generation` while its files are unchanged
    (no hashing: for health checks that must stay cheap)."""
    with _checked_lock:
        known = _checked.get(_key(generation, chroma_url))
    if known is None or not known[1] or known[0] != _signature(generation):
        return None
    return IndexDamaged(generation.name, known[1])


def verify_generation(generation: Generation, chroma_url: str = "") -> Manifest:
    """The generation's manifest if its files are intact, else `IndexDamaged`."""
    damage = check_generation(generation, chroma_url)
    if damage:
        raise IndexDamaged(generation.name, damage)
    return generation.read_manifest()


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


def collect_garbage(index_dir: Path, keep: int, chroma_url: str = "", drop: Collection[str] = ()) -> list[str]:
    """Remove unfinished generations, the damaged ones in `drop`, and all but the `keep` newest complete
    ones (never CURRENT); in server mode their Chroma collections too."""
    current = current_generation(index_dir)
    generations = sorted((p for p in index_dir.glob("gen-*") if p.is_dir()), key=lambda p: p.name)
    complete = [p for p in generations if (p / MANIFEST_FILE).is_file() and p.name not in drop]
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
        raise IndexNotReady(NO_INDEX)
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
        try:
            system.stop()
        except Exception as exc:  # noqa: BLE001  (a system that failed half-way through opening a damaged file)
            log.debug("stopping the Chroma system of %s failed: %s", path.name, exc)


@dataclass
class IndexHandle:
    """A reader's view of one complete generation: Chroma collection, BM25 and manifest."""

    generation: Generation
    manifest: Manifest
    collection: chromadb.Collection
    lexical: LexicalIndex
    sentences: SentenceStore | MappedSentences
    _chunk_cache: dict[str, dict] = field(default_factory=dict)
    # Set when CURRENT was damaged and this handle is the older generation serving instead.
    skipped: IndexDamaged | None = None
    # serving/ of the generation (None: built before it existed; the assistant then scans Chroma).
    serving: ServingState | None = None
    _dense: tuple[list[str], np.ndarray] | None = None  # dense_table() of a generation without serving/

    def all_chunks(self) -> list[dict]:
        """Every chunk with id, document and metadata (small corpora: the whole collection)."""
        if not self._chunk_cache and self.serving is not None:  # the same records, without a Chroma scan
            self._chunk_cache.update((chunk["id"], chunk) for chunk in self.serving.chunks())
        if not self._chunk_cache:
            for got in self._pages(["documents", "metadatas"]):
                for chunk_id, document, metadata in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
                    self._chunk_cache[chunk_id] = {"id": chunk_id, "document": document, "metadata": metadata}
        return list(self._chunk_cache.values())

    def _pages(self, include: list[str]) -> Iterator[dict]:
        """The whole collection in pages: one get() of more than 32,766 ids fails in Chroma's SQLite
        ("too many SQL variables")."""
        offset = 0
        while True:
            got = self.collection.get(include=include, limit=CHUNK_PAGE, offset=offset)
            yield got
            if len(got["ids"]) < CHUNK_PAGE:
                return
            offset += CHUNK_PAGE

    def dense_table(self) -> tuple[list[str], np.ndarray]:
        """(ids, unit-length chunk vectors, row i for ids[i]) for exact dense search: serving/'s
        memory-mapped array, or for a generation without it the collection's embeddings, read once."""
        if self.serving is not None and self.serving.chunk_vectors is not None:
            return self.serving.ids, self.serving.chunk_vectors
        if self._dense is None:
            ids: list[str] = []
            parts: list[np.ndarray] = []
            for got in self._pages(["embeddings"]):
                ids.extend(got["ids"])
                if len(got["ids"]):
                    parts.append(np.asarray(got["embeddings"], dtype=np.float32))
            dim = self.manifest.embedding_dim or 0
            self._dense = (ids, unit_rows(np.vstack(parts)) if parts else np.zeros((0, dim), np.float32))
        return self._dense

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


def serving_enabled() -> bool:
    """MARKTWIJZER_SERVING_STATE=off loads through the Chroma scan even when serving/ exists: the
    benchmarks measure both load paths on one generation with it, and it helps to diagnose."""
    return os.environ.get("MARKTWIJZER_SERVING_STATE", "on").strip().lower() not in ("off", "0", "false", "no")


def open_generation(generation: Generation, chroma_url: str = "") -> IndexHandle:
    """A reader's handle on one generation, verified first; `IndexDamaged` when it is damaged."""
    manifest = verify_generation(generation, chroma_url)

    def damaged(part: str, file: str, problem: str) -> IndexDamaged:
        damage = [Damage(part, file, problem)]
        log.warning("index generation %s is damaged: %s", generation.name, damage[0])
        _remember(generation, chroma_url, damage)
        return IndexDamaged(generation.name, damage)

    from chromadb.api.client import SharedSystemClient

    already_open = str(generation.chroma_dir) in SharedSystemClient._identifier_to_system  # noqa: SLF001
    try:
        collection = chroma_for(chroma_url, generation).get_collection(collection_name(chroma_url, generation))
        count = collection.count()
    except Exception as exc:
        if chroma_url:
            raise  # a server that is down or lacks the collection is not damage on this disk
        if not already_open:
            release_chroma(generation.chroma_dir)
        raise damaged("chroma", "chroma", f"is niet te openen ({type(exc).__name__})") from exc
    expected = len(manifest.chunk_ids())
    if count != expected:
        if not already_open and not chroma_url:
            release_chroma(generation.chroma_dir)
        raise damaged("chroma", "chroma", f"bevat {count} passages, het manifest noemt er {expected}")
    try:
        lexical = lexical_for(generation, collection, rebuild_missing=bool(chroma_url))
    except (OSError, ValueError, KeyError) as exc:  # a generation without checksums: found only now
        raise damaged("bm25", "bm25", f"is niet te laden ({type(exc).__name__})") from exc
    try:
        serving = ServingState.open(generation.root) if serving_enabled() else None
    except (OSError, ValueError, KeyError, sqlite3.DatabaseError) as exc:  # a generation without checksums
        raise damaged(SERVING_DIR, SERVING_DIR, f"is niet te laden ({type(exc).__name__})") from exc
    if serving is not None and len(serving) != expected:
        raise damaged(SERVING_DIR, SERVING_DIR, f"bevat {len(serving)} passages, het manifest noemt er {expected}")
    if serving is not None:
        return IndexHandle(generation, manifest, collection, lexical, serving.sentences, serving=serving)
    log.info("generation %s has no serving state: loading the passages from the Chroma collection", generation.name)
    try:
        sentences = SentenceStore.load(generation.root, manifest.embedding_dim)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise damaged("sentences.npz", "sentences.npz", f"is niet te laden ({type(exc).__name__})") from exc
    return IndexHandle(generation, manifest, collection, lexical, sentences)


def open_index(index_dir: Path, chroma_url: str = "", allowed_sources: Collection[str] | None = None) -> IndexHandle:
    """The generation CURRENT names; if that one is damaged, the newest older complete generation that is
    intact (and, with `allowed_sources`, holds no other sources: a source withdrawn since must not
    answer again), with `skipped` set. `IndexDamaged` when none can serve."""
    generation = named_generation(index_dir)
    if generation is None or not generation.root.is_dir():
        raise IndexNotReady(NO_INDEX)
    try:
        return open_generation(generation, chroma_url)
    except IndexDamaged as damage:
        for older in older_complete_generations(index_dir, generation):
            if check_generation(older, chroma_url):
                continue
            if allowed_sources is not None and not set(older.read_manifest().sources) <= set(allowed_sources):
                log.warning("not serving older generation %s instead: it holds sources no longer approved", older.name)
                continue
            try:
                handle = open_generation(older, chroma_url)
            except IndexDamaged:
                continue
            handle.skipped = damage
            log.warning("answering from the older complete generation %s instead of %s until "
                        "`marktwijzer ingest` repairs it", older.name, generation.name)
            return handle
        raise
