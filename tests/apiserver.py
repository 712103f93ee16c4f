"""Helpers for the API tests: a real `marktwijzer serve` (uvicorn) process on a free loopback port."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import stop_process_group
from ingest.settings import Settings

READER_KEY = "reader-key-0123456789abcdef"
ADMIN_KEY = "admin-key-fedcba9876543210"
KEY_ENV = {
    "MARKTWIJZER_READER_KEYS": f"crm:{READER_KEY}",
    "MARKTWIJZER_ADMIN_KEYS": f"trainer:{ADMIN_KEY}",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def copy_index(settings: Settings, dest: Path) -> Settings:
    """A private copy of a built corpus + data directory (tests that change sources)."""
    shutil.copytree(settings.corpus_dir, dest / "corpus")
    shutil.copytree(settings.data_dir, dest / "data", ignore=shutil.ignore_patterns("ingest.lock", "*.db*"))
    return Settings(data_dir=dest / "data", corpus_dir=dest / "corpus", _env_file=None)


@dataclass
class ApiServer:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    settings: Settings

    def client(self, key: str | None = READER_KEY, header: str = "x-api-key", timeout: float = 60.0) -> httpx.Client:
        headers = {}
        if key is not None:
            headers = {"Authorization": f"Bearer {key}"} if header == "bearer" else {"X-API-Key": key}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop_process_group(self.process)  # the server and its ingest child, nothing else


def start_server(settings: Settings, workdir: Path, ready_timeout: float = 120.0, **extra_env: str) -> ApiServer:
    """`python -m assistant.cli serve` with these settings (env), waiting until /readyz says ready."""
    port = free_port()
    env = {
        **os.environ,
        "MARKTWIJZER_DATA_DIR": str(settings.data_dir),
        "MARKTWIJZER_CORPUS_DIR": str(settings.corpus_dir),
        "MARKTWIJZER_DATABASE_URL": settings.database_url or f"sqlite:///{workdir / 'audit.db'}",
        **KEY_ENV,
        **extra_env,
    }
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"server-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "assistant.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir, start_new_session=True,
        )
    server = ApiServer(f"http://127.0.0.1:{port}", process, log_path, settings)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.log()[-3000:]}")
        try:
            if httpx.get(f"{server.base_url}/readyz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"server not ready after {ready_timeout} s:\n{server.log()[-3000:]}")


def sse_events(response: httpx.Response) -> Iterator[tuple[str, Any]]:
    """(event, parsed data) from a text/event-stream response, comments skipped."""
    event, data = "message", []
    for line in response.iter_lines():
        if line == "":
            if data:
                yield event, json.loads("\n".join(data))
            event, data = "message", []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
    if data:
        yield event, json.loads("\n".join(data))


def wait_job(client: httpx.Client, job_id: str, timeout: float = 300.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "partial", "failed"):
            return job
        time.sleep(0.2)
    raise TimeoutError(f"job {job_id} not finished after {timeout} s")


def snapshot(settings: Settings) -> dict[str, Any]:
    """What a refused request must not change: registry bytes, corpus files, serving generation."""
    index = settings.index_dir
    current = (index / "CURRENT").read_text() if (index / "CURRENT").exists() else None
    return {
        "registry": settings.registry_path.read_bytes(),
        "corpus": sorted(str(p.relative_to(settings.corpus_dir)) for p in settings.corpus_dir.rglob("*")
                         if p.name != ".registry.lock"),
        "current": current,
        "generations": sorted(p.name for p in index.glob("gen-*")),
        "manifest": (index / current.strip() / "manifest.json").read_bytes() if current else None,
    }


def app_settings(base: Settings, tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for an in-process app on `base`'s index: the test keys and a private audit database."""
    values: dict[str, Any] = {
        "data_dir": base.data_dir, "corpus_dir": base.corpus_dir,
        "database_url": f"sqlite:///{tmp_path / 'audit.db'}",
        "reader_keys": KEY_ENV["MARKTWIJZER_READER_KEYS"], "admin_keys": KEY_ENV["MARKTWIJZER_ADMIN_KEYS"],
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)
