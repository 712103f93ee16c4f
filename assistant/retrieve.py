"""Hybrid retrieval: dense e5 (Chroma) + Dutch BM25, reciprocal-rank fusion, region boost, diversity.

Measured on evals/dev.jsonl before any boosting (benchmarks/retrieval_eval.py): hit@5 dense 0.88,
BM25 0.77, fused 0.90 on the answerable questions.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import BaseModel, ConfigDict, Field

from assistant.question import Intent, QuestionAnalysis
from ingest.embed import Embedder
from ingest.models import TableRef
from ingest.table_chunks import read_ref
from ingest.serving import ServingState
from ingest.store import IndexHandle

RRF_K = 60
CANDIDATES = 60
OVERFETCH = 5  # filtered dense search: unfiltered neighbours fetched per wanted candidate
# Passages kept built from serving/ (a question touches about 120 candidates; the rest is read again
# in microseconds), so a long-running process does not end up holding every passage of a large index.
PASSAGE_CACHE = 16_384


class Filters(BaseModel):
    """Metadata filters an adviser or a tool can set."""

    model_config = ConfigDict(extra="forbid")

    sources: list[str] = Field(default_factory=list, description="Only these source ids.")
    types: list[str] = Field(default_factory=list, description="Only these source types.")
    region: str | None = Field(None, description="Only sources that cover this arbeidsmarktregio.")


@dataclass
class Passage:
    chunk_id: str
    source_id: str
    title: str
    publisher: str
    edition: str
    source_type: str
    page_start: int
    page_end: int
    section: str
    section_path: str
    text: str
    chunk_index: int
    score: float = 0.0
    ranks: dict[str, int] = field(default_factory=dict)
    table: TableRef | None = None  # a table row's passage: table, row, column per sentence


def _passage(chunk: dict[str, Any]) -> Passage:
    meta = chunk["metadata"]
    return Passage(
        chunk_id=chunk["id"],
        source_id=meta["source_id"],
        title=meta["title"],
        publisher=meta["publisher"],
        edition=meta["edition"],
        source_type=meta["type"],
        page_start=int(meta["page_start"]),
        page_end=int(meta["page_end"]),
        section=meta["section"],
        section_path=meta["section_path"],
        text=chunk["document"][int(meta["text_offset"]):],
        chunk_index=int(meta["chunk_index"]),
        table=read_ref(meta),
    )


class ServedPassages(Mapping[str, Passage]):
    """chunk id -> Passage read from a generation's serving/ table when first asked for: loading a
    large index then reads only the ids (ingest.serving). The same Passage objects as `_passage` makes
    of the Chroma records, in the same order."""

    def __init__(self, serving: ServingState, cache: int = PASSAGE_CACHE) -> None:
        self._serving = serving
        self._get = lru_cache(maxsize=cache)(self._build)  # thread-safe; a race builds one twice, equal

    def _build(self, chunk_id: str) -> Passage:
        chunk = self._serving.chunk(chunk_id)
        if chunk is None:
            raise KeyError(chunk_id)
        return _passage(chunk)

    def __getitem__(self, chunk_id: str) -> Passage:
        return self._get(chunk_id)

    def __contains__(self, chunk_id: object) -> bool:
        return chunk_id in self._serving.row_of

    def __iter__(self) -> Iterator[str]:
        return iter(self._serving.ids)

    def __len__(self) -> int:
        return len(self._serving)

    def values(self) -> list[Passage]:  # type: ignore[override]  (one table scan, not a read per id)
        return [_passage(chunk) for chunk in self._serving.chunks()]

    def items(self) -> list[tuple[str, Passage]]:  # type: ignore[override]
        return [(p.chunk_id, p) for p in self.values()]


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + 3]) for i in range(max(1, len(words) - 2))}


class HybridRetriever:
    """Search over one index generation. Construct once per generation; `search` is thread-safe."""

    def __init__(self, handle: IndexHandle, embedder: Embedder, region_sources: dict[str, set[str]]) -> None:
        self.handle = handle
        self.embedder = embedder
        self.region_sources = {name.lower(): ids for name, ids in region_sources.items()}
        self.passages: Mapping[str, Passage]
        if handle.serving is not None:  # no Chroma scan: ids now, each passage when first needed
            self.passages = ServedPassages(handle.serving)
            self._source_of: Mapping[str, str] = handle.serving.source_of
            self._source_types: dict[str, str] = dict(handle.serving.source_types)
        else:  # a generation from before serving/: every record out of Chroma
            self.passages = {chunk["id"]: _passage(chunk) for chunk in handle.all_chunks()}
            self._source_of = {cid: p.source_id for cid, p in self.passages.items()}
            self._source_types = {p.source_id: p.source_type for p in self.passages.values()}
        self._row_of = {chunk_id: row for row, chunk_id in enumerate(handle.lexical.ids)}
        self._shingles: dict[str, set[tuple[str, ...]]] = {}
        self._dense: tuple[list[str], np.ndarray] | None = None  # read on the first search
        self._row_sources: np.ndarray | None = None

    def allowed_sources(self, filters: Filters | None) -> set[str] | None:
        if filters is None or not (filters.sources or filters.types or filters.region):
            return None
        # From the per-source table built at load, not a pass over every passage per question.
        allowed = set(self._source_types)
        if filters.sources:
            allowed &= set(filters.sources)
        if filters.types:
            allowed &= {source for source, kind in self._source_types.items() if kind in filters.types}
        if filters.region:
            allowed &= self.region_sources.get(filters.region.lower(), set())
        return allowed

    def dense(self, query: str, allowed: set[str] | None, n: int = CANDIDATES, vector: np.ndarray | None = None) -> list[str]:
        vector = self.embedder.embed_query(query) if vector is None else vector
        if allowed is not None and not allowed:
            return []
        total = len(self.passages)
        if total == 0:
            return []  # every source withdrawn: nothing to search (Chroma refuses n_results=0)
        if allowed is None:
            return self._nearest(vector, min(n, total))
        # A source filter: over-fetch without it and filter here. Chroma's `where` pre-filters by
        # metadata first: a few ms per query at 700 chunks, ~0.3 s at 70,000 (benchmarks/scaling_bench.py); the `where`
        # query remains for filters too narrow to fill n among the unfiltered neighbours.
        fetch = min(OVERFETCH * n, total)
        kept = [cid for cid in self._nearest(vector, fetch) if self._source_of[cid] in allowed][:n]
        if len(kept) >= n or fetch == total:  # the same candidates the `where` query would give
            return kept
        where = {"source_id": {"$in": sorted(allowed)}}
        return self._nearest(vector, min(n, total), where)

    def _nearest(self, vector: np.ndarray, count: int, where: dict[str, Any] | None = None) -> list[str]:
        """The `count` chunks nearest to `vector` by cosine, exactly, over the stored chunk vectors
        (ties by row): the same neighbours in every process. Chroma's approximate HNSW query gave a
        different top 60 in each new process for one query vector, so answers changed between runs."""
        ids, vectors = self._dense_table()
        if not ids or count <= 0:
            return []
        query = vector.astype(np.float32, copy=False)
        norm = float(np.linalg.norm(query))
        scores = np.asarray(vectors @ (query / norm if norm > 0 else query), dtype=np.float32)
        if where is not None:  # {"source_id": {"$in": [...]}}, the only filter the retriever uses
            allowed = set(where["source_id"]["$in"])
            scores = np.where(self._source_mask(ids, allowed), scores, -np.inf)
        count = min(count, len(ids))
        top = np.argpartition(-scores, count - 1)[:count] if count < len(ids) else np.arange(len(ids))
        top = top[np.lexsort((top, -scores[top]))]  # best first; equal scores by row
        return [ids[i] for i in top if scores[i] != -np.inf]

    def _dense_table(self) -> tuple[list[str], np.ndarray]:
        if self._dense is None:
            self._dense = self.handle.dense_table()
        return self._dense

    def _source_mask(self, ids: list[str], allowed: set[str]) -> np.ndarray:
        if self._row_sources is None:
            self._row_sources = np.asarray([self._source_of[cid] for cid in ids], dtype=object)
        return np.isin(self._row_sources, list(allowed))

    def lexical(self, query: str, allowed: set[str] | None, n: int = CANDIDATES) -> list[str]:
        scores = self.handle.lexical.scores(query)
        if not len(scores):
            return []
        order = np.argsort(-scores)
        ids = self.handle.lexical.ids
        ranked = []
        for row in order:
            if scores[row] <= 0 or len(ranked) >= n:
                break
            if allowed is None or self._source_of[ids[row]] in allowed:
                ranked.append(ids[row])
        return ranked

    def search(
        self,
        query: str,
        analysis: QuestionAnalysis | None = None,
        k: int = 8,
        filters: Filters | None = None,
        vector: np.ndarray | None = None,
    ) -> list[Passage]:
        allowed = self.allowed_sources(filters)
        rankings = {"dense": self.dense(query, allowed, vector=vector), "bm25": self.lexical(query, allowed)}
        fused: dict[str, float] = defaultdict(float)
        ranks: dict[str, dict[str, int]] = defaultdict(dict)
        for name, ranking in rankings.items():
            for rank, chunk_id in enumerate(ranking):
                fused[chunk_id] += 1.0 / (RRF_K + rank + 1)
                ranks[chunk_id][name] = rank + 1
        if analysis is not None:
            self._boost_regions(fused, analysis)
        ordered = sorted(fused, key=lambda cid: -fused[cid])
        chosen = self._diverse(ordered, k, analysis)
        top = fused[chosen[0]] if chosen else 1.0
        out = []
        for chunk_id in chosen:
            passage = self.passages[chunk_id]
            out.append(
                Passage(**{**passage.__dict__, "score": round(fused[chunk_id] / top, 4), "ranks": ranks[chunk_id]})
            )
        return out

    def _boost_regions(self, fused: dict[str, float], analysis: QuestionAnalysis) -> None:
        """Sources covering the asked place go up; Regio in Beeld reports of other regions go down."""
        wanted = analysis.sources_for_places
        if not wanted:
            return
        for chunk_id in fused:
            passage = self.passages[chunk_id]
            if passage.source_id in wanted:
                fused[chunk_id] *= 1.5
            elif passage.source_type == "regio-in-beeld":
                fused[chunk_id] *= 0.5

    def _diverse(self, ordered: list[str], k: int, analysis: QuestionAnalysis | None) -> list[str]:
        """Skip near-duplicates; for comparisons across places, interleave the places' sources."""
        groups: list[set[str]] = []
        if analysis is not None and analysis.intent is Intent.comparison:
            groups = [set(p.covered_by) for p in analysis.places if p.covered_by]
        # Interleaving places needs a deeper pool; otherwise the first k distinct passages are the answer
        # (the pairwise near-duplicate check is the costly part of fusion, so stop as soon as we can).
        limit = 3 * k if len(groups) >= 2 else k
        chosen: list[str] = []
        for chunk_id in ordered:
            shingles = self._shingles.get(chunk_id)
            if shingles is None:  # computed once per passage (setdefault would rebuild it every call)
                shingles = self._shingles[chunk_id] = _shingles(self.passages[chunk_id].text)
            if any(_near_duplicate(shingles, self._shingles[other]) for other in chosen):
                continue
            chosen.append(chunk_id)
            if len(chosen) >= limit:
                break
        if len(groups) >= 2:
            chosen = _interleave(chosen, groups, self.passages)
        return chosen[:k]


NEAR_DUPLICATE = 0.6  # Jaccard of word 3-shingles above which a passage repeats one already chosen


def _near_duplicate(a: set, b: set) -> bool:
    """Jaccard(a, b) > NEAR_DUPLICATE, without building the union; sets whose sizes differ too much
    cannot reach it (Jaccard <= min/max), so most pairs cost one comparison."""
    if not a or not b:
        return False
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    if len(small) <= NEAR_DUPLICATE * len(large):
        return False
    common = len(small & large)
    return common > NEAR_DUPLICATE * (len(a) + len(b) - common)


def _interleave(chosen: list[str], groups: list[set[str]], passages: dict[str, Passage]) -> list[str]:
    """Round-robin over the compared places (each place's best first), then the rest in order."""
    queues = [[cid for cid in chosen if passages[cid].source_id in group] for group in groups]
    result: list[str] = []
    while any(queues):
        for queue in queues:
            while queue and queue[0] in result:
                queue.pop(0)
            if queue:
                result.append(queue.pop(0))
    return result + [cid for cid in chosen if cid not in result]


class MarktwijzerRetriever(BaseRetriever):
    """The hybrid retriever as a LangChain retriever (for chains and tools built on LangChain)."""

    retriever: Any
    k: int = 5
    filters: Filters | None = None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None,
        filters: Filters | None = None,
    ) -> list[Document]:
        """`invoke(query, k=1)` / `invoke(query, filters=...)` override the retriever's own `k` and `filters`
        for one call (LangChain's standard retriever interface)."""
        passages = self.retriever.search(query, k=self.k if k is None else k,
                                         filters=self.filters if filters is None else filters)
        return [
            Document(
                id=p.chunk_id,
                page_content=p.text,
                metadata={
                    "source_id": p.source_id, "title": p.title, "publisher": p.publisher, "edition": p.edition,
                    "page_start": p.page_start, "page_end": p.page_end, "section": p.section, "score": p.score,
                },
            )
            for p in passages
        ]
