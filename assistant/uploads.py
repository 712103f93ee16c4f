"""Source uploads and status changes for the API: validate everything first, then change the corpus.

A refused upload changes nothing: the file is checked (name, size, executable signatures, type
sniffed from the content and matched against the extension, the loader actually reads it) and the
metadata validated before a single byte is written to the corpus or the registry. The file is then
written under `files/<id>.<ext>` (a name we make, never the client's path) and the registry saved
atomically; a per-corpus lock file serialises registry changes between API workers and the CLI.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import re
import tempfile
import threading
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from pydantic import ValidationError

from ingest.loaders import LOADERS, LoadError, sniff_kind
from ingest.registry import (
    RegistryError,
    SourceEntry,
    SourceStatus,
    SourceType,
    load_registry,
    save_registry,
    slugify,
)
from ingest.settings import Settings

EXTENSION_KINDS: dict[str, str] = {".pdf": "pdf", ".txt": "text", ".md": "text", ".markdown": "text"}
UPLOAD_DIR = "files"
EXECUTABLE_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x7fELF", "een ELF-programma (Linux)"),
    (b"MZ", "een Windows-programma (MZ/PE)"),
    (b"\xcf\xfa\xed\xfe", "een Mach-O-programma (macOS)"),
    (b"\xce\xfa\xed\xfe", "een Mach-O-programma (macOS)"),
    (b"\xca\xfe\xba\xbe", "een Mach-O- of Java-programma"),
    (b"#!", "een script (#!)"),
    (b"\x00asm", "een WebAssembly-module"),
)

_thread_lock = threading.Lock()


class UploadRefused(Exception):
    """An upload or status change refused before anything changed; `code` is stable for clients."""

    def __init__(self, status: int, code: str, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail


@dataclass
class UploadMetadata:
    title: str
    id: str | None = None
    publisher: str = "onbekend"
    edition: str | None = None
    published: str | None = None
    type: SourceType = SourceType.rapport
    period: str = ""
    regions: list[str] = field(default_factory=list)
    municipalities: list[str] = field(default_factory=list)
    provinces: list[str] = field(default_factory=list)
    scope: str = ""
    aliases: list[str] = field(default_factory=list)
    url: str = ""
    status: SourceStatus = SourceStatus.approved


def split_list(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def safe_filename(name: str | None) -> str:
    """The client's file name reduced to a safe base name; refuses paths and traversal outright."""
    if not name or not name.strip():
        raise UploadRefused(400, "invalid_filename", "Het bestand heeft geen naam.")
    if "\x00" in name or any(unicodedata.category(ch) == "Cc" for ch in name):
        raise UploadRefused(400, "invalid_filename", "De bestandsnaam bevat stuurtekens.")
    posix, windows = PurePosixPath(name), PureWindowsPath(name)
    if len(posix.parts) > 1 or len(windows.parts) > 1 or ".." in name or name.startswith((".", "~")):
        raise UploadRefused(
            400, "invalid_filename",
            f"De bestandsnaam {name!r} bevat een pad of '..'; stuur alleen een bestandsnaam (bijv. rapport.pdf).",
        )
    normal = unicodedata.normalize("NFKD", name)
    normal = "".join(ch for ch in normal if not unicodedata.combining(ch))
    normal = re.sub(r"[^A-Za-z0-9._-]+", "-", normal).strip("-.")
    if not normal or "." not in normal:
        raise UploadRefused(415, "unsupported_type", "De bestandsnaam heeft geen extensie (.pdf, .txt of .md).")
    return normal[:150]


def check_file(name: str, data: bytes, max_bytes: int) -> tuple[str, str, int]:
    """Refuse anything we would not index. Returns (safe name, extension, pages)."""
    safe = safe_filename(name)
    extension = Path(safe).suffix.lower()
    expected = EXTENSION_KINDS.get(extension)
    if expected is None:
        raise UploadRefused(
            415, "unsupported_type", f"Bestandstype {extension!r} wordt niet aangenomen; alleen PDF, TXT en MD."
        )
    if len(data) > max_bytes:
        raise UploadRefused(
            413, "file_too_large",
            f"Het bestand is {len(data) / 1e6:.1f} MB; de grens is {max_bytes / 1e6:.1f} MB.",
        )
    if not data:
        raise UploadRefused(422, "empty_file", "Het bestand is leeg (0 bytes).")
    for signature, what in EXECUTABLE_SIGNATURES:
        if data.startswith(signature):
            raise UploadRefused(415, "executable_refused", f"Het bestand is {what}, geen document; geweigerd.")
    try:
        kind = sniff_kind(data, safe)
    except LoadError as exc:
        raise UploadRefused(415, "unsupported_type", f"Bestand niet ondersteund: {exc}") from exc
    if kind != expected:
        shown = {"pdf": "een PDF", "text": "tekst", "html": "een HTML-pagina"}[kind]
        raise UploadRefused(
            415, "content_mismatch",
            f"De naam eindigt op {extension} maar de inhoud is {shown}; het type wordt aan de inhoud bepaald.",
        )
    try:
        pages = LOADERS[kind](data)
    except LoadError as exc:
        raise UploadRefused(422, "unreadable_file", f"Het bestand is niet te lezen: {exc}") from exc
    return safe, extension, len(pages)


def build_entry(meta: UploadMetadata, safe_name: str, extension: str) -> SourceEntry:
    source_id = (meta.id or "").strip() or slugify(Path(safe_name).stem)
    published: dt.date | int = dt.date.today().year
    text = (meta.published or "").strip()
    if text:
        try:
            published = int(text) if text.isdigit() else dt.date.fromisoformat(text)
        except ValueError as exc:
            raise UploadRefused(
                422, "invalid_metadata", "'published' moet een jaar (2025) of een datum (2025-06-30) zijn.",
                [{"field": "published", "message": str(exc)}],
            ) from exc
    try:
        return SourceEntry(
            id=source_id, title=meta.title.strip(), publisher=meta.publisher.strip() or "onbekend",
            edition=(meta.edition or "").strip() or str(published), published=published, period=meta.period.strip(),
            regions=meta.regions, municipalities=meta.municipalities, provinces=meta.provinces,
            scope=meta.scope.strip(), aliases=meta.aliases, type=meta.type,
            file=f"{UPLOAD_DIR}/{source_id}{extension}", url=meta.url.strip(), status=meta.status,
        )
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in error["loc"]) or "(entry)", "message": error["msg"]}
            for error in exc.errors()
        ]
        fields = ", ".join(p["field"] for p in problems)
        raise UploadRefused(422, "invalid_metadata", f"Ongeldige gegevens bij de bron ({fields}).", problems) from exc


@contextmanager
def registry_lock(settings: Settings) -> Iterator[None]:
    """One registry change at a time: threads of this process and other processes (CLI, replicas)."""
    settings.corpus_dir.mkdir(parents=True, exist_ok=True)
    with _thread_lock, open(settings.corpus_dir / ".registry.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def add_source(settings: Settings, name: str, data: bytes, meta: UploadMetadata) -> SourceEntry:
    """Validate file and metadata, then write the file and the registry entry. Raises UploadRefused."""
    safe, extension, _pages = check_file(name, data, settings.max_upload_bytes)
    entry = build_entry(meta, safe, extension)
    with registry_lock(settings):
        try:
            registry = load_registry(settings.registry_path)
        except RegistryError as exc:
            raise UploadRefused(500, "registry_invalid", f"Het bronnenregister is ongeldig: {exc}") from exc
        if entry.id in registry:
            raise UploadRefused(409, "source_exists", f"Er is al een bron met id '{entry.id}'.")
        destination = settings.corpus_dir / entry.file
        if destination.exists():
            raise UploadRefused(409, "file_exists", f"Het bestand {entry.file} bestaat al in het corpus.")
        updated = registry.with_added(entry)
        destination.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=destination.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, destination)
            save_registry(updated, settings.registry_path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            destination.unlink(missing_ok=True)
            raise
    return entry


def set_status(settings: Settings, source_id: str, status: SourceStatus) -> tuple[SourceEntry, bool]:
    """Change a source's status. Returns (entry, changed). Raises UploadRefused(404) for unknown ids."""
    with registry_lock(settings):
        try:
            registry = load_registry(settings.registry_path)
        except RegistryError as exc:
            raise UploadRefused(500, "registry_invalid", f"Het bronnenregister is ongeldig: {exc}") from exc
        try:
            entry = registry.get(source_id)
        except KeyError as exc:
            raise UploadRefused(404, "source_not_found", f"Geen bron met id '{source_id}'.") from exc
        if entry.status is status:
            return entry, False
        updated = registry.with_status(source_id, status)
        save_registry(updated, settings.registry_path)
        return updated.get(source_id), True
