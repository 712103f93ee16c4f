"""The files behind approved sources (issue 17): what the source viewer, `GET /v1/sources/{id}/file`
and the printed page labels of citations read.

The file path always comes from the registry entry (`file`, relative to the corpus directory) and
must resolve inside the corpus directory; nothing a client sends ever becomes a path. Only approved
sources are served: a withdrawn source's file is gone from every caller at once, before the next
ingest removes it from the index.
"""

from __future__ import annotations

import io
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from assistant.types import Answer
from ingest.registry import RegistryError, SourceEntry, load_registry
from ingest.settings import Settings

log = logging.getLogger(__name__)

PDF = "application/pdf"
# HTML sources are served as plain text: a source's scripts never run in a viewer's origin.
TEXT_TYPES = {".txt": "text/plain; charset=utf-8", ".md": "text/markdown; charset=utf-8",
              ".markdown": "text/markdown; charset=utf-8", ".html": "text/plain; charset=utf-8",
              ".htm": "text/plain; charset=utf-8", ".csv": "text/csv; charset=utf-8",
              ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
RENDER_SCALE = 1.4  # about 110 dpi: readable on screen, ~100 ms per page on one core


class SourceFileUnavailable(LookupError):
    """No approved source with this id, or its file is missing (Dutch message)."""


@dataclass(frozen=True)
class SourceFile:
    entry: SourceEntry
    path: Path
    content_type: str

    @property
    def filename(self) -> str:
        """The name the file is offered under: the source id (never the stored or uploaded name)."""
        extension = ".pdf" if self.content_type == PDF else (self.path.suffix.lower() if self.path.suffix.lower() in (".md", ".csv", ".xlsx") else ".txt")
        return f"{self.entry.id}{extension}"

    def read(self) -> bytes:
        return self.path.read_bytes()


def _content_type(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(1024)
    if head.lstrip().startswith(b"%PDF-"):
        return PDF
    return TEXT_TYPES.get(path.suffix.lower(), "text/plain; charset=utf-8")


def approved_source_file(settings: Settings, source_id: str) -> SourceFile:
    """The approved source's file, resolved from the registry and checked to lie in the corpus."""
    try:
        entries = load_registry(settings.registry_path).sources
    except RegistryError as exc:
        raise SourceFileUnavailable("Het bronnenregister is ongeldig.") from exc
    entry = next((e for e in entries if e.id == source_id and e.approved), None)
    if entry is None:
        raise SourceFileUnavailable(f"Geen goedgekeurde bron met id '{source_id}'.")
    corpus = settings.corpus_dir.resolve()
    path = (corpus / entry.file).resolve()
    if not path.is_relative_to(corpus) or not path.is_file():  # a registry edited by hand: never outside the corpus
        log.warning("file of source %s is missing or outside the corpus directory", entry.id)
        raise SourceFileUnavailable(f"Het bestand van bron '{source_id}' is niet beschikbaar.")
    return SourceFile(entry=entry, path=path, content_type=_content_type(path))


# -- printed page labels -----------------------------------------------------------------------

_labels: dict[str, tuple[tuple[int, int], list[str] | None]] = {}
_labels_lock = threading.Lock()


def page_labels(path: Path) -> list[str] | None:
    """pypdf's labels per page when the PDF defines /PageLabels, else None (then the printed number
    is not known; the page index stays the reference). Cached per file state."""
    try:
        stat = path.stat()
    except OSError:
        return None
    state = (stat.st_mtime_ns, stat.st_size)
    key = str(path)
    with _labels_lock:
        cached = _labels.get(key)
    if cached is not None and cached[0] == state:
        return cached[1]
    labels: list[str] | None = None
    try:
        from pypdf import PdfReader

        reader = PdfReader(str(path))
        if "/PageLabels" in reader.trailer["/Root"]:
            labels = list(reader.page_labels)
    except Exception:  # noqa: BLE001  (a file pypdf cannot read has no labels; the index says so elsewhere)
        log.info("no page labels read from a source file (%s)", path.suffix)
    with _labels_lock:
        _labels[key] = (state, labels)
    return labels


def page_label(settings: Settings, source_id: str, page: int) -> str | None:
    try:
        source = approved_source_file(settings, source_id)
    except SourceFileUnavailable:
        return None
    if source.content_type != PDF:
        return None
    labels = page_labels(source.path)
    if not labels or not 1 <= page <= len(labels):
        return None
    return labels[page - 1]


def with_page_labels(answer: Answer, settings: Settings) -> Answer:
    """Sets `page_label` on each citation whose PDF defines printed page labels (in place; returned)."""
    for citation in answer.citations:
        if citation.page_label is None:
            citation.page_label = page_label(settings, citation.source_id, citation.page)
    return answer


# -- the in-app viewer -------------------------------------------------------------------------


def pdf_page_count(data: bytes) -> int:
    from pypdf import PdfReader

    return len(PdfReader(io.BytesIO(data)).pages)


def pdf_page_text(data: bytes, page: int) -> str:
    """The text of one page (1-based), as pypdf extracts it (for finding the cited sentences)."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if not 1 <= page <= len(reader.pages):
        return ""
    return readable_text(reader.pages[page - 1].extract_text() or "")


def readable_text(raw: str) -> str:
    """Extracted page text as paragraphs: runs of spaces collapsed, lines broken by the layout joined
    (an empty line ends a paragraph), so the cited sentences match the passage text."""
    paragraphs: list[str] = []
    current: list[str] = []
    for line in raw.splitlines():
        words = " ".join(line.split())
        if words:
            current.append(words)
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return "\n".join(paragraphs)


def render_pdf_page(data: bytes, page: int, scale: float = RENDER_SCALE) -> bytes:
    """One page (1-based) as PNG, drawn by PDFium (pypdfium2)."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(data)
    try:
        if not 1 <= page <= len(document):
            raise ValueError(f"pagina {page} bestaat niet")
        bitmap = document[page - 1].render(scale=scale)
        image = bitmap.to_pil()
        out = io.BytesIO()
        image.save(out, format="PNG", optimize=False)
        return out.getvalue()
    finally:
        document.close()
