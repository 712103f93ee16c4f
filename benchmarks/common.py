"""Shared helpers of the query, baseline and scaling benchmarks: the retrieval path the assistant
runs, evidence hits, percentiles, process memory and machine load."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

import ingest  # noqa: F401  (offline environment first)
from assistant.evaluate import contains_evidence, load_items

REPO = Path(__file__).resolve().parent.parent
DEV_SET = REPO / "evals" / "dev.jsonl"
HIT_K = 5


def dev_items(path: Path = DEV_SET, limit: int | None = None) -> list[dict[str, Any]]:
    items = load_items(path)
    return items[:limit] if limit else items


def answerable(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Items with gold evidence (what hit@k is defined on)."""
    return [i for i in items if i.get("type") != "unanswerable" and i.get("evidence")]


def retrieve(assistant: Any, question: str, k: int = HIT_K) -> list[Any]:
    """The retrieval stage of `Assistant.ask`, as it runs there: question analysis, one query
    embedding, hybrid search (dense + BM25, fusion, region boost, diversity), the per-place searches
    of comparisons and the named-source boost; the first `k` passages."""
    from assistant.answer import RETRIEVE_K

    analysis = assistant.analyzer.analyze(question)
    vector = assistant.retriever.embedder.embed_query(analysis.dense_text)
    passages = assistant.retriever.search(analysis.retrieval_text, analysis, k=max(k, RETRIEVE_K), vector=vector)
    passages = assistant._add_per_place(passages, analysis, None, vector)
    assistant._boost_named_sources(passages, analysis)
    return passages[:k]


def hit_rank(texts: list[str], evidence: list[str]) -> int | None:
    """0-based rank of the first text that contains a gold evidence passage, or None."""
    return next((r for r, text in enumerate(texts) if any(contains_evidence(text, e) for e in evidence)), None)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    out = fn()
    return out, (time.perf_counter() - started) * 1000


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 2) if values else float("nan")


def stats(values: list[float]) -> dict[str, float]:
    return {"p50": pct(values, 50), "p95": pct(values, 95), "mean": round(float(np.mean(values)), 2) if values else float("nan"),
            "max": round(float(max(values)), 2) if values else float("nan"), "n": len(values)}


def memory_mb() -> dict[str, float]:
    """Resident set size now and its peak (VmHWM) of this process, from /proc, in MB."""
    out: dict[str, float] = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out["rss_mb" if key == "VmRSS" else "peak_rss_mb"] = round(int(value.split()[0]) / 1024, 1)
    except OSError:  # not Linux: peak only
        import resource

        out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def child_env(data_dir: Path | None = None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if data_dir is not None:
        env["MARKTWIJZER_DATA_DIR"] = str(data_dir)
        env["MARKTWIJZER_CORPUS_DIR"] = str(REPO / "corpus")
    return env


def stop_process_group(process: subprocess.Popen, grace: float = 20.0) -> None:
    """Stop a server started with `start_new_session=True` and everything it started (an ingest child):
    SIGTERM to its process group, SIGKILL after `grace` seconds. Nothing else is signalled."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def served_settings(data_dir: Path | None, corpus_dir: Path | None) -> Any:
    """Settings of a load benchmark's server, exiting with one line when there is no index yet."""
    import sys

    from ingest.settings import Settings

    overrides = {k: v for k, v in {"data_dir": data_dir, "corpus_dir": corpus_dir}.items() if v}
    settings = Settings(**overrides)
    if not (settings.index_dir / "CURRENT").exists():
        sys.exit(f"no index in {settings.data_dir}: run `marktwijzer ingest` (or `make ingest`) first")
    return settings


def write_result(result: dict[str, Any], path: Path, text: str) -> None:
    """The benchmark's JSON at `path` and its Markdown beside it; the Markdown is also printed."""
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1), encoding="utf-8")
    path.with_suffix(".md").write_text(text, encoding="utf-8")
    print(text)  # noqa: T201  (a command-line report)

