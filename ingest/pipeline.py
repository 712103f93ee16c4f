"""The ingest run: registry -> (load, clean, structure, chunk) per changed source -> new generation.

Unchanged sources (same file hash, same registry metadata, same pipeline and model) are not even
parsed. Changed sources go through LangChain's indexing API with a SQL record manager, which
embeds only chunks it has not stored before and deletes the source's stale ones. Withdrawn or
deleted sources are removed through the same record manager. Nothing touches the serving
generation: see ingest.store.

A damaged serving generation (ingest.store.check_generation) is repaired by this run: parts derived
from Chroma (BM25, figures, terms, sentence vectors, record manager) are rebuilt from the damaged
generation's own collection; a damaged collection or manifest makes the newest intact older
generation the base (only sources changed since are embedded), or, without one, a full rebuild.
`IngestReport.repaired` names the parts and the damaged generation is removed once the repair is
published.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import shutil
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from chromadb.errors import NotFoundError
from langchain_chroma import Chroma
from langchain_classic.indexes import SQLRecordManager
from langchain_core.documents import Document
from langchain_core.indexing import index as langchain_index

from ingest.chunk import build_chunks
from ingest.clean import clean_pages
from ingest.embed import Embedder, LangChainEmbeddings, embed_distinct, get_embedder, ingest_threads
from ingest.lexical import LexicalIndex
from ingest.loaders import LoadError, load_file
from ingest.models import Chunk, IndexedSource, IngestReport, Manifest, SourceFailure
from ingest import figures, terms
from ingest.infographic import pair_labels
from ingest.places import PlaceTable, PlaceTableError
from ingest.table_chunks import TABLE_META, build_table_chunks, read_ref, table_figures, table_meta
from ingest.registry import Registry, SourceEntry, duplicate_ids, load_registry
from ingest.sentences import FILE_NAME, SentenceStore, embeddable, split_passage
from ingest.serving import write_serving
from ingest.serving import is_complete as serving_complete
from ingest.settings import Settings
from ingest.store import (
    COLLECTION,
    REBUILT_PARTS,
    Damage,
    Generation,
    check_generation,
    chroma_for,
    collect_garbage,
    collection_name,
    digest_files,
    ingest_lock,
    named_generation,
    new_generation,
    older_complete_generations,
    publish,
    release_chroma,
)
from ingest.structure import build_blocks

log = logging.getLogger(__name__)

# Bump when cleaning, structure or chunking changes what a source turns into: forces a re-parse.
PIPELINE_VERSION = "2025.12.18b"

Progress = Callable[[str, int, int], None]  # (message, done, total)
PROGRESS_EVERY_S = 10.0  # a progress line in the log this often while embedding (no terminal: no bar)
# Sentences hold about 0.9 of their chunk's characters (measured on the shipped corpus: 163k of 178k
# tokens), so the ETA counts them before they are known; the estimate is replaced once they are.
SENTENCE_SHARE = 0.9


class IngestProgress:
    """Pages/s and ETA while the changed sources are embedded: a tqdm bar on a terminal, else a log
    line every PROGRESS_EVERY_S seconds. Embedding is nearly all of an ingest's time and costs about
    the same per character, so progress is counted in embedded characters (chunks, then sentences)
    and shown as pages: pages × characters done ÷ characters to do."""

    def __init__(self, pages: int, chunk_chars: int, every: float = PROGRESS_EVERY_S) -> None:
        self.pages = pages
        self.total = max(1, int(chunk_chars * (1 + SENTENCE_SHARE)))
        self._chunk_chars = chunk_chars
        self.done = 0
        self.every = every
        self.started = time.perf_counter()
        self._logged = self.started
        self._bar = None
        if pages and sys.stderr.isatty():
            from tqdm import tqdm  # pinned in requirements.txt

            self._bar = tqdm(total=pages, unit="p", desc="ingest", dynamic_ncols=True, leave=False)

    def sentences_known(self, chars: int) -> None:
        """The exact sentence characters, once the chunks are stored and split."""
        self.total = max(1, self._chunk_chars + chars, self.done)

    def advance(self, texts: list[str]) -> None:
        self.done = min(self.total, self.done + sum(map(len, texts)))
        pages_done = self.pages * self.done / self.total
        if self._bar is not None:
            self._bar.update(pages_done - self._bar.n)
        now = time.perf_counter()
        if now - self._logged >= self.every:
            self._logged = now
            log.info("%s", self.line(now))

    def line(self, now: float | None = None) -> str:
        elapsed = max(1e-9, (now or time.perf_counter()) - self.started)
        pages_done = self.pages * self.done / self.total
        rate = pages_done / elapsed
        eta = (self.pages - pages_done) / rate if rate > 0 else float("inf")
        eta_text = f"{int(eta // 60)}m{int(eta % 60):02d}s" if eta != float("inf") else "?"
        return f"ingest: {pages_done:.0f}/{self.pages} pages, {rate:.2f} pages/s, ETA {eta_text}"

    def close(self) -> None:
        self.done = self.total
        if self._bar is not None:
            self._bar.close()
        if self.pages:
            log.info("ingest: %d pages embedded in %.0f s (%.2f pages/s)", self.pages,
                     time.perf_counter() - self.started, self.pages / max(1e-9, time.perf_counter() - self.started))


class IngestError(RuntimeError):
    """The ingest as a whole could not run (the previous index keeps serving)."""


@dataclass
class ParsedSource:
    entry: SourceEntry
    sha256: str
    fingerprint: str
    pages: int
    chunks: list[Chunk]


def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


STORED_FIELDS = {"id", "title", "publisher", "edition", "type", "regions"}


def metadata_salt(entry: SourceEntry) -> str:
    """Hash of the registry fields stored with every chunk: only these force a re-embed."""
    fields = entry.model_dump(mode="json", include=STORED_FIELDS)
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]


def fingerprint(entry: SourceEntry, sha256: str, settings: Settings, embedder_name: str) -> str:
    parts = [sha256, metadata_salt(entry), PIPELINE_VERSION, str(settings.max_chunk_chars), embedder_name]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


def parse_source(entry: SourceEntry, settings: Settings, embedder_name: str) -> ParsedSource:
    """Load and cut one source. Raises LoadError with a message for the trainer."""
    path = settings.corpus_dir / entry.file
    if not path.is_file():
        raise LoadError(f"file not found: {entry.file} (in {settings.corpus_dir})")
    pages = load_file(path)
    sha256 = file_sha256(path.read_bytes())
    text_pages = [page for page in pages if page.kind != "table"]
    chunks: list[Chunk] = []
    if text_pages:
        blocks = build_blocks(pair_labels(clean_pages(text_pages)))
        chunks = build_chunks(entry.id, blocks, settings.max_chunk_chars, salt=metadata_salt(entry))
    tables = [table for page in pages for table in page.tables]
    chunks += build_table_chunks(entry.id, tables, entry.title, len(chunks), salt=metadata_salt(entry))
    if not chunks:
        raise LoadError("no text left after cleaning; nothing to index")
    return ParsedSource(entry, sha256, fingerprint(entry, sha256, settings, embedder_name), len(pages), chunks)


def embedding_text(entry: SourceEntry, chunk: Chunk) -> str:
    """What is embedded and BM25-indexed: title and section path give a passage its context."""
    return f"{entry.title}\n{chunk.section_path_text}\n{chunk.text}"


def to_document(entry: SourceEntry, chunk: Chunk) -> Document:
    content = embedding_text(entry, chunk)
    return Document(
        id=chunk.id,
        page_content=content,
        metadata={
            "chunk_id": chunk.id,
            "source_id": entry.id,
            "title": entry.title,
            "publisher": entry.publisher,
            "edition": entry.edition,
            "type": entry.type.value,
            "regions": "|".join(entry.regions),
            "page_start": chunk.page_start,
            "page_end": chunk.page_end,
            "section": chunk.section,
            "section_path": chunk.section_path_text,
            "chunk_index": chunk.index,
            "text_offset": len(content) - len(chunk.text),
            **({TABLE_META: table_meta(chunk)} if chunk.table is not None else {}),
        },
    )


def _chunk_key(document: Document) -> str:
    return str(document.metadata["chunk_id"])


def _registry_or_fail(settings: Settings) -> Registry:
    try:
        return load_registry(settings.registry_path)
    except ValueError as exc:
        raise IngestError(str(exc)) from exc


def run_ingest(settings: Settings, rebuild: bool = False, progress: Progress | None = None) -> IngestReport:
    """Bring the index in line with the approved sources (and repair a damaged one). See the module docstring."""
    started = time.perf_counter()
    notify = progress or (lambda message, done, total: None)
    registry = _registry_or_fail(settings)
    index_dir = settings.index_dir
    with ingest_lock(index_dir):
        embedder = get_embedder(settings.embedding, settings.embedding_threads)
        report = IngestReport()
        base, damage, drop = _base(index_dir, settings.chroma_url, rebuild)
        previous = base.read_manifest() if base else None
        if previous and (previous.embedding != embedder.name or previous.embedding_dim != embedder.dim):
            log.warning("embedding model changed (%s -> %s): rebuilding the index", previous.embedding, embedder.name)
            rebuild = True
        if rebuild:
            base, previous = None, None
        report.repaired = sorted({d.part for d in damage})
        stage = time.perf_counter()
        changed, removed = _plan(registry, settings, embedder.name, previous, report, notify)
        report.timings_s["parse"] = round(time.perf_counter() - stage, 3)
        # A generation from before checksums or before serving/ gets a new one that has them (nothing
        # is re-embedded).
        unchecked = previous is not None and not previous.files
        unserved = base is not None and not serving_complete(base.root)
        if not changed and not removed and base is not None and not damage and not unchecked and not unserved:
            report.chunks = sum(s.chunks for s in previous.sources.values()) if previous else 0
            report.generation = base.name
            report.seconds = round(time.perf_counter() - started, 3)
            return report  # nothing to do: the serving generation stays as it is
        try:
            generation = new_generation(index_dir, base, settings.chroma_url)
        except NotFoundError as exc:  # server mode: the serving generation's collection is gone
            raise IngestError(
                f"the Chroma server at {settings.chroma_url} has no collection for generation "
                f"{base.name if base else '?'}; restore it or run `marktwijzer ingest --rebuild`"
            ) from exc
        if base is not None and base.name in drop:  # building on the damaged generation itself
            _drop_damaged(generation, [d for d in damage if d.part in REBUILT_PARTS])
            if "sentences.npz" in report.repaired:
                _seed_sentences(index_dir, base, generation, settings.chroma_url)
        if changed or damage:  # something to embed: threads for the cores free now (vectors do not depend on them)
            embedder = get_embedder(settings.embedding, ingest_threads(settings.embedding_threads))
        try:
            manifest = _apply(
                generation, previous, changed, removed, embedder, report, notify, registry, settings.chroma_url,
                settings.corpus_dir,
            )
        finally:
            release_chroma(generation.chroma_dir)
        # Digests last: after Chroma and the record manager have closed their files.
        manifest.files = digest_files(generation)
        publish(index_dir, generation, manifest)
        if damage:
            log.warning("repaired %s of damaged generation %s in new generation %s",
                        ", ".join(report.repaired), next(iter(drop), "?"), generation.name)
        collect_garbage(index_dir, settings.keep_generations, settings.chroma_url, drop=drop)
        report.chunks = sum(s.chunks for s in manifest.sources.values())
        report.generation = generation.name
        report.seconds = round(time.perf_counter() - started, 3)
        return report


def _base(index_dir: Path, chroma_url: str, rebuild: bool) -> tuple[Generation | None, list[Damage], set[str]]:
    """The generation to build on, the damage of the serving one, and the damaged generations to remove.

    Intact CURRENT: itself. Damage only in parts rebuilt from Chroma: still itself (those parts are
    dropped from the copy and rebuilt). Damaged collection or manifest: the newest intact older
    generation, else None (full rebuild)."""
    current = named_generation(index_dir)
    if current is None:
        return None, [], set()  # never ingested (or CURRENT removed): build from scratch
    damage = check_generation(current, chroma_url)
    if not damage:
        return current, [], set()
    if rebuild or {d.part for d in damage} <= REBUILT_PARTS:
        return (None if rebuild else current), damage, {current.name}
    for older in older_complete_generations(index_dir, current):
        if not check_generation(older, chroma_url):
            log.warning("generation %s is damaged (%s): building on the older generation %s",
                        current.name, ", ".join(sorted({d.part for d in damage})), older.name)
            return older, damage, {current.name}
    log.warning("generation %s is damaged and no intact older one exists: rebuilding the index", current.name)
    return None, damage, {current.name}


def _seed_sentences(index_dir: Path, damaged: Generation, generation: Generation, chroma_url: str) -> None:
    """Start the rebuilt sentence vectors from an intact older generation's: chunk ids are hashes of
    their content, so a chunk both hold has the same sentences and vectors; only the rest is embedded."""
    embedding = damaged.read_manifest().embedding
    for older in older_complete_generations(index_dir, damaged):
        if (not check_generation(older, chroma_url) and (older.root / FILE_NAME).is_file()
                and older.read_manifest().embedding == embedding):
            shutil.copy2(older.root / FILE_NAME, generation.root / FILE_NAME)
            log.info("sentence vectors seeded from generation %s", older.name)
            return


def _drop_damaged(generation: Generation, damage: list[Damage]) -> None:
    """Remove the damaged parts from the working copy; `_apply` rebuilds them."""
    for part in sorted({d.part for d in damage}):
        path = generation.root / part
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def _plan(
    registry: Registry,
    settings: Settings,
    embedder_name: str,
    previous: Manifest | None,
    report: IngestReport,
    notify: Progress,
) -> tuple[list[ParsedSource], list[str]]:
    """Decide per source: unchanged, changed (parsed now), failed, or to be removed."""
    indexed = previous.sources if previous else {}
    duplicates = duplicate_ids(registry)
    approved = registry.approved()
    changed: list[ParsedSource] = []
    keep: set[str] = set()
    for done, entry in enumerate(approved):
        notify(f"lezen: {entry.id}", done, len(approved))
        if entry.id in duplicates:
            report.failed.append(SourceFailure(source_id=entry.id, error="duplicate id in the registry; give each source its own id"))
            keep.add(entry.id)
            continue
        path = settings.corpus_dir / entry.file
        old = indexed.get(entry.id)
        try:
            if old is not None and path.is_file():
                sha = file_sha256(path.read_bytes())
                if old.fingerprint == fingerprint(entry, sha, settings, embedder_name):
                    report.unchanged += 1
                    keep.add(entry.id)
                    continue
            changed.append(parse_source(entry, settings, embedder_name))
            keep.add(entry.id)
        except Exception as exc:  # one broken source must never stop the others
            message = str(exc) if isinstance(exc, (LoadError, OSError)) else f"unexpected error: {type(exc).__name__}: {exc}"
            if old is not None:
                message += " (the previously indexed version stays in the index)"
            report.failed.append(SourceFailure(source_id=entry.id, error=message))
            keep.add(entry.id)  # a broken new version never removes the working old one
            log.warning("source %s failed: %s", entry.id, message)
    notify("lezen klaar", len(approved), len(approved))
    removed = [source_id for source_id in indexed if source_id not in keep]
    return changed, removed


def _apply(
    generation: Generation,
    previous: Manifest | None,
    changed: list[ParsedSource],
    removed: list[str],
    embedder: Embedder,
    report: IngestReport,
    notify: Progress,
    registry: Registry,
    chroma_url: str = "",
    corpus_dir: Path | None = None,
) -> Manifest:
    """Write the changes into the working generation and return its manifest (not yet published)."""
    client = chroma_for(chroma_url, generation)
    progress = IngestProgress(sum(parsed.pages for parsed in changed),
                              sum(len(to_document(parsed.entry, chunk).page_content) for parsed in changed for chunk in parsed.chunks))
    embeddings = LangChainEmbeddings(embedder, on_batch=progress.advance)
    stage = time.perf_counter()
    store = Chroma(
        collection_name=collection_name(chroma_url, generation),
        embedding_function=embeddings,
        client=client,
        collection_metadata={"hnsw:space": "cosine"},
    )
    rebuild_records = previous is not None and not generation.records_path.is_file()
    records = SQLRecordManager(namespace=f"chroma/{COLLECTION}", db_url=f"sqlite:///{generation.records_path}")
    records.create_schema()
    if rebuild_records:  # damaged and dropped: the keys are the collection's ids, grouped by source
        existing = store.get(include=["metadatas"])
        if existing["ids"]:
            records.update(existing["ids"], group_ids=[str(m["source_id"]) for m in existing["metadatas"]])
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    sources = dict(previous.sources) if previous else {}

    for source_id in removed:
        keys = records.list_keys(group_ids=[source_id])
        if keys:
            store.delete(ids=keys)
            records.delete_keys(keys)
        sources.pop(source_id, None)
        report.removed += 1

    total = sum(len(parsed.chunks) for parsed in changed)
    done = 0
    for parsed in changed:
        notify(f"indexeren: {parsed.entry.id}", done, total)
        documents = [to_document(parsed.entry, chunk) for chunk in parsed.chunks]
        result = langchain_index(
            documents,
            records,
            store,
            cleanup="incremental",
            source_id_key="source_id",
            key_encoder=_chunk_key,
            batch_size=64,
        )
        report.embedded += result["num_added"] + result["num_updated"]
        if parsed.entry.id in sources:
            report.updated += 1
        else:
            report.added += 1
        sources[parsed.entry.id] = IndexedSource(
            id=parsed.entry.id,
            title=parsed.entry.title,
            sha256=parsed.sha256,
            fingerprint=parsed.fingerprint,
            pages=parsed.pages,
            chunks=len(parsed.chunks),
            chunk_ids=[chunk.id for chunk in parsed.chunks],
            indexed_at=now,
        )
        done += len(parsed.chunks)
    notify("indexeren klaar", total, total)
    report.timings_s["embed"] = round(embeddings.seconds, 3)
    report.timings_s["vector_store"] = round(time.perf_counter() - stage - embeddings.seconds, 3)

    records.engine.dispose()  # no open handle on records.sqlite when its digest is taken

    stored = store.get(include=["documents", "metadatas", "embeddings"])
    ids, texts = stored["ids"], stored["documents"]
    stage = time.perf_counter()
    final_ids = {chunk_id for source in sources.values() for chunk_id in source.chunk_ids}
    sentences = _update_sentences(generation, embedder, ids, texts, stored["metadatas"], final_ids, notify, progress)
    progress.close()
    report.timings_s["sentences"] = round(time.perf_counter() - stage, 3)

    stage = time.perf_counter()
    lexical = LexicalIndex.build(ids, texts)
    lexical.save(generation.bm25_dir)
    report.timings_s["lexical"] = round(time.perf_counter() - stage, 3)

    stage = time.perf_counter()
    _write_figures(generation, registry, ids, texts, stored["metadatas"], corpus_dir)
    report.timings_s["figures"] = round(time.perf_counter() - stage, 3)

    stage = time.perf_counter()  # what the assistant would otherwise tokenise at every load
    terms.save(terms.compute(t[int(m.get("text_offset", 0)):] for t, m in zip(texts, stored["metadatas"], strict=True)),
               generation.root)
    report.timings_s["terms"] = round(time.perf_counter() - stage, 3)

    stage = time.perf_counter()  # what the assistant loads at start, without scanning Chroma
    write_serving(generation.root, ids, texts, stored["metadatas"], sentences, np.asarray(stored["embeddings"]))
    report.timings_s["serving"] = round(time.perf_counter() - stage, 3)

    manifest = Manifest(
        generation=generation.name,
        created_at=now,
        embedding=embedder.name,
        embedding_dim=embedder.dim,
        pipeline_version=PIPELINE_VERSION,
        sources=sources,
    )
    expected = set(manifest.chunk_ids())
    if set(ids) != expected or len(ids) != len(expected):
        raise IngestError(
            f"index check failed: Chroma holds {len(ids)} chunks, the manifest lists {len(expected)}; "
            "the previous index stays in place"
        )
    return manifest


def _write_figures(
    generation: Generation, registry: Registry, ids: list[str], texts: list[str], metadatas: list[dict],
    corpus_dir: Path | None = None,
) -> None:
    """Every number in the index with what it measures, period, region and provenance (rebuilt from
    the stored chunks each ingest: cheap, and always consistent with them)."""
    entries = {entry.id: entry for entry in registry.sources}
    places = sorted({p for e in entries.values() for p in (*e.regions, *e.municipalities, *e.provinces)}, key=len, reverse=True)
    try:
        place_table: PlaceTable | None = PlaceTable.load(corpus_dir)
    except (PlaceTableError, OSError) as exc:  # the table rows still get figures, without region mapping
        log.warning("municipality/region table unreadable (%s): table rows get no region mapping", exc)
        place_table = None
    records = []
    for chunk_id, text, meta in zip(ids, texts, metadatas, strict=True):
        entry = entries.get(str(meta["source_id"]))
        own_region = entry.regions[0] if entry is not None and len(entry.regions) == 1 else None
        ref = read_ref(meta)
        if ref is not None:  # a table row: the cells say what they measure, no guessing from words
            records.extend(table_figures(chunk_id, ref, str(meta["source_id"]), int(meta.get("page_start", 1)),
                                         place_table, own_region))
            continue
        chunk_text = text[int(meta.get("text_offset", 0)) :]
        records.extend(figures.extract(
            chunk_id, chunk_text, str(meta.get("section", "")), str(meta["source_id"]),
            int(meta.get("page_start", 1)), places, own_region,
        ))
    figures.save(records, generation.root)


def _update_sentences(
    generation: Generation, embedder: Embedder, ids: list[str], texts: list[str], metadatas: list[dict],
    final_ids: set[str], notify: Progress, progress: IngestProgress | None = None,
) -> SentenceStore:
    """Embed the sentences of stored chunks that have none yet (new chunks; all of them when a damaged
    sentences.npz was dropped); drop those of chunks that are gone. A chunk's text and section come
    from the collection, exactly as the ingest stored them. Each distinct sentence is embedded once
    (`embed_distinct`: about a tenth of the shipped corpus's sentences repeat)."""
    try:
        store = SentenceStore.load(generation.root, embedder.dim)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        # Unreadable in a generation from before checksums (with them, check_generation finds it first).
        log.warning("sentence vectors unreadable (%s): embedding them again", type(exc).__name__)
        store = SentenceStore.empty(embedder.dim)
    have = store.chunk_set()
    new_ids: list[str] = []
    orders: list[int] = []
    new_texts: list[str] = []
    for chunk_id, text, meta in zip(ids, texts, metadatas, strict=True):
        if chunk_id in have or chunk_id not in final_ids:
            continue
        for span in split_passage(text[int(meta.get("text_offset", 0)):], str(meta.get("section", ""))):
            if embeddable(span):
                new_ids.append(chunk_id)
                orders.append(span.order)
                new_texts.append(span.text)
    distinct = len(set(new_texts))
    if progress is not None:
        progress.sentences_known(sum(map(len, set(new_texts))))
    done = 0

    def embedded(batch: list[str]) -> None:
        nonlocal done
        done += len(batch)
        notify("zinnen inbedden", done, distinct)
        if progress is not None:
            progress.advance(batch)

    notify("zinnen inbedden", 0, distinct)
    matrix = embed_distinct(embedder, new_texts, on_batch=embedded) if new_texts else np.zeros((0, embedder.dim), np.float32)
    store = store.updated(final_ids, new_ids, orders, matrix)
    store.save(generation.root)
    if not store.chunk_set() <= final_ids:
        raise IngestError("index check failed: sentence vectors of removed chunks remain")
    # As the assistant reads them back (float16 on disk), so serving/ holds exactly the loaded vectors.
    return SentenceStore.load(generation.root, embedder.dim)
