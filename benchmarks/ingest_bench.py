"""Ingest benchmark: the shipped corpus into a fresh data directory, in a child process so that
peak memory (ru_maxrss) belongs to the ingest alone."""

from __future__ import annotations

import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Issue 21's measurement of 8edbe52 on this kind of machine (2 cores, load ≈ 1.3), shown beside this run.
REFERENCE = "8edbe52 (issue 21): 317–350 s, 0.55 pages/s; chunk embeddings 188–216 s, sentence embeddings 125–136 s"

CHILD = r"""
import json, sys, time
import ingest
from ingest.settings import Settings
from ingest.pipeline import run_ingest
from ingest.store import open_index
from ingest.embed import get_embedder
settings = Settings(data_dir=sys.argv[1], corpus_dir=sys.argv[2], _env_file=None)
from ingest.embed import ingest_threads
threads = ingest_threads(settings.embedding_threads)  # what run_ingest will choose (same check)
started = time.perf_counter()
get_embedder(settings.embedding, settings.embedding_threads)
load_s = time.perf_counter() - started
first = run_ingest(settings)
second = run_ingest(settings)
handle = open_index(settings.index_dir)
embedder = get_embedder(settings.embedding, settings.embedding_threads)
chunks = handle.all_chunks()
sizes = [len(c["document"]) - c["metadata"]["text_offset"] for c in chunks]
tokens = [embedder.token_count(c["document"]) for c in chunks] if hasattr(embedder, "token_count") else []
pages = sum(s.pages for s in handle.manifest.sources.values())
print(json.dumps({"model_load_s": load_s, "embed_threads": threads, "first": first.model_dump(mode="json"),
                  "second": second.model_dump(mode="json"), "pages": pages, "chunk_chars": sizes,
                  "chunk_tokens": tokens, "generation": str(handle.generation.root)}))
"""


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _quantiles(values: list[int]) -> dict[str, int]:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"min": ordered[0], "p10": pick(0.1), "p25": pick(0.25), "p50": pick(0.5), "p75": pick(0.75),
            "p90": pick(0.9), "max": ordered[-1], "mean": round(statistics.mean(ordered))}


def run(keep_data: Path | None = None) -> dict:
    """Ingest into a fresh temporary data directory; `keep_data`: copy the built data directory
    there afterwards (the query, baseline and scaling benchmarks then use this fresh index)."""
    with tempfile.TemporaryDirectory(prefix="mw-bench-") as tmp:
        data, corpus = Path(tmp) / "data", Path(tmp) / "corpus"
        shutil.copytree(REPO / "corpus", corpus)
        child = subprocess.run([sys.executable, "-c", CHILD, str(data), str(corpus)], capture_output=True, text=True)
        if child.returncode != 0:
            raise RuntimeError(child.stderr[-2000:])
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        out = json.loads(child.stdout.strip().splitlines()[-1])
        first, second = out["first"], out["second"]
        generation = Path(out["generation"])
        chunks = first["chunks"]
        result = {
            "corpus": {"sources": first["added"], "pages": out["pages"], "chunks": chunks},
            "first_ingest_s": first["seconds"],
            "second_ingest_s": second["seconds"],
            "second_over_first": round(second["seconds"] / first["seconds"], 5),
            "second_embedded": second["embedded"],
            "pages_per_s": round(out["pages"] / first["seconds"], 2),
            "chunks_per_s": round(chunks / first["seconds"], 2),
            "stage_s": first["timings_s"],
            # Chunks and sentences are both embedded; sentence splitting itself takes milliseconds.
            "embedding_share": round(
                (first["timings_s"].get("embed", 0) + first["timings_s"].get("sentences", 0)) / first["seconds"], 3
            ),
            "model_load_s": round(out["model_load_s"], 3),
            "embed_threads": out.get("embed_threads"),
            "peak_rss_mb": round(peak_kb / 1024, 1),
            "index_mb": round(_dir_bytes(generation) / 1e6, 2),
            "index_parts_mb": {p.name: round(_dir_bytes(p) / 1e6 if p.is_dir() else p.stat().st_size / 1e6, 2)
                               for p in generation.iterdir()},
            "chunk_chars": _quantiles(out["chunk_chars"]),
            "chunk_tokens": _quantiles(out["chunk_tokens"]) if out["chunk_tokens"] else {},
            "chunks_over_512_tokens": sum(t > 512 for t in out["chunk_tokens"]),
        }
        if keep_data is not None:
            shutil.rmtree(keep_data, ignore_errors=True)
            shutil.copytree(data, keep_data)
    return result


def markdown(result: dict) -> str:
    c = result["corpus"]
    lines = [
        "## Ingest (shipped corpus, fresh data directory)",
        "",
        "| measure | value |", "|---|---|",
        f"| sources / pages / chunks | {c['sources']} / {c['pages']} / {c['chunks']} |",
        f"| first ingest | {result['first_ingest_s']:.1f} s (before: {REFERENCE}) |",
        f"| pages/s · chunks/s | {result['pages_per_s']} · {result['chunks_per_s']} |",
        f"| embedder threads chosen (cores free at the start) | {result.get('embed_threads', '?')} |",
        f"| embedding share of the time (chunks + sentences) | {result['embedding_share']:.0%} |",
        f"| stages (s) | {', '.join(f'{k} {v:.1f}' for k, v in result['stage_s'].items())} |",
        f"| second ingest (nothing changed) | {result['second_ingest_s']:.3f} s ({result['second_over_first']:.2%} of first), {result['second_embedded']} embedded |",
        f"| peak RSS of the ingest process | {result['peak_rss_mb']} MB |",
        f"| index on disk | {result['index_mb']} MB ({', '.join(f'{k} {v}' for k, v in result['index_parts_mb'].items())}) |",
        f"| chunk chars min/p10/p50/p90/max | {'/'.join(str(result['chunk_chars'][k]) for k in ('min','p10','p50','p90','max'))} |",
    ]
    if result["chunk_tokens"]:
        t = result["chunk_tokens"]
        lines.append(f"| embedded tokens p50/p90/max (> 512: {result['chunks_over_512_tokens']}) | {t['p50']}/{t['p90']}/{t['max']} |")
    return "\n".join(lines) + "\n"
