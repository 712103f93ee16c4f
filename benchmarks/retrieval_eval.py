"""Retrieval quality of the index on evaluation sets (`make eval` until answers land):
hit@5 / MRR@10 of dense (e5 in Chroma), BM25 (bm25s, Dutch) and their reciprocal-rank fusion.

A hit: a top-k chunk contains a gold evidence passage (>= 80% of the evidence's word trigrams,
so an evidence sentence is found even when extraction changed a character or two).
"""

from __future__ import annotations

import ingest  # noqa: F401

import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from assistant.evaluate import contains_evidence
from assistant.retrieve import RRF_K
from ingest.embed import get_embedder
from ingest.settings import Settings
from ingest.store import IndexHandle, open_index


def rrf(rankings: list[list[str]], k: int = RRF_K) -> list[str]:
    scores: dict[str, float] = defaultdict(float)
    for ranking in rankings:
        for rank, chunk_id in enumerate(ranking):
            scores[chunk_id] += 1.0 / (k + rank + 1)
    return sorted(scores, key=lambda cid: -scores[cid])


def rankings(handle: IndexHandle, question: str, embedder, depth: int = 50) -> dict[str, list[str]]:  # noqa: ANN001
    vector = embedder.embed_query(question)
    dense = handle.collection.query(query_embeddings=[vector.tolist()], n_results=depth, include=[])["ids"][0]
    lexical = [cid for cid, _ in handle.lexical.top(question, depth)]
    return {"dense": dense, "bm25": lexical, "hybrid": rrf([dense, lexical])}


def evaluate(handle: IndexHandle, items: list[dict], embedder) -> dict:  # noqa: ANN001
    texts = {c["id"]: c["document"] for c in handle.all_chunks()}
    per_method: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    latencies = []
    for item in items:
        if item.get("type") == "unanswerable" or not item.get("evidence"):
            continue
        started = time.perf_counter()
        ranked = rankings(handle, item["question"], embedder)
        latencies.append((time.perf_counter() - started) * 1000)
        for method, ids in ranked.items():
            first = next((r for r, cid in enumerate(ids[:10]) if any(contains_evidence(texts[cid], e) for e in item["evidence"])), None)
            for key in ("all", item["type"]):
                per_method[method][key + ":hit@5"].append(float(first is not None and first < 5))
                per_method[method][key + ":mrr@10"].append(0.0 if first is None else 1.0 / (first + 1))
    summary = {method: {k: round(float(np.mean(v)), 3) for k, v in sorted(vals.items())} for method, vals in per_method.items()}
    summary["latency_ms"] = {"p50": round(float(np.percentile(latencies, 50)), 1), "p95": round(float(np.percentile(latencies, 95)), 1)}
    summary["questions"] = len(latencies)
    return summary


def main(paths: list[str]) -> None:
    settings = Settings()
    handle = open_index(settings.index_dir)
    embedder = get_embedder(settings.embedding, settings.embedding_threads)
    for path in paths:
        items = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
        result = evaluate(handle, items, embedder)
        print(f"# {path}: {result['questions']} answerable questions, retrieval latency {result['latency_ms']}")
        for method in ("dense", "bm25", "hybrid"):
            row = result[method]
            print(f"  {method:7s} hit@5 {row['all:hit@5']:.3f}  mrr@10 {row['all:mrr@10']:.3f}  " + "  ".join(
                f"{k.split(':')[0]} {v:.2f}" for k, v in row.items() if k.endswith("hit@5") and not k.startswith("all")))


if __name__ == "__main__":
    main(sys.argv[1:] or ["evals/dev.jsonl"])
