"""Source uploads and status changes for the API, the UI and the CLI: validate first, then change.

A refused upload changes nothing: the file is checked (name, size, executable signatures, type
sniffed from the content and matched against the extension, the loader actually reads it, in a
limited child process: ingest.sandbox) and the metadata validated before a single byte is written to
the corpus or the registry. The file is then written under `files/<id>.<ext>` (a name we make, never
the client's path) and the registry saved, both inside `ingest.registry.change_registry`: the one
locked path every registry change takes (API workers, UI, CLI), so no change is lost.
"""

from __future__ import annotations

import datetime as dt
import re
import stat
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from pydantic import ValidationError

from ingest.atomic import atomic_write
from ingest.loaders import LoadError, LoadLimitExceeded, MacrosRefused, sniff_kind
from ingest.registry import (
    Registry,
    RegistryBusy,
    RegistryError,
    SourceEntry,
    SourceStatus,
    SourceType,
    change_registry,
    slugify,
)
from ingest.sandbox import parse_isolated
from ingest.settings import Settings

EXTENSION_KINDS: dict[str, str] = {
    ".pdf": "pdf", ".txt": "text", ".md": "text", ".markdown": "text", ".csv": "csv", ".xlsx": "xlsx",
}
TABLE_EXTENSIONS = (".csv", ".xlsx")
MACRO_EXTENSIONS = (".xlsm", ".xltm", ".xlam", ".xlsb", ".xls")
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
MAX_FILENAME_CHARS = 255  # what file systems allow; longer names are refused, not cut
KEEP_FILENAME_CHARS = 150  # the safe name is shortened to this, keeping its extension
# Local files the CLI must never copy into the corpus (and so into answers): system trees.
SYSTEM_DIRS = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/root",
               "/run", "/sbin", "/sys", "/usr", "/var")


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
    if len(name) > MAX_FILENAME_CHARS:
        raise UploadRefused(
            400, "invalid_filename",
            f"De bestandsnaam is te lang ({len(name)} tekens; het maximum is {MAX_FILENAME_CHARS}). Geef het bestand een kortere naam.",
        )
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
    stem, dot, extension = normal.rpartition(".")
    if len(normal) > KEEP_FILENAME_CHARS:  # shorten the stem, never the extension the type check reads
        stem = stem[: max(1, KEEP_FILENAME_CHARS - len(extension) - 1)].rstrip("-.") or "bestand"
    return f"{stem}{dot}{extension}"


def _macros_refused() -> UploadRefused:
    """One Dutch message for a workbook with a VBA project, whether sniffing or parsing found it."""
    return UploadRefused(
        415, "macros_refused",
        "De werkmap bevat macro's (een VBA-project); macro's worden nooit geladen. "
        "Sla de werkmap op als .xlsx zonder macro's.",
    )


def check_file(name: str, data: bytes, max_bytes: int) -> tuple[str, str, int]:
    """Refuse anything we would not index. Returns (safe name, extension, pages)."""
    safe = safe_filename(name)
    extension = Path(safe).suffix.lower()
    expected = EXTENSION_KINDS.get(extension)
    if extension in MACRO_EXTENSIONS:
        raise UploadRefused(
            415, "macros_refused",
            f"Bestandstype {extension!r} wordt niet aangenomen: werkmappen met macro's (of oude Excel-formaten) "
            "worden nooit geopend. Sla de werkmap op als .xlsx zonder macro's.",
        )
    if expected is None:
        raise UploadRefused(
            415, "unsupported_type", f"Bestandstype {extension!r} wordt niet aangenomen; alleen PDF, TXT, MD, CSV en XLSX."
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
    except MacrosRefused as exc:
        raise _macros_refused() from exc
    except LoadError as exc:
        if expected == "xlsx":
            raise UploadRefused(422, "unreadable_file", f"De Excel-werkmap is beschadigd of geen werkmap: {exc}") from exc
        raise UploadRefused(415, "unsupported_type", f"Bestand niet ondersteund: {exc}") from exc
    if kind == "text" and expected == "csv":
        kind = "csv"
    if kind != expected:
        shown = {"pdf": "een PDF", "text": "tekst", "html": "een HTML-pagina", "csv": "een CSV-tabel",
                 "xlsx": "een Excel-werkmap"}[kind]
        raise UploadRefused(
            415, "content_mismatch",
            f"De naam eindigt op {extension} maar de inhoud is {shown}; het type wordt aan de inhoud bepaald.",
        )
    try:
        pages = parse_isolated(data, kind)  # a child process: a hostile file cannot slow the answers
    except LoadLimitExceeded as exc:
        raise UploadRefused(422, "file_too_complex", exc.message_nl) from exc
    except MacrosRefused as exc:
        raise _macros_refused() from exc
    except LoadError as exc:
        raise UploadRefused(422, "unreadable_file", f"Het bestand is niet te lezen: {exc}") from exc
    return safe, extension, len(pages)


def read_local_file(path: Path, max_bytes: int, own_files: tuple[Path, ...] = ()) -> bytes:
    """The bytes of a local file the CLI adds as a source; refuses what no trainer means to publish.

    Only regular files, never from system trees or hidden directories (/etc/passwd, ~/.ssh/...) or
    Marktwijzer's own files (`own_files`: the registry, the data directory with index and audit log),
    and not larger than an upload may be. Content checks follow in check_file, exactly as for uploads.
    """
    try:
        resolved = path.resolve(strict=True)
        info = resolved.stat()
    except (OSError, RuntimeError) as exc:
        raise UploadRefused(404, "file_not_found", f"Bestand {path.name!r} bestaat niet of is niet te lezen.") from exc
    if not stat.S_ISREG(info.st_mode):
        raise UploadRefused(415, "not_a_file", f"{path.name!r} is geen gewoon bestand (map, apparaat of pipe); geweigerd.")
    text = str(resolved)
    if any(text == root or text.startswith(root + "/") for root in SYSTEM_DIRS):
        raise UploadRefused(
            403, "system_file_refused",
            f"{path.name!r} is een systeembestand (buiten het corpus, in een systeemmap); zo'n bestand wordt geen bron.",
        )
    for own in own_files:
        own = own.resolve()
        if resolved == own or resolved.is_relative_to(own):
            raise UploadRefused(
                403, "own_file_refused",
                f"{path.name!r} hoort bij Marktwijzer zelf (register, index of auditlog); zo'n bestand wordt geen bron.",
            )
    if any(part.startswith(".") for part in resolved.parts[1:]):
        raise UploadRefused(
            403, "hidden_file_refused",
            f"{path.name!r} staat in een verborgen map of is verborgen (bijv. instellingen of sleutels); geweigerd.",
        )
    if info.st_size > max_bytes:
        raise UploadRefused(
            413, "file_too_large", f"Het bestand is {info.st_size / 1e6:.1f} MB; de grens is {max_bytes / 1e6:.1f} MB.",
        )
    with open(resolved, "rb") as handle:
        return handle.read(max_bytes + 1)  # the file may grow meanwhile: check_file refuses the excess


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
            scope=meta.scope.strip(), aliases=meta.aliases,
            # A spreadsheet is a factsheet unless the trainer chose another type than the default.
            type=SourceType.factsheet if extension in TABLE_EXTENSIONS and meta.type is SourceType.rapport else meta.type,
            file=f"{UPLOAD_DIR}/{source_id}{extension}", url=meta.url.strip(), status=meta.status,
        )
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in error["loc"]) or "(entry)", "message": error["msg"]}
            for error in exc.errors()
        ]
        fields = ", ".join(p["field"] for p in problems)
        raise UploadRefused(422, "invalid_metadata", f"Ongeldige gegevens bij de bron ({fields}).", problems) from exc


def _registry_refused(exc: RegistryError) -> UploadRefused:
    if isinstance(exc, RegistryBusy):
        return UploadRefused(503, "registry_busy", "Het bronnenregister is bezet; probeer het zo opnieuw.")
    return UploadRefused(500, "registry_invalid", f"Het bronnenregister is ongeldig: {exc}")


def add_source(settings: Settings, name: str, data: bytes, meta: UploadMetadata) -> SourceEntry:
    """Validate file and metadata, then write the file and the registry entry. Raises UploadRefused."""
    safe, extension, _pages = check_file(name, data, settings.max_upload_bytes)
    entry = build_entry(meta, safe, extension)
    destination = settings.corpus_dir / entry.file
    written = False

    def add(registry: Registry) -> Registry:
        nonlocal written
        if entry.id in registry:
            raise UploadRefused(409, "source_exists", f"Er is al een bron met id '{entry.id}'.")
        if destination.exists():
            raise UploadRefused(409, "file_exists", f"Het bestand {entry.file} bestaat al in het corpus.")
        updated = registry.with_added(entry)
        atomic_write(destination, data, prefix=".upload-")
        written = True
        return updated

    try:
        change_registry(settings.registry_path, add)
    except RegistryError as exc:
        _undo(destination, written)
        raise _registry_refused(exc) from exc
    except BaseException:
        _undo(destination, written)  # the registry was not saved: leave no orphaned file
        raise
    return entry


def _undo(destination: Path, written: bool) -> None:
    if written:
        destination.unlink(missing_ok=True)


def set_status(settings: Settings, source_id: str, status: SourceStatus) -> tuple[SourceEntry, bool]:
    """Change a source's status. Returns (entry, changed). Raises UploadRefused(404) for unknown ids."""
    changed = False

    def change(registry: Registry) -> Registry:
        nonlocal changed
        try:
            entry = registry.get(source_id)
        except KeyError as exc:
            raise UploadRefused(404, "source_not_found", f"Geen bron met id '{source_id}'.") from exc
        if entry.status is status:
            return registry  # the same object: nothing is saved
        changed = True
        return registry.with_status(source_id, status)

    try:
        updated = change_registry(settings.registry_path, change)
    except RegistryError as exc:
        raise _registry_refused(exc) from exc
    return updated.get(source_id), changed
