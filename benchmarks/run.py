"""`make bench`: run the benchmarks and write benchmarks/results/latest.{json,md}.

    python -m benchmarks.run [--only ingest,query,baseline,scaling] [--data-dir DIR]
                             [--factors 1,10,100] [--passes 3] [--limit N]

Sections: ingest (shipped corpus into a fresh data directory), query (latency, floor, cold start,
serving memory), baseline (stock LangChain over the same chunks, same process), scaling (1×/10×/100×,
synthetic). Query, baseline and scaling use the index the ingest section just built; without that
section, `--data-dir`, else the configured data directory (MARKTWIJZER_DATA_DIR / ./data), else a
fresh ingest into a temporary directory. A partial run (`--only`) keeps the other sections of the
previous latest.json. The 1-minute load average is sampled during every section and reported.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ingest  # noqa: F401  (offline environment first)
from benchmarks import ingest_bench, langchain_baseline, query_bench, scaling_bench
from benchmarks.common import REPO, child_env, loadavg
from ingest.settings import Settings
from ingest.store import current_generation

RESULTS = Path(__file__).resolve().parent / "results"
SECTIONS = ("ingest", "query", "baseline", "scaling")


class LoadSampler:
    """The 1-minute load average every few seconds while a section runs."""

    def __init__(self, every: float = 5.0) -> None:
        self.every = every
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while True:
            value = loadavg()
            if value:
                self.samples.append(value[0])
            if self._stop.wait(self.every):
                return

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict[str, float]:
        if not self.samples:
            return {}
        return {"min": min(self.samples), "mean": round(sum(self.samples) / len(self.samples), 2), "max": max(self.samples)}


def timed_section(name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    print(f"[bench] {name} …", file=sys.stderr, flush=True)
    started = time.perf_counter()
    with LoadSampler() as sampler:
        result = fn()
    result["meta"] = {"when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                      "seconds": round(time.perf_counter() - started, 1), "load_1min": sampler.summary()}
    print(f"[bench] {name} done in {result['meta']['seconds']} s (load {result['meta']['load_1min']})", file=sys.stderr, flush=True)
    return result


def _has_index(data_dir: Path) -> bool:
    return current_generation(data_dir / "index") is not None


def _fresh_index(work: Path) -> Path:
    data = work / "data"
    cli = Path(sys.executable).parent / "marktwijzer"
    command = [str(cli)] if cli.exists() else [sys.executable, "-m", "assistant.cli"]
    proc = subprocess.run([*command, "ingest"], env=child_env(data), cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ingest for the benchmarks failed: {proc.stderr[-2000:]}")
    return data


def must_show(result: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    rows: list[tuple[str, str, bool | None]] = []
    ingest_result = result.get("ingest")
    if ingest_result:
        rows.append(("ingest ≥ 1.2 pages/s (8edbe52: 0.55, issue 21)", f"{ingest_result['pages_per_s']} pages/s",
                     ingest_result["pages_per_s"] >= 1.2))
    base = result.get("baseline")
    if base:
        ours = base["methods"][langchain_baseline.OURS]
        ens = base["methods"][langchain_baseline.ENSEMBLE]
        rows.append(("ours ahead of the LangChain ensemble on hit@5",
                     f"{ours['hit@5']:.3f} vs {ens['hit@5']:.3f}", base["must_show"]["ours_ahead_on_hit@5"]))
        rows.append(("ours not slower than the ensemble at p95",
                     f"{ours['latency_ms']['p95']:.1f} vs {ens['latency_ms']['p95']:.1f} ms (ours ÷ ensemble {ens['p95_ours_over']})",
                     base["must_show"]["ours_not_slower_at_p95"]))
    query = result.get("query")
    if query:
        ratio = query["latency_ms"]["answer_over_floor_p50"]
        rows.append(("full-answer p50 ≤ 3 × embed+search floor p50",
                     f"{query['latency_ms']['answer']['p50']:.1f} / {query['latency_ms']['floor']['p50']:.1f} ms = {ratio}", ratio <= 3))
    scaling = result.get("scaling")
    if scaling:
        target = scaling["target"]
        rows.append((f"retrieval p95 ≤ 100 ms at {target['factor']}× the corpus", f"{target['retrieval_p95_ms']:.1f} ms",
                     target["within_100ms"] if target["factor"] >= 100 else None))
        if "load_s" in target:
            at_100 = target["factor"] >= 100
            rows.append((f"load ≤ 5 s at {target['factor']}× (8edbe52: 11–14 s)", f"{target['load_s']} s",
                         target["load_within_5s"] if at_100 else None))
            rows.append((f"RSS serving ≤ 700 MB at {target['factor']}× (8edbe52: 1.0–1.4 GB)", f"{target['rss_serving_mb']} MB",
                         target["rss_within_700mb"] if at_100 else None))
    return rows


def markdown(result: dict[str, Any]) -> str:
    meta = result["meta"]
    md = f"# Marktwijzer benchmarks\n\n{meta['when']} · {meta['cpus']} CPUs · Python {meta['python']} · `make bench`\n\n"
    md += "Load average (1 min) during each section: " + ", ".join(
        f"{name} {result[name]['meta']['load_1min'].get('mean', '?')} (max {result[name]['meta']['load_1min'].get('max', '?')}, "
        f"{result[name]['meta']['when']})" for name in SECTIONS if name in result) + ".\n\n"
    rows = must_show(result)
    if rows:
        md += "## Must show\n\n| claim | measured | holds |\n|---|---|---|\n"
        md += "".join(f"| {claim} | {value} | {'yes' if ok else ('n/a' if ok is None else '**NO**')} |\n" for claim, value, ok in rows)
        md += "\n"
    renderers = {"ingest": ingest_bench.markdown, "query": query_bench.markdown,
                 "baseline": langchain_baseline.markdown, "scaling": scaling_bench.markdown}
    for name in SECTIONS:
        if name in result:
            md += renderers[name](result[name]) + "\n"
    return md


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Marktwijzer benchmarks")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated: " + ",".join(SECTIONS))
    parser.add_argument("--data-dir", type=Path, default=None, help="index to benchmark when ingest is not run")
    parser.add_argument("--factors", default="1,10,100", help="scaling factors")
    parser.add_argument("--passes", type=int, default=3, help="timing passes over the dev set")
    parser.add_argument("--limit", type=int, default=None, help="only the first N dev questions (smoke runs)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for latest.json / latest.md")
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")

    args.out.mkdir(parents=True, exist_ok=True)
    previous_path = args.out / "latest.json"
    result: dict[str, Any] = {}
    if set(only) != set(SECTIONS) and previous_path.is_file():
        previous = json.loads(previous_path.read_text(encoding="utf-8"))
        result.update({k: v for k, v in previous.items() if k in SECTIONS and "meta" in v})
    result["meta"] = {"when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
                      "python": platform.python_version(), "machine": platform.machine(),
                      "loadavg_at_start": loadavg(), "sections_run": only}

    work = Path(tempfile.mkdtemp(prefix="mw-bench-run-"))
    try:
        data_dir: Path | None = None
        if "ingest" in only:
            data_dir = work / "data"
            result["ingest"] = timed_section("ingest", lambda: ingest_bench.run(keep_data=data_dir))
        elif args.data_dir is not None:
            data_dir = args.data_dir
        elif {"query", "baseline", "scaling"} & set(only):
            configured = Settings().data_dir
            data_dir = configured if _has_index(configured) else _fresh_index(work)
        if data_dir is not None and not _has_index(data_dir):
            raise SystemExit(f"no index in {data_dir}")
        result["meta"]["data_dir"] = str(data_dir) if data_dir is not None and "ingest" not in only else "fresh (ingest section)"

        if "query" in only or "baseline" in only:
            from assistant.answer import get_assistant

            assistant = get_assistant(Settings(data_dir=data_dir, corpus_dir=REPO / "corpus", _env_file=None))
            if "query" in only:
                result["query"] = timed_section("query", lambda: query_bench.run(data_dir, passes=args.passes, limit=args.limit))
            if "baseline" in only:
                items = query_bench.dev_items(limit=args.limit)
                result["baseline"] = timed_section("baseline", lambda: langchain_baseline.run(assistant, items, passes=args.passes))
        if "scaling" in only:
            factors = tuple(int(f) for f in args.factors.split(","))
            result["scaling"] = timed_section("scaling", lambda: scaling_bench.run(data_dir, factors, passes=args.passes, limit=args.limit))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    result["meta"]["loadavg_at_end"] = loadavg()
    (args.out / "latest.json").write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    md = markdown(result)
    (args.out / "latest.md").write_text(md, encoding="utf-8")
    print(md)


if __name__ == "__main__":
    main()
