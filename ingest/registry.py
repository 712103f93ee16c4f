"""The source registry: which files are approved sources, with their metadata (corpus/sources.toml)."""

from __future__ import annotations

import datetime as dt
import fcntl
import re
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from urllib.parse import urlsplit

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ingest.atomic import atomic_write

SOURCE_ID_PATTERN = r"^[a-z0-9][a-z0-9.\-]{1,118}[a-z0-9]$"
URL_SCHEMES = ("http", "https")
LOCK_NAME = ".registry.lock"
LOCK_TIMEOUT_S = 30.0


class SourceStatus(str, Enum):
    approved = "approved"
    draft = "draft"
    withdrawn = "withdrawn"


class SourceType(str, Enum):
    regio_in_beeld = "regio-in-beeld"
    handreiking = "handreiking"
    factsheet = "factsheet"
    magazine = "magazine"
    rapport = "rapport"


class SourceEntry(BaseModel):
    """One approved (or draft, or withdrawn) source document."""

    model_config = ConfigDict(extra="forbid", use_enum_values=False)

    id: str = Field(pattern=SOURCE_ID_PATTERN)
    title: str = Field(min_length=1)
    publisher: str = Field(min_length=1)
    edition: str = Field(min_length=1)
    published: dt.date | int = Field(description="Publication date, or the year alone.")
    period: str = Field("", description="Reference period of the figures, as said to users.")
    regions: list[str] = Field(default_factory=list, description="Arbeidsmarktregio names covered.")
    municipalities: list[str] = Field(default_factory=list)
    provinces: list[str] = Field(default_factory=list)
    scope: str = ""
    aliases: list[str] = Field(default_factory=list, description="Names advisers use for it ('AIZ', 'SER').")
    type: SourceType
    file: str = Field(min_length=1, description="Path relative to the corpus directory.")
    url: str = ""
    status: SourceStatus = SourceStatus.draft

    @field_validator("published")
    @classmethod
    def _plausible_year(cls, value: dt.date | int) -> dt.date | int:
        year = value.year if isinstance(value, dt.date) else value
        if not 1900 <= year <= 2100:
            raise ValueError(f"year {year} is not plausible")
        return value

    @field_validator("file")
    @classmethod
    def _relative_inside_corpus(cls, value: str) -> str:
        path = Path(value)
        if path.is_absolute() or ".." in path.parts:
            raise ValueError("must be a relative path inside the corpus directory")
        return value

    @field_validator("url")
    @classmethod
    def _web_address(cls, value: str) -> str:
        # The UI renders this as a link: only web addresses, never javascript:, data:, file: ...
        value = value.strip()
        if not value:
            return value
        if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise ValueError("must be a web address without spaces or control characters")
        parts = urlsplit(value)
        if parts.scheme.lower() not in URL_SCHEMES or not parts.hostname:
            raise ValueError("must be an http:// or https:// address with a host name")
        return value

    @property
    def approved(self) -> bool:
        return self.status is SourceStatus.approved

    @property
    def year(self) -> int:
        return self.published.year if isinstance(self.published, dt.date) else self.published


class RegistryError(ValueError):
    """The registry file cannot be read or an entry is invalid; the message names entry and field."""


class RegistryBusy(RegistryError):
    """Another process held the registry lock for longer than LOCK_TIMEOUT_S."""


class Registry(BaseModel):
    sources: list[SourceEntry] = Field(default_factory=list)

    def get(self, source_id: str) -> SourceEntry:
        for entry in self.sources:
            if entry.id == source_id:
                return entry
        raise KeyError(source_id)

    def __contains__(self, source_id: object) -> bool:
        return any(entry.id == source_id for entry in self.sources)

    def approved(self) -> list[SourceEntry]:
        return [entry for entry in self.sources if entry.approved]

    def with_status(self, source_id: str, status: SourceStatus) -> Registry:
        entry = self.get(source_id)
        updated = entry.model_copy(update={"status": status})
        return Registry(sources=[updated if e.id == source_id else e for e in self.sources])

    def with_added(self, entry: SourceEntry) -> Registry:
        if entry.id in self:
            raise RegistryError(f"source '{entry.id}': id already in the registry")
        return Registry(sources=[*self.sources, entry])


def _describe(entry_raw: object, index: int) -> str:
    if isinstance(entry_raw, dict) and isinstance(entry_raw.get("id"), str):
        return f"source '{entry_raw['id']}' (entry {index + 1})"
    return f"entry {index + 1}"


def load_registry(path: Path) -> Registry:
    """Read and validate the registry. Invalid entries raise RegistryError naming entry and field.

    Duplicate ids are not rejected here: the ingest reports each duplicate as a failed source and
    still indexes the others.
    """
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RegistryError(f"registry file not found: {path}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RegistryError(f"{path}: not valid TOML: {exc}") from exc
    unknown = set(raw) - {"sources"}
    if unknown:
        raise RegistryError(f"{path}: unknown top-level key(s): {', '.join(sorted(unknown))}")
    entries_raw = raw.get("sources", [])
    if not isinstance(entries_raw, list):
        raise RegistryError(f"{path}: 'sources' must be an array of tables ([[sources]])")
    problems: list[str] = []
    entries: list[SourceEntry] = []
    for index, entry_raw in enumerate(entries_raw):
        try:
            entries.append(SourceEntry.model_validate(entry_raw))
        except ValidationError as exc:
            for error in exc.errors():
                field = ".".join(str(part) for part in error["loc"]) or "(entry)"
                problems.append(f"{_describe(entry_raw, index)}, field '{field}': {error['msg']}")
    if problems:
        raise RegistryError(f"{path}: invalid registry:\n  " + "\n  ".join(problems))
    return Registry(sources=entries)


def duplicate_ids(registry: Registry) -> set[str]:
    seen: set[str] = set()
    duplicates: set[str] = set()
    for entry in registry.sources:
        (duplicates if entry.id in seen else seen).add(entry.id)
    return duplicates


def save_registry(registry: Registry, path: Path) -> None:
    """Write atomically (temp file + rename), so a crash never leaves a half-written registry."""
    data = {"sources": [_entry_to_toml(entry) for entry in registry.sources]}
    text = "# Approved sources of Marktwijzer. Edit with `marktwijzer sources ...` or by hand.\n\n"
    text += tomli_w.dumps(data)
    atomic_write(path, text, prefix=".sources-")


def _entry_to_toml(entry: SourceEntry) -> dict[str, object]:
    data = entry.model_dump(mode="python", exclude_defaults=False)
    data["type"] = entry.type.value
    data["status"] = entry.status.value
    return {key: value for key, value in data.items() if value not in ("", [], None)}


def slugify(text: str) -> str:
    """A registry id from free text (file names of uploads); always matches SOURCE_ID_PATTERN's ends."""
    slug = re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.")
    slug = slug[:120].strip("-.")  # cut first, then strip: a cut may end on '-'
    return slug if len(slug) >= 3 else (slug + "-source").strip("-")


# Serialises registry changes: flock between processes (API workers, UI, CLI), a thread lock inside
# one (flock on separate descriptors would also exclude threads, the lock just keeps it cheap).
_thread_lock = threading.Lock()


@contextmanager
def registry_lock(path: Path, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Exclusive lock for changing the registry at `path` (lock file next to it). Raises RegistryBusy."""
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_s
    if not _thread_lock.acquire(timeout=timeout_s):
        raise RegistryBusy(f"the source registry stayed locked for more than {timeout_s:.0f} s")
    try:
        with open(path.parent / LOCK_NAME, "a") as handle:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise RegistryBusy(
                            f"the source registry stayed locked for more than {timeout_s:.0f} s"
                        ) from None
                    time.sleep(0.01)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        _thread_lock.release()


def change_registry(path: Path, change: Callable[[Registry], Registry]) -> Registry:
    """The one way to change the registry: lock -> load -> change -> atomic save -> unlock.

    `change` gets the registry as it is on disk now (never a copy read earlier) and returns the new
    one; returning the same object saves nothing. Whatever `change` raises propagates with nothing
    saved, so it may refuse a change by raising. Side effects `change` makes (writing the file of a
    new source) happen under the same lock, so no other change sees them half done.
    """
    with registry_lock(path):
        current = load_registry(path)
        updated = change(current)
        if updated is not current:
            save_registry(updated, path)
        return updated
