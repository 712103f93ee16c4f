"""Query benchmark: retrieval-only and full-answer latency over the dev set, the embed-plus-search
floor in the same run, cold start (process start to first answer) and memory when serving.

- retrieval: `common.retrieve` (question analysis, query embedding, hybrid search with fusion,
  region boost and diversity, per-place searches, named-source boost), top 5.
- full answer: `Assistant.ask` (retrieval + answerability + sentence selection + computed figures +
  number audit), extractive (no language model).
- floor: one `embed_query` of the question plus one Chroma nearest-neighbour query with that
  vector, k=5, nothing else: no answer path can be faster than this on this machine.

Per question the three are timed back to back (so load on the machine hits them alike); every pass
goes over all questions; pass 1 sees each question for the first time (per-process passage caches
of compose are cold for its passages), later passes repeat them. Reported over all passes and
for pass 1 alone. Warm-up first: five questions of evals/own.jsonl.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import ingest  # noqa: F401  (offline environment first)
from assistant.evaluate import score_item
from benchmarks.common import (
    REPO,
    answerable,
    child_env,
    dev_items,
    hit_rank,
    memory_mb,
    retrieve,
    stats,
    timed,
)
from ingest.settings import Settings

WARMUP_SET = REPO / "evals" / "own.jsonl"

# A fresh interpreter: imports, assistant load (index, embedder, registry), first answer, then the
# whole dev set, like a server that has answered for a while; memory from /proc after each step.
SERVE_CHILD = r"""
import time
t0 = time.perf_counter()
import ingest, json, sys
from benchmarks.common import memory_mb, dev_items
from ingest.settings import Settings
from assistant.answer import get_assistant
t1 = time.perf_counter()
mem_imports = memory_mb()
assistant = get_assistant(Settings())
t2 = time.perf_counter()
mem_loaded = memory_mb()
items = dev_items(limit=int(sys.argv[1]) or None)
assistant.ask(items[0]["question"])
t3 = time.perf_counter()
mem_first = memory_mb()
for item in items:
    assistant.ask(item["question"])
mem_served = memory_mb()
print(json.dumps({"imports_s": t1 - t0, "load_s": t2 - t1, "first_answer_s": t3 - t2, "in_process_s": t3 - t0,
                  "mem_after_imports": mem_imports, "mem_loaded": mem_loaded, "mem_after_first": mem_first,
                  "mem_serving": mem_served, "questions_served": len(items) + 1}))
"""

COLD_QUESTION = "Hoeveel vacatures stonden er open in regio Amersfoort?"


def _cli() -> list[str]:
    exe = Path(sys.executable).parent / "marktwijzer"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("marktwijzer")
    return [found] if found else [sys.executable, "-m", "assistant.cli"]


def cold_start(data_dir: Path, runs: int = 3) -> dict[str, Any]:
    """Wall time of `marktwijzer ask --json QUESTION` in a fresh process (disk cache warm)."""
    walls: list[float] = []
    refused = None
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.run([*_cli(), "ask", "--json", COLD_QUESTION], capture_output=True, text=True,
                              env=child_env(data_dir), cwd=REPO, timeout=300)
        walls.append(time.perf_counter() - started)
        if proc.returncode != 0:
            raise RuntimeError(f"marktwijzer ask failed ({proc.returncode}): {proc.stderr[-1500:]}")
        refused = json.loads(proc.stdout)["refused"]
    return {"command": "marktwijzer ask --json " + json.dumps(COLD_QUESTION, ensure_ascii=False), "runs": runs,
            "wall_s": [round(w, 2) for w in walls], "median_s": round(statistics.median(walls), 2),
            "min_s": round(min(walls), 2), "answer_refused": refused}


def serving(data_dir: Path, limit: int = 0) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", SERVE_CHILD, str(limit)], capture_output=True, text=True,
                          env=child_env(data_dir), cwd=REPO, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"serving child failed: {proc.stderr[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in out.items()}


def latency(assistant: Any, items: list[dict[str, Any]], passes: int = 3) -> dict[str, Any]:
    embedder = assistant.retriever.embedder
    retriever = assistant.retriever

    def floor(question: str) -> None:  # one query embedding + one (exact) dense search
        vector = embedder.embed_query(question)
        retriever._nearest(vector, 5)

    for item in dev_items(WARMUP_SET, limit=5):
        assistant.ask(item["question"])
    samples: dict[str, list[float]] = {"floor": [], "retrieval": [], "answer": []}
    first: dict[str, list[float]] = {"floor": [], "retrieval": [], "answer": []}
    stages: dict[str, list[float]] = {"retrieve": [], "compose": []}
    refused = 0
    hits: list[bool] = []
    for n in range(passes):
        for item in items:
            question = item["question"]
            _, f = timed(lambda: floor(question))  # noqa: B023
            _, r = timed(lambda: retrieve(assistant, question))  # noqa: B023
            answer, a = timed(lambda: assistant.ask(question))  # noqa: B023
            for key, value in (("floor", f), ("retrieval", r), ("answer", a)):
                samples[key].append(value)
                if n == 0:
                    first[key].append(value)
            for key in stages:
                if key in answer.timings_ms:
                    stages[key].append(answer.timings_ms[key])
            if n == 0:
                refused += answer.refused
                score = score_item(item, answer, a)
                if score.hit_at_5 is not None:
                    hits.append(score.hit_at_5)
    result = {name: stats(values) for name, values in samples.items()}
    result["pass1"] = {name: stats(values) for name, values in first.items()}
    result["answer_stages_ms"] = {k: stats(v) for k, v in stages.items() if v}
    result["answer_over_floor_p50"] = round(result["answer"]["p50"] / result["floor"]["p50"], 2)
    result["retrieval_over_floor_p50"] = round(result["retrieval"]["p50"] / result["floor"]["p50"], 2)
    result["questions"] = len(items)
    result["passes"] = passes
    result["refused_of_questions"] = refused
    result["answer_citation_hit@5"] = round(sum(hits) / len(hits), 3) if hits else None
    return result


def retrieval_hits(assistant: Any, items: list[dict[str, Any]]) -> float:
    good = [hit_rank([p.text for p in retrieve(assistant, i["question"])], i["evidence"]) is not None for i in answerable(items)]
    return round(sum(good) / len(good), 3)


def run(data_dir: Path, passes: int = 3, limit: int | None = None, cold_runs: int = 3) -> dict[str, Any]:
    from assistant.answer import get_assistant

    settings = Settings(data_dir=data_dir, corpus_dir=REPO / "corpus", _env_file=None)
    assistant = get_assistant(settings)
    items = dev_items(limit=limit)
    result = {"latency_ms": latency(assistant, items, passes), "memory_bench_process": memory_mb()}
    result["cold_start"] = cold_start(data_dir, cold_runs)
    result["serving"] = serving(data_dir, limit or 0)
    return result


def markdown(result: dict[str, Any]) -> str:
    lat = result["latency_ms"]
    p1 = lat["pass1"]
    cold, serve = result["cold_start"], result["serving"]
    lines = [
        f"## Query ({lat['questions']} dev questions × {lat['passes']} passes, extractive answers)",
        "",
        "| ms | p50 | p95 | mean | max | pass 1 p50 | pass 1 p95 |", "|---|---|---|---|---|---|---|",
    ]
    names = {"floor": "floor: embed query + exact dense search k=5", "retrieval": "retrieval (analysis + hybrid search, top 5)",
             "answer": "full answer (`Assistant.ask`)"}
    for key, label in names.items():
        s, f = lat[key], p1[key]
        lines.append(f"| {label} | {s['p50']:.1f} | {s['p95']:.1f} | {s['mean']:.1f} | {s['max']:.1f} | {f['p50']:.1f} | {f['p95']:.1f} |")
    stages = lat.get("answer_stages_ms", {})
    lines += [
        "",
        f"- **full answer p50 ÷ floor p50 = {lat['answer_over_floor_p50']}** (target ≤ 3; issue 21: ≤ 1.3, 8edbe52: 1.57); retrieval p50 ÷ floor p50 = "
        f"{lat['retrieval_over_floor_p50']}.",
        "- inside `ask` (its own timings): " + ", ".join(f"{k} p50 {v['p50']:.1f} / p95 {v['p95']:.1f} ms" for k, v in stages.items()) + ".",
        f"- answers refused: {lat['refused_of_questions']} of {lat['questions']}; citations hit@5 of the answers: {lat['answer_citation_hit@5']}.",
        f"- cold start (`{cold['command']}`, fresh process to printed answer, disk cache warm): median "
        f"**{cold['median_s']} s** (runs: {', '.join(str(w) for w in cold['wall_s'])} s). In-process split: imports "
        f"{serve['imports_s']:.2f} s, loading index + model + registry {serve['load_s']:.2f} s, first answer {serve['first_answer_s']:.2f} s.",
        f"- memory when serving (fresh process after {serve['questions_served']} answers): **RSS {serve['mem_serving'].get('rss_mb')} MB**, "
        f"peak {serve['mem_serving'].get('peak_rss_mb')} MB (after imports {serve['mem_after_imports'].get('rss_mb')} MB, "
        f"index + model loaded {serve['mem_loaded'].get('rss_mb')} MB).",
    ]
    return "\n".join(lines) + "\n"
