"""Load test of the HTTP API while ingests run: N concurrent clients for T seconds.

A real `marktwijzer serve` (uvicorn) on a private copy of the corpus and index, N client threads
(each with its own reader key and keep-alive connection) asking the questions of evals/dev.jsonl in
turn, one request in four streamed (/v1/ask/stream, read to `done`). Meanwhile an admin withdraws
a source and approves it again, over and over, so background ingest jobs (remove, then re-parse and
re-embed the source) run during the whole test and the server switches index generations under load.

    python -m benchmarks.load [--clients 20] [--duration 60] [--data-dir DIR --corpus-dir DIR]
                              [--source ID] [--json out.json]

Reported: throughput, latency p50/p95/p99/max (ask and stream apart), errors (any non-200, a
stream without `done` or with `error`, a transport error), ingest jobs (states, seconds) and the
share of the test during which an ingest was running. The per-key rate limit is switched off for
the test server (the clients would otherwise be throttled by design); everything else is default.
Client threads run on the same 2 cores as the server, so the numbers are a floor.
"""

from __future__ import annotations  # noqa: I001  (ingest first: offline environment)

import ingest  # noqa: F401  (offline environment first)

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import served_settings, stop_process_group, write_result
from ingest.settings import Settings

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
ADMIN_KEY = "load-admin-key-0123456789abcdef"
DEFAULT_SOURCE = "uwv-regio-in-beeld-2025-2026-amersfoort"


def _reader_key(i: int) -> str:
    return f"load-reader-{i:02d}-0123456789abcdef"


@dataclass
class Sample:
    kind: str
    started: float
    seconds: float
    ok: bool
    error: str = ""


@dataclass
class Shared:
    stop: threading.Event = field(default_factory=threading.Event)
    samples: list[Sample] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, sample: Sample) -> None:
        with self.lock:
            self.samples.append(sample)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _questions() -> list[str]:
    lines = (REPO / "evals" / "dev.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


def _start_server(settings: Settings, workdir: Path, clients: int) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = _free_port()
    env = {
        **os.environ,
        "MARKTWIJZER_DATA_DIR": str(settings.data_dir),
        "MARKTWIJZER_CORPUS_DIR": str(settings.corpus_dir),
        "MARKTWIJZER_DATABASE_URL": f"sqlite:///{workdir / 'audit.db'}",
        "MARKTWIJZER_READER_KEYS": ",".join(f"client-{i:02d}:{_reader_key(i)}" for i in range(clients)),
        "MARKTWIJZER_ADMIN_KEYS": f"load-admin:{ADMIN_KEY}",
        "MARKTWIJZER_RATE_LIMIT_PER_MINUTE": "0",
    }
    log_path = workdir / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "assistant.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir, start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return process, base, log_path
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("server not ready after 180 s")


def _stop_server(process: subprocess.Popen[bytes]) -> None:
    stop_process_group(process, grace=30)


def _client(index: int, base: str, questions: list[str], shared: Shared) -> None:
    headers = {"X-API-Key": _reader_key(index)}
    n = index * 7
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        while not shared.stop.is_set():
            question = questions[n % len(questions)]
            stream = n % 4 == 0
            n += 1
            started = time.perf_counter()
            ok, error = True, ""
            try:
                if stream:
                    kinds: list[str] = []
                    with client.stream("POST", "/v1/ask/stream", json={"question": question}) as response:
                        if response.status_code != 200:
                            ok, error = False, f"http {response.status_code}"
                            response.read()
                        else:
                            for line in response.iter_lines():
                                if line.startswith("event:"):
                                    kinds.append(line[6:].strip())
                    if ok and (not kinds or kinds[-1] != "done" or "error" in kinds):
                        ok, error = False, f"stream events {kinds[-3:]}"
                else:
                    response = client.post("/v1/ask", json={"question": question})
                    if response.status_code != 200:
                        ok, error = False, f"http {response.status_code}: {response.text[:120]}"
            except httpx.HTTPError as exc:
                ok, error = False, f"{type(exc).__name__}: {exc}"
            shared.add(Sample("stream" if stream else "ask", started, time.perf_counter() - started, ok, error))


def _ingest_loop(base: str, source: str, shared: Shared, jobs: list[dict[str, Any]], start_delay: float) -> None:
    """Withdraw and re-approve a source again and again; each change is a background ingest job."""
    if shared.stop.wait(start_delay):
        return
    with httpx.Client(base_url=base, headers={"X-API-Key": ADMIN_KEY}, timeout=60) as admin:
        action = "withdraw"
        while not shared.stop.is_set():
            response = admin.post(f"/v1/sources/{source}/{action}")
            job = response.json().get("job") if response.status_code in (200, 202) else None
            if job is None:
                jobs.append({"action": action, "state": f"not started ({response.status_code})"})
                action = "approve" if action == "withdraw" else "withdraw"
                continue
            submitted = time.perf_counter()
            while True:
                state = admin.get(f"/v1/jobs/{job['id']}").json()
                if state["state"] not in ("queued", "running") or shared.stop.is_set():
                    break  # (a job still running at the end is reported as running)
                time.sleep(0.25)
            jobs.append({
                "action": action, "state": state["state"], "submitted": submitted,
                "finished": time.perf_counter(), "seconds": round(time.perf_counter() - submitted, 2),
                "embedded": (state.get("report") or {}).get("embedded"),
                "generation": (state.get("report") or {}).get("generation"),
                "error": state.get("error"),
            })
            action = "approve" if action == "withdraw" else "withdraw"


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _latency(samples: list[Sample]) -> dict[str, float]:
    seconds = [s.seconds for s in samples if s.ok]
    return {
        "count": len(samples),
        "p50_ms": round(_percentile(seconds, 0.50) * 1000, 1),
        "p95_ms": round(_percentile(seconds, 0.95) * 1000, 1),
        "p99_ms": round(_percentile(seconds, 0.99) * 1000, 1),
        "max_ms": round(max(seconds, default=0.0) * 1000, 1),
        "mean_ms": round(statistics.fmean(seconds) * 1000, 1) if seconds else 0.0,
    }


def run(clients: int, duration: float, settings: Settings, source: str, workdir: Path) -> dict[str, Any]:
    work = workdir / "copy"
    shutil.copytree(settings.corpus_dir, work / "corpus")
    shutil.copytree(settings.data_dir, work / "data", ignore=shutil.ignore_patterns("ingest.lock", "*.db*"))
    copy = Settings(data_dir=work / "data", corpus_dir=work / "corpus", _env_file=None)
    load_before = list(os.getloadavg())  # other work on the machine skews the numbers
    process, base, log_path = _start_server(copy, workdir, clients)
    questions = _questions()
    shared = Shared()
    jobs: list[dict[str, Any]] = []
    try:
        with httpx.Client(base_url=base, headers={"X-API-Key": _reader_key(0)}, timeout=60) as warm:
            warm.post("/v1/ask", json={"question": questions[0]})  # first answer pays for lazy loads
        generation_before = httpx.get(f"{base}/readyz").json()["generation"]
        threads = [threading.Thread(target=_client, args=(i, base, questions, shared), daemon=True)
                   for i in range(clients)]
        feeder = threading.Thread(target=_ingest_loop, args=(base, source, shared, jobs, 3.0), daemon=True)
        if not source:  # --no-ingest: the baseline without background ingests
            feeder = threading.Thread(target=lambda: None, daemon=True)
        t0 = time.perf_counter()
        for thread in threads:
            thread.start()
        feeder.start()
        time.sleep(duration)
        shared.stop.set()
        t1 = time.perf_counter()
        for thread in threads:
            thread.join(timeout=90)
        feeder.join(timeout=300)
        metrics_text = httpx.get(f"{base}/metrics").text
        generation_after = httpx.get(f"{base}/readyz").json()["generation"]
    finally:
        shared.stop.set()
        _stop_server(process)
    samples = [s for s in shared.samples if s.started < t1]
    errors: dict[str, int] = {}
    for sample in samples:
        if not sample.ok:
            errors[sample.error] = errors.get(sample.error, 0) + 1
    busy = 0.0
    for job in jobs:
        if "submitted" in job:
            busy += max(0.0, min(job["finished"], t1) - max(job["submitted"], t0))
    server_log = log_path.read_text(errors="replace")
    return {
        "meta": {
            "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
            "python": platform.python_version(), "clients": clients, "duration_s": duration,
            "streamed_share": 0.25, "questions": len(questions), "ingest_source": source,
            "load_average_before": load_before, "load_average_after": list(os.getloadavg()),
        },
        "requests": len(samples),
        "throughput_rps": round(len(samples) / (t1 - t0), 2),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "latency": {"all": _latency(samples), "ask": _latency([s for s in samples if s.kind == "ask"]),
                    "stream": _latency([s for s in samples if s.kind == "stream"])},
        "ingest": {
            "jobs": [{k: v for k, v in job.items() if k not in ("submitted", "finished")} for job in jobs],
            "jobs_finished": sum(1 for job in jobs if job.get("state") in ("succeeded", "partial")),
            "busy_share": round(busy / (t1 - t0), 2),
            "generation_before": generation_before, "generation_after": generation_after,
        },
        "server_5xx": sum(1 for path, _ in re.findall(r'"\w+ (\S+) HTTP/[\d.]+" (5\d\d)', server_log)
                          if not path.startswith("/readyz")),
        "server_tracebacks": server_log.count("Traceback"),
        "audit_failures": next((float(line.rsplit(" ", 1)[1]) for line in metrics_text.splitlines()
                                if line.startswith("marktwijzer_audit_failures_total")), 0.0),
    }


def markdown(result: dict[str, Any]) -> str:
    meta, lat, ing = result["meta"], result["latency"], result["ingest"]
    lines = [
        f"# API load test ({meta['when']})",
        "",
        (f"{meta['clients']} clients × {meta['duration_s']:g} s on {meta['cpus']} CPUs, "
        f"{int(meta['streamed_share'] * 100)}% streamed; ingest jobs (withdraw/approve "
        f"`{meta['ingest_source']}`) running {int(ing['busy_share'] * 100)}% of the time, "
        f"{ing['jobs_finished']} finished; machine load average before/after "
        f"{meta['load_average_before'][0]:.1f}/{meta['load_average_after'][0]:.1f}."),
        "",
        (f"- requests: {result['requests']}, throughput **{result['throughput_rps']} req/s**, "
        f"errors **{result['errors']}** {result['error_kinds'] or ''}"),
        "",
        "| | count | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("all", "ask", "stream"):
        row = lat[name]
        lines.append(f"| {name} | {row['count']} | {row['p50_ms']} | {row['p95_ms']} | {row['p99_ms']} | {row['max_ms']} |")
    lines += ["", "| job | state | seconds | embedded |", "|---|---|---|---|"]
    for job in ing["jobs"]:
        lines.append(f"| {job['action']} | {job['state']} | {job.get('seconds', '')} | {job.get('embedded', '')} |")
    lines += ["", (f"Server 5xx: {result['server_5xx']}, tracebacks: {result['server_tracebacks']}, "
              f"audit failures: {result['audit_failures']:g}; generation {ing['generation_before']} → "
              f"{ing['generation_after']}."), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--corpus-dir", type=Path)
    parser.add_argument("--source", default=DEFAULT_SOURCE, help="Source withdrawn and re-approved during the test.")
    parser.add_argument("--no-ingest", action="store_true", help="Baseline: no ingest jobs during the test.")
    parser.add_argument("--json", type=Path, default=RESULTS / "load-latest.json")
    args = parser.parse_args()
    settings = served_settings(args.data_dir, args.corpus_dir)
    with tempfile.TemporaryDirectory(prefix="mw-load-") as tmp:
        result = run(args.clients, args.duration, settings, "" if args.no_ingest else args.source, Path(tmp))
    write_result(result, args.json, markdown(result))


if __name__ == "__main__":
    main()
