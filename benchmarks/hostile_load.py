"""Hostile-load benchmark (issue 20): can one reader with huge histories slow everyone else down?

A real `marktwijzer serve` (uvicorn) on loopback over a private copy of the corpus and index.
Without: N clients (default 8) ask the questions of evals/dev.jsonl for T seconds (default 60).
With: the same load, plus a hostile client sending R requests per second (default 2), each with a
100 KB history turn, to /v1/ask and /v1/ask/stream in turn. The two runs are interleaved in W
alternating windows (default 4 × T/4 s each), so drifting load from other work on a shared machine
falls on both. After each window the `marktwijzer_answers_in_flight` gauge must return to 0 (the
answer work has really stopped).

    python -m benchmarks.hostile_load [--clients 8] [--duration 60] [--hostile-rate 2] [--windows 4]
                                      [--data-dir DIR --corpus-dir DIR] [--json out.json]

Reported: p50/p95 of the normal questions in both runs (a failed question counts with the time it
took) and their p95 ratio (goal <= 1.5, no errors), what the hostile requests got (status codes,
latency), the seconds until in-flight read 0, and the server CPU burnt in the 2 s after that (work
that runs on unseen shows there while the gauge says 0).
The per-key rate limit is off for the test server (the clients would be throttled by design).
Clients run on the same 2 cores as the server, so the absolute numbers are a floor.
"""

from __future__ import annotations  # noqa: I001  (ingest first: offline environment)

import ingest  # noqa: F401  (offline environment first)

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import served_settings, write_result
from benchmarks.load import _percentile, _questions, _reader_key, _start_server, _stop_server
from ingest.settings import Settings

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
HISTORY_BYTES = 100_000
GOAL_RATIO = 1.5
IDLE_WINDOW_S = 2.0


@dataclass
class Phase:
    normal: list[float] = field(default_factory=list)  # seconds of every normal question (failed ones too)
    errors: dict[str, int] = field(default_factory=dict)
    hostile: list[tuple[int, float]] = field(default_factory=list)  # (status, seconds)
    wall: float = 0.0
    cpu_after: list[float] = field(default_factory=list)  # server CPU seconds in IDLE_WINDOW_S after in-flight 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def error(self, kind: str) -> None:
        with self.lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1


def _normal_client(index: int, base: str, questions: list[str], stop: threading.Event, phase: Phase) -> None:
    n = index * 7
    with httpx.Client(base_url=base, headers={"X-API-Key": _reader_key(index)}, timeout=120) as client:
        while not stop.is_set():
            question = questions[n % len(questions)]
            n += 1
            started = time.perf_counter()
            try:
                response = client.post("/v1/ask", json={"question": question})
                failure = "" if response.status_code == 200 else f"http {response.status_code}"
            except httpx.HTTPError as exc:
                failure = type(exc).__name__
            with phase.lock:
                # A failed question counts with the time it took: a 504 after 30 s is not a fast answer.
                phase.normal.append(time.perf_counter() - started)
            if failure:
                phase.error(failure)


def _hostile_body() -> dict[str, Any]:
    turn = ("Hoeveel vacatures stonden er open in regio Amersfoort en Groningen? " * 2000)[:HISTORY_BYTES]
    return {"question": "En in Groningen?", "history": [{"question": turn, "answer": ""}]}


HOSTILE_BODY = json.dumps(_hostile_body()).encode()  # encoded once: the clients' own CPU is not the test


def _hostile_one(base: str, key: str, stream: bool, phase: Phase) -> None:
    started = time.perf_counter()
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
            if stream:
                with client.stream("POST", "/v1/ask/stream", content=HOSTILE_BODY) as response:
                    status = response.status_code
                    response.read()
            else:
                status = client.post("/v1/ask", content=HOSTILE_BODY).status_code
    except httpx.HTTPError:
        status = 0
    with phase.lock:
        phase.hostile.append((status, time.perf_counter() - started))


def _hostile_client(base: str, key: str, rate: float, stop: threading.Event, phase: Phase) -> list[threading.Thread]:
    """R requests per second whatever the server does (each in its own thread, as many readers would)."""
    sent: list[threading.Thread] = []
    interval = 1.0 / rate
    next_at = time.monotonic()
    while not stop.is_set():
        thread = threading.Thread(target=_hostile_one, args=(base, key, len(sent) % 2 == 1, phase), daemon=True)
        thread.start()
        sent.append(thread)
        next_at += interval
        stop.wait(max(0.0, next_at - time.monotonic()))
    return sent


def _hostile_process(base: str, key: str, rate: float, duration: float, ready: Any, go: Any, out: Any) -> None:
    """The hostile reader in a process of its own: its client-side work (connections, 100 KB bodies)
    must not hold the GIL of the process that times the normal questions."""
    phase = Phase()
    stop = threading.Event()
    ready.set()
    go.wait(60)
    timer = threading.Timer(duration, stop.set)
    timer.start()
    for thread in _hostile_client(base, key, rate, stop, phase):
        thread.join(timeout=150)
    out.put(phase.hostile)


def _in_flight(base: str) -> float:
    for line in httpx.get(f"{base}/metrics", timeout=30).text.splitlines():
        if line.startswith("marktwijzer_answers_in_flight "):
            return float(line.split()[1])
    return float("nan")


def _wait_in_flight_zero(base: str, timeout: float = 120.0) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if _in_flight(base) == 0:
            return round(time.monotonic() - started, 2)
        time.sleep(0.2)
    return None


def _run_phase(base: str, clients: int, duration: float, questions: list[str], hostile_rate: float,
               phase: Phase, server_pid: int) -> float | None:
    """One window of load into `phase`; returns the seconds until in-flight read 0 afterwards."""
    stop = threading.Event()
    threads = [threading.Thread(target=_normal_client, args=(i, base, questions, stop, phase), daemon=True)
               for i in range(clients)]
    hostile = None
    if hostile_rate > 0:
        spawn = mp.get_context("spawn")
        ready, go, out = spawn.Event(), spawn.Event(), spawn.Queue()
        hostile = spawn.Process(target=_hostile_process, args=(base, _reader_key(clients), hostile_rate, duration,
                                                                ready, go, out), daemon=True)
        hostile.start()
        if not ready.wait(120):
            raise RuntimeError("the hostile client process did not start")
        go.set()
    t0 = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(duration)
    stop.set()
    for thread in threads:
        thread.join(timeout=150)
    if hostile is not None:
        phase.hostile.extend(out.get(timeout=200))
        hostile.join(timeout=30)
    phase.wall += time.perf_counter() - t0
    zero = _wait_in_flight_zero(base)
    # What the gauge says is checked against what the server does: CPU it still burns once in-flight is 0.
    before = _cpu_seconds(server_pid)
    time.sleep(IDLE_WINDOW_S)
    phase.cpu_after.append(round(_cpu_seconds(server_pid) - before, 2))
    return zero


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _summary(phase: Phase, zero_after: list[float | None]) -> dict[str, Any]:
    wall = phase.wall
    statuses: dict[str, int] = {}
    for status, _ in phase.hostile:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    hostile_seconds = [s for _, s in phase.hostile]
    return {
        "normal": {
            "count": len(phase.normal),
            "p50_ms": round(_percentile(phase.normal, 0.50) * 1000, 1),
            "p95_ms": round(_percentile(phase.normal, 0.95) * 1000, 1),
            "max_ms": round(max(phase.normal, default=0.0) * 1000, 1),
            "throughput_rps": round(len(phase.normal) / wall, 2),
        },
        "errors": phase.errors,
        "hostile": {
            "sent": len(phase.hostile), "statuses": statuses,
            "p50_ms": round(_percentile(hostile_seconds, 0.50) * 1000, 1),
            "max_ms": round(max(hostile_seconds, default=0.0) * 1000, 1),
        },
        "in_flight_zero_after_s": None if None in zero_after else max(z for z in zero_after if z is not None),
        "server_cpu_after_idle_s": max(phase.cpu_after, default=0.0),
    }


def run(clients: int, duration: float, hostile_rate: float, settings: Settings, workdir: Path,
        windows: int = 4) -> dict[str, Any]:
    work = workdir / "copy"
    shutil.copytree(settings.corpus_dir, work / "corpus")
    shutil.copytree(settings.data_dir, work / "data", ignore=shutil.ignore_patterns("ingest.lock", "*.db*"))
    copy = Settings(data_dir=work / "data", corpus_dir=work / "corpus", _env_file=None)
    load_before = list(os.getloadavg())
    process, base, log_path = _start_server(copy, workdir, clients + 1)  # the last key is the hostile reader's
    questions = _questions()
    try:
        with httpx.Client(base_url=base, headers={"X-API-Key": _reader_key(0)}, timeout=60) as warm:
            for question in questions[:4]:
                warm.post("/v1/ask", json={"question": question})  # first answers pay for lazy loads
        # Alternating windows (without, with, without, with, ...): the other work on a shared machine
        # drifts over minutes, and would otherwise land on one run only.
        quiet, loud = Phase(), Phase()
        quiet_zero: list[float | None] = []
        loud_zero: list[float | None] = []
        for _ in range(windows):
            quiet_zero.append(_run_phase(base, clients, duration / windows, questions, 0.0, quiet, process.pid))
            loud_zero.append(_run_phase(base, clients, duration / windows, questions, hostile_rate, loud, process.pid))
        baseline, hostile = _summary(quiet, quiet_zero), _summary(loud, loud_zero)
        in_flight_end = _in_flight(base)
    finally:
        _stop_server(process)
    server_log = log_path.read_text(errors="replace")
    p95_before, p95_after = baseline["normal"]["p95_ms"], hostile["normal"]["p95_ms"]
    ratio = round(p95_after / p95_before, 2) if p95_before else float("nan")
    return {
        "meta": {
            "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
            "clients": clients, "duration_s": duration, "hostile_rate_per_s": hostile_rate, "windows": windows,
            "history_bytes": HISTORY_BYTES, "load_average_before": load_before,
            "load_average_after": list(os.getloadavg()),
        },
        "without_hostile": baseline,
        "with_hostile": hostile,
        "p95_ratio": ratio,
        "goal_ratio": GOAL_RATIO,
        "goal_met": bool(ratio <= GOAL_RATIO) and hostile["in_flight_zero_after_s"] is not None
        and not hostile["errors"] and hostile["server_cpu_after_idle_s"] < IDLE_WINDOW_S / 4,
        "in_flight_at_end": in_flight_end,
        "server_tracebacks": server_log.count("Traceback"),
    }


def markdown(result: dict[str, Any]) -> str:
    meta, a, b = result["meta"], result["without_hostile"], result["with_hostile"]
    lines = [
        f"# Hostile-load benchmark ({meta['when']})",
        "",
        (f"{meta['clients']} clients × {meta['duration_s']:g} s of dev questions on {meta['cpus']} CPUs, and the same "
         f"with {meta['hostile_rate_per_s']:g} requests/s carrying a {meta['history_bytes'] // 1000} KB history turn "
         f"(in {meta['windows']} alternating windows each). "
         f"Load average before/after {meta['load_average_before'][0]:.1f}/{meta['load_average_after'][0]:.1f}."),
        "",
        "| run | normal questions | p50 ms | p95 ms | max ms | errors | in-flight 0 after | server CPU in the "
        f"{IDLE_WINDOW_S:g} s after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, phase in (("without hostile", a), ("with hostile", b)):
        row = phase["normal"]
        lines.append(f"| {name} | {row['count']} | {row['p50_ms']} | {row['p95_ms']} | {row['max_ms']} | "
                     f"{sum(phase['errors'].values())} | {phase['in_flight_zero_after_s']} s | "
                     f"{phase['server_cpu_after_idle_s']} s |")
    hostile = b["hostile"]
    lines += [
        "",
        (f"p95 ratio **{result['p95_ratio']}** (goal ≤ {result['goal_ratio']}; "
         f"{'met' if result['goal_met'] else 'NOT met'}). Hostile requests: {hostile['sent']} sent, statuses "
         f"{hostile['statuses']}, p50 {hostile['p50_ms']} ms, max {hostile['max_ms']} ms. "
         f"In-flight at the end: {result['in_flight_at_end']:g}; server tracebacks: {result['server_tracebacks']}."),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--hostile-rate", type=float, default=2.0, help="Hostile requests per second.")
    parser.add_argument("--windows", type=int, default=4, help="Alternating windows per run (drift of other load).")
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--corpus-dir", type=Path)
    parser.add_argument("--json", type=Path, default=RESULTS / "hostile-load-latest.json")
    args = parser.parse_args()
    if not (0 < args.duration <= 600 and 0 < args.clients <= 64 and 0 < args.hostile_rate <= 20):
        sys.exit("bounded runs only: --duration (0, 600], --clients (0, 64], --hostile-rate (0, 20]")
    settings = served_settings(args.data_dir, args.corpus_dir)
    with tempfile.TemporaryDirectory(prefix="mw-hostile-") as tmp:
        result = run(args.clients, args.duration, args.hostile_rate, settings, Path(tmp), max(1, args.windows))
    write_result(result, args.json, markdown(result))


if __name__ == "__main__":
    main()
