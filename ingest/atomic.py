"""Writing a file so that readers see the old content or the new, never half of it."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: str | bytes, prefix: str | None = None) -> None:
    """Write `data` to a temporary file beside `path` (named `prefix…`, default `.<name>.…tmp`),
    fsync it, rename it over `path` and fsync the directory; the temporary file never survives a
    failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{prefix if prefix is not None else f'.{path.name}.'}{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
