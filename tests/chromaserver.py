"""A real Chroma server (`chroma run`, from the chromadb package) on a free loopback port, and a
server-mode copy of a built index whose vectors are pushed into it (no re-embedding)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from benchmarks.common import stop_process_group
from ingest.settings import Settings
from ingest.store import current_generation, push_generation_to_server

from .apiserver import free_port


def chroma_binary() -> str | None:
    candidate = Path(sys.executable).parent / "chroma"
    return str(candidate) if candidate.exists() else shutil.which("chroma")


@contextmanager
def chroma_server(root: Path, ready_timeout: float = 60.0) -> Iterator[str]:
    """Start `chroma run --path root/chroma` and yield its URL once the heartbeat answers."""
    binary = chroma_binary()
    if binary is None:
        raise RuntimeError("no `chroma` command (chromadb not installed?)")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    root.mkdir(parents=True, exist_ok=True)
    log_path = root / "chroma.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [binary, "run", "--path", str(root / "chroma"), "--host", "127.0.0.1", "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
        )
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"chroma exited with {process.returncode}: {log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"chroma not up after {ready_timeout} s: {log_path.read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        stop_process_group(process, grace=15)


def server_mode_copy(settings: Settings, dest: Path, chroma_url: str, **overrides: object) -> Settings:
    """Copy corpus + data dir of a built (embedded) index to `dest`, push its current generation's
    vectors into the server and return server-mode settings for the copy."""
    shutil.copytree(settings.corpus_dir, dest / "corpus")
    shutil.copytree(settings.data_dir, dest / "data", ignore=shutil.ignore_patterns("ingest.lock", "*.db*"))
    copy = Settings(data_dir=dest / "data", corpus_dir=dest / "corpus", chroma_url=chroma_url, _env_file=None,
                    **overrides)
    push_generation_to_server(copy.index_dir, chroma_url)
    generation = current_generation(copy.index_dir)
    assert generation is not None
    shutil.rmtree(generation.chroma_dir)  # server mode must not read the embedded copy
    return copy
