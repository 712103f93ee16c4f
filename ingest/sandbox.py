"""Parse a file in a child process with CPU-time, memory and output limits.

A hostile file (a PDF decompression bomb, a pathological HTML page) must not slow the process that
answers questions. The child runs at low priority (nice 10) with RLIMIT_CPU, RLIMIT_AS, no core dumps
and no file writes; the parsers themselves enforce the output limits (ParseLimits) before the costly
work. The child gets the bytes on stdin and no secrets in its environment; it returns the pages as
JSON on stdout. At most MAX_CHILDREN parse at once per process, so a burst of uploads cannot take
every core either.
"""

from __future__ import annotations

import logging
import os
import resource
import signal
import subprocess
import sys
import threading
from pathlib import Path

from pydantic import BaseModel, ValidationError

from ingest.loaders import DEFAULT_LIMITS, LOADERS, LoadError, LoadLimitExceeded, ParseLimits
from ingest.models import Page

log = logging.getLogger(__name__)

MAX_CHILDREN = 2
CHILD_NICE = 10
_ROOT = str(Path(__file__).resolve().parent.parent)
# -I: ignore PYTHON* variables, user site and the cwd; the package root is passed explicitly.
_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from ingest.sandbox import child_main; child_main(sys.argv[2], sys.argv[3])"
_slots = threading.BoundedSemaphore(MAX_CHILDREN)


class ChildResult(BaseModel):
    pages: list[Page] = []
    error: str = ""
    message_nl: str = ""
    limit: bool = False


def _cpu_limit(limits: ParseLimits) -> LoadLimitExceeded:
    return LoadLimitExceeded(
        f"reading the file took more than {limits.cpu_seconds} s of CPU time; it is refused as too complex",
        f"Het lezen van dit bestand kostte meer dan {limits.cpu_seconds} s rekentijd; het is geweigerd als te zwaar.",
    )


def parse_isolated(data: bytes, kind: str, limits: ParseLimits = DEFAULT_LIMITS) -> list[Page]:
    """The pages of `data` parsed as `kind` ('pdf', 'text', 'html') in a limited child process.

    Raises LoadLimitExceeded when a limit is hit, LoadError when the file cannot be read.
    """
    if kind not in LOADERS:
        raise LoadError(f"unsupported file kind: {kind}")
    command = [sys.executable, "-I", "-c", _BOOT, _ROOT, kind, limits.model_dump_json()]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
    with _slots:
        try:
            done = subprocess.run(command, input=data, capture_output=True, timeout=limits.wall_seconds,
                                  env=env, close_fds=True, check=False)
        except subprocess.TimeoutExpired as exc:  # run() has killed the child already
            raise _cpu_limit(limits) from exc
    if done.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        raise _cpu_limit(limits)
    try:
        result = ChildResult.model_validate_json(done.stdout)
    except ValidationError as exc:
        log.warning("parser child exited with %s; stderr tail: %s", done.returncode, done.stderr[-500:])
        if done.returncode != 0 and b"MemoryError" in done.stderr:
            raise LoadLimitExceeded(
                "reading the file needs more memory than allowed",
                "Het lezen van dit bestand vraagt meer geheugen dan is toegestaan; het bestand is geweigerd.",
            ) from exc
        raise LoadError(f"the file could not be read (the parser stopped with exit code {done.returncode})") from exc
    if result.limit:
        raise LoadLimitExceeded(result.error, result.message_nl or result.error)
    if result.error:
        raise LoadError(result.error)
    return result.pages


def _restrict(limits: ParseLimits) -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 2))
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGXCPU would otherwise dump core
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # the child writes no files (stdout is a pipe)
    os.nice(CHILD_NICE)


def child_main(kind: str, limits_json: str) -> None:
    """Entry point of the child: bytes on stdin, ChildResult JSON on stdout."""
    limits = ParseLimits.model_validate_json(limits_json)
    _restrict(limits)
    try:
        result = ChildResult(pages=LOADERS[kind](sys.stdin.buffer.read(), limits))
    except LoadLimitExceeded as exc:
        result = ChildResult(error=str(exc), message_nl=exc.message_nl, limit=True)
    except LoadError as exc:
        result = ChildResult(error=str(exc))
    except MemoryError:
        result = ChildResult(
            error="reading the file needs more memory than allowed", limit=True,
            message_nl="Het lezen van dit bestand vraagt meer geheugen dan is toegestaan; het bestand is geweigerd.",
        )
    sys.stdout.write(result.model_dump_json())
    sys.stdout.flush()
