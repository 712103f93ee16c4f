"""Background ingest jobs for the API: one at a time, in a child process, with a status record.

After an upload or a withdrawal the API submits a job and answers at once (202 with the job).
The job runs `run_ingest` in a separate, lower-priority process (`python -m assistant.jobs`), so the
API keeps answering from the previous index generation until the new one is published atomically;
the assistant then follows the new generation (`Assistant.refresh`). A job submitted while another
is still queued joins it: the queued run reads the registry when it starts and covers both changes.

Run by hand: `python -m assistant.jobs` (settings from MARKTWIJZER_* like the CLI), one JSON object
per line on stdout: `{"progress": [message, done, total]}` ... then `{"report": {...}}` or
`{"error": "...", "code": "..."}`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from enum import Enum
from typing import Any

from pydantic import BaseModel, Field, SecretStr

import ingest  # noqa: F401  (offline environment first)
from ingest.settings import Settings

log = logging.getLogger(__name__)

KEEP_JOBS = 200
LOCK_RETRIES = 30  # an ingest started from the CLI holds the lock: wait up to ~60 s for it
LOCK_RETRY_SECONDS = 2.0
EXIT_LOCKED = 3
CHILD_NICENESS = 10


class JobState(str, Enum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    partial = "partial"  # published, but some sources failed (see report.failed)
    failed = "failed"  # nothing published; the previous index keeps serving


class JobProgress(BaseModel):
    message: str = ""
    done: int = 0
    total: int = 0


class Job(BaseModel):
    id: str
    kind: str = "ingest"
    reasons: list[str] = Field(default_factory=list, description="What asked for it ('upload x', 'withdraw y').")
    state: JobState = JobState.queued
    created_at: dt.datetime
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    progress: JobProgress = Field(default_factory=JobProgress)
    report: dict[str, Any] | None = Field(None, description="The ingest report (as `marktwijzer ingest --json`).")
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in (JobState.succeeded, JobState.partial, JobState.failed)


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as MARKTWIJZER_* variables, so a child process sees exactly these settings."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[f"MARKTWIJZER_{name.upper()}"] = str(value)
    return env


class JobManager:
    """Queue and run ingest jobs one at a time; keeps the last KEEP_JOBS job records in memory."""

    def __init__(self, settings: Settings, on_finished: Callable[[Job], None] | None = None) -> None:
        """`on_finished(job)` runs in the worker after every job (e.g. reload the assistant on success)."""
        self.settings = settings
        self.on_finished = on_finished
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._process: subprocess.Popen[str] | None = None
        self._worker = threading.Thread(target=self._run, name="ingest-jobs", daemon=True)
        self._worker.start()

    # -- public --------------------------------------------------------------------------------

    def submit(self, reason: str) -> Job:
        """Queue an ingest (or join the one already queued). Returns a copy of the job record."""
        with self._lock:
            for job in self._jobs.values():
                if job.state is JobState.queued:
                    job.reasons.append(reason)
                    return job.model_copy(deep=True)
            job = Job(id=uuid.uuid4().hex[:12], reasons=[reason], created_at=dt.datetime.now(dt.UTC))
            self._jobs[job.id] = job
            while len(self._jobs) > KEEP_JOBS:
                oldest = next(iter(self._jobs))
                if not self._jobs[oldest].finished:
                    break
                self._jobs.pop(oldest)
            self._queue.put(job.id)
            log.info("ingest job %s queued (%s)", job.id, reason)
            return job.model_copy(deep=True)

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return job.model_copy(deep=True) if job else None

    def list(self) -> list[Job]:
        """Newest first."""
        with self._lock:
            return [job.model_copy(deep=True) for job in reversed(self._jobs.values())]

    def active(self) -> int:
        with self._lock:
            return sum(1 for job in self._jobs.values() if not job.finished)

    def wait(self, job_id: str, timeout: float) -> Job:
        """Block until the job is finished (tests, scripts). Raises TimeoutError."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                job = self._jobs.get(job_id)
                if job is None:
                    raise KeyError(job_id)
                if job.finished:
                    return job.model_copy(deep=True)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"job {job_id} is still {job.state.value}")
                self._changed.wait(remaining)

    def shutdown(self) -> None:
        """Stop the worker; a running ingest child is terminated (the previous index keeps serving)."""
        self._queue.put(None)
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        self._worker.join(timeout=15)

    # -- worker --------------------------------------------------------------------------------

    def _update(self, job_id: str, **changes: Any) -> None:
        with self._changed:
            job = self._jobs.get(job_id)
            if job is not None:
                for key, value in changes.items():
                    setattr(job, key, value)
            self._changed.notify_all()

    def _run(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None:
                return
            self._update(job_id, state=JobState.running, started_at=dt.datetime.now(dt.UTC))
            try:
                state, report, error = self._execute(job_id)
            except Exception as exc:
                log.exception("ingest job %s crashed", job_id)
                state, report, error = JobState.failed, None, f"{type(exc).__name__}: {exc}"
            self._update(job_id, state=state, report=report, error=error, finished_at=dt.datetime.now(dt.UTC))
            log.info("ingest job %s %s%s", job_id, state.value, f": {error}" if error else "")
            finished = self.get(job_id)
            if finished is not None and self.on_finished is not None:
                try:
                    self.on_finished(finished)
                except Exception:
                    log.exception("after-job hook of ingest job %s failed", job_id)

    def _execute(self, job_id: str) -> tuple[JobState, dict[str, Any] | None, str | None]:
        for _attempt in range(LOCK_RETRIES):
            code, report, error, error_code = self._child(job_id)
            if code != EXIT_LOCKED:
                break
            self._update(job_id, progress=JobProgress(message="wacht op een andere ingest"))
            time.sleep(LOCK_RETRY_SECONDS)
        if report is not None:
            state = JobState.partial if report.get("failed") else JobState.succeeded
            return state, report, None
        return JobState.failed, None, error or f"ingest exited with code {code}" + (f" ({error_code})" if error_code else "")

    def _child(self, job_id: str) -> tuple[int, dict[str, Any] | None, str | None, str | None]:
        env = {**os.environ, **settings_env(self.settings)}
        self._process = process = subprocess.Popen(
            [sys.executable, "-m", "assistant.jobs"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        report: dict[str, Any] | None = None
        error: str | None = None
        error_code: str | None = None
        stderr_tail: list[str] = []

        def drain_stderr() -> None:
            assert process.stderr is not None
            for line in process.stderr:
                stderr_tail.append(line.rstrip())
                del stderr_tail[:-20]

        drainer = threading.Thread(target=drain_stderr, daemon=True)
        drainer.start()
        assert process.stdout is not None
        for line in process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if "progress" in message:
                text, done, total = message["progress"]
                self._update(job_id, progress=JobProgress(message=str(text), done=int(done), total=int(total)))
            elif "report" in message:
                report = message["report"]
            elif "error" in message:
                error, error_code = str(message["error"]), message.get("code")
        code = process.wait()
        drainer.join(timeout=5)
        self._process = None
        if code != 0 and report is None and error is None:
            error = "; ".join(stderr_tail[-3:]) or f"ingest exited with code {code}"
        return code, report, error, error_code


def _child_main() -> int:
    """Child process: run one ingest with the MARKTWIJZER_* settings, report on stdout as JSON lines."""
    from ingest.pipeline import IngestError, run_ingest
    from ingest.store import IngestLocked

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)

    def emit(data: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")
        sys.stdout.flush()

    def progress(message: str, done: int, total: int) -> None:
        emit({"progress": [message, done, total]})

    os.nice(CHILD_NICENESS)  # answers first: the ingest gets what the CPU has left
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    try:
        report = run_ingest(settings, progress=progress)
    except IngestLocked as exc:
        emit({"error": str(exc), "code": "ingest_locked"})
        return EXIT_LOCKED
    except IngestError as exc:
        emit({"error": str(exc), "code": "ingest_failed"})
        return 1
    emit({"report": report.model_dump(mode="json")})
    return 0


if __name__ == "__main__":
    sys.exit(_child_main())
