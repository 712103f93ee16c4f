"""Loaders: a file's bytes -> pages of raw text. The file type is sniffed from content, not name.

The parsers here run in whatever process calls them; `load_file` and `ingest.sandbox.parse_isolated`
run them in a child process with CPU, memory and output limits (the ingest and the upload checks use
those). The output limits (ParseLimits) are also enforced by the parsers themselves, before the
expensive work: a PDF whose pages share one big content stream is counted once per page.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

from pypdf import PdfReader
from pypdf.errors import FileNotDecryptedError
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, StreamObject
from pydantic import BaseModel, Field

from ingest.models import Page

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 200 * 1024 * 1024
TEXT_EXTENSIONS = (".txt", ".md", ".markdown")


class ParseLimits(BaseModel):
    """Bounds on the work one file may cause. The shipped sources use at most ~0.5 MB of content
    streams, 15 KB per page and 180 K characters of text; parsing costs ~1 s of CPU per MB of content."""

    max_content_bytes: int = Field(12_000_000, ge=1024, description="Decoded page content, summed over pages.")
    max_text_chars: int = Field(10_000_000, ge=1000, description="Extracted text of the whole file.")
    cpu_seconds: int = Field(30, ge=1, description="CPU time of the parsing child process.")
    memory_bytes: int = Field(1024 * 1024 * 1024, ge=64 * 1024 * 1024, description="Address space of the child.")
    wall_seconds: float = Field(90.0, gt=0, description="The child is killed after this (it runs at low priority).")


DEFAULT_LIMITS = ParseLimits()


class LoadError(Exception):
    """A file cannot be turned into text; the message is meant for the trainer who added it."""


class MacrosRefused(LoadError):
    """A workbook with a VBA project (.xlsm content): macros are never loaded, the file is refused."""


class LoadLimitExceeded(LoadError):
    """The file would cost more than ParseLimits allow; `message_nl` says so to a user in Dutch."""

    def __init__(self, message: str, message_nl: str) -> None:
        super().__init__(message)
        self.message_nl = message_nl


Loader = Callable[..., list[Page]]


def _has_pdf_trailer(data: bytes) -> bool:
    tail = data[-2048:]
    return b"%%EOF" in tail or b"startxref" in tail


def _zip_kind(data: bytes, name: str = "") -> str:
    """'xlsx' for an Excel workbook; any other ZIP (or a workbook with macros) is refused with the reason."""
    import zipfile

    try:
        names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        if name.lower().endswith((".xlsx", ".xlsm")):
            raise LoadError(f"the XLSX file is corrupt or truncated (not a readable ZIP archive: {exc})") from exc
        raise LoadError("this is a ZIP-based file (e.g. .docx), which is not supported (and it is damaged)") from exc
    if "xl/vbaProject.bin" in names:
        raise MacrosRefused(
            "the workbook contains macros (a VBA project, as in .xlsm); macros are never loaded: "
            "save it as a plain .xlsx without macros"
        )
    if "xl/workbook.xml" in names:
        return "xlsx"
    raise LoadError("this is a ZIP-based file (e.g. .docx) that is not an Excel workbook, which is not supported")


def sniff_kind(data: bytes, name: str = "") -> str:
    """'pdf', 'html', 'csv', 'xlsx' or 'text'. CSV is text whose name says .csv (the content of a CSV
    is plain text; the loader checks that it holds a table).

    A file named as text that merely starts with '%PDF-' (a note about PDF versions) but has no PDF
    trailer is text: no PDF reader could open it, so the content does not contradict the name.
    """
    head = data[:1024].removeprefix(b"\xef\xbb\xbf").lstrip()
    claims_text = name.lower().endswith(TEXT_EXTENSIONS)
    if data[:1024].find(b"%PDF-") != -1 and not (claims_text and not _has_pdf_trailer(data)):
        return "pdf"
    if head[:2] == b"PK":
        return _zip_kind(data, name)
    if name.lower().endswith((".xlsx", ".xlsm", ".xls")):
        raise LoadError("the file is named as an Excel workbook but is not one (no ZIP container; a corrupt "
                        "or old .xls file?); save it as .xlsx")
    if name.lower().endswith((".csv", ".tsv")):
        return "csv"
    lowered = head[:512].lower()
    if lowered.startswith((b"<!doctype html", b"<html")) or name.lower().endswith((".html", ".htm")):
        return "html"
    return "text"


def _text_limit(limits: ParseLimits) -> LoadLimitExceeded:
    count = f"{limits.max_text_chars:,}"
    return LoadLimitExceeded(
        f"the file yields more than {count} characters of text; split it into smaller files",
        f"Het bestand levert meer dan {count.replace(',', '.')} tekens tekst op; splits het in kleinere bestanden.",
    )


def _stream_key(obj: object) -> tuple[int, int] | int:
    return (obj.idnum, obj.generation) if isinstance(obj, IndirectObject) else id(obj)


def _page_content_bytes(page: DictionaryObject, sizes: dict[object, int]) -> int:
    """Decoded bytes of a page's content streams and the form XObjects it can draw, each counted once
    for this page. `sizes` caches decoded lengths across pages: a shared stream is decoded once but
    counted for every page that uses it (that is the work extract_text will do)."""
    total = 0
    seen: set[object] = set()
    pending: list[tuple[object, int]] = [(page.get("/Contents"), 0)]
    resources: list[tuple[object, int]] = [(page.get("/Resources"), 0)]
    while pending or resources:
        if pending:
            raw, depth = pending.pop()
            obj = raw.get_object() if isinstance(raw, IndirectObject) else raw
            if isinstance(obj, ArrayObject):
                pending.extend((item, depth) for item in obj)
                continue
            if not isinstance(obj, StreamObject):
                continue
            key = _stream_key(raw)
            if key in seen:
                continue
            seen.add(key)
            if key not in sizes:
                sizes[key] = len(obj.get_data())
            total += sizes[key]
            if depth < 16 and obj.get("/Subtype") == "/Form":
                resources.append((obj.get("/Resources"), depth + 1))
        else:
            raw_res, depth = resources.pop()
            res = raw_res.get_object() if isinstance(raw_res, IndirectObject) else raw_res
            if not isinstance(res, DictionaryObject):
                continue
            xobjects = res.get("/XObject")
            xobjects = xobjects.get_object() if isinstance(xobjects, IndirectObject) else xobjects
            if isinstance(xobjects, DictionaryObject):
                for raw_x in xobjects.values():
                    x = raw_x.get_object() if isinstance(raw_x, IndirectObject) else raw_x
                    if isinstance(x, StreamObject) and x.get("/Subtype") == "/Form":
                        pending.append((raw_x, depth))
    return total


def _check_content_budget(reader: PdfReader, limits: ParseLimits) -> None:
    sizes: dict[object, int] = {}
    total = 0
    for page in reader.pages:
        total += _page_content_bytes(page, sizes)
        if total > limits.max_content_bytes:
            mb = limits.max_content_bytes / 1e6
            raise LoadLimitExceeded(
                f"the PDF's pages draw more than {mb:.0f} MB of content (a stream shared by many pages counts "
                "for each page); this is how a decompression bomb looks, so it is refused",
                f"De pagina's van deze PDF bevatten samen meer dan {mb:.0f} MB aan opmaakinstructies "
                "(een gedeelde inhoud telt per pagina). Zo ziet een decompressiebom eruit; het bestand is geweigerd.",
            )


def load_pdf(data: bytes, limits: ParseLimits = DEFAULT_LIMITS) -> list[Page]:
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                reader.decrypt("")
            except Exception as exc:  # pypdf raises several types here
                raise LoadError("the PDF is encrypted (password-protected); upload an unprotected copy") from exc
        _check_content_budget(reader, limits)
        labels = _page_labels(reader)
        pages: list[Page] = []
        chars = 0
        for index, page in enumerate(reader.pages):
            text = page.extract_text() or ""
            chars += len(text)
            if chars > limits.max_text_chars:
                raise _text_limit(limits)
            pages.append(Page(number=index + 1, label=labels[index] if index < len(labels) else "", text=text))
        _attach_tables(reader, pages)
    except LoadError:
        raise
    except MemoryError as exc:
        raise LoadLimitExceeded(
            "the PDF needs more memory to read than allowed",
            "Het lezen van deze PDF vraagt meer geheugen dan is toegestaan; het bestand is geweigerd.",
        ) from exc
    except FileNotDecryptedError as exc:
        raise LoadError("the PDF is encrypted (password-protected); upload an unprotected copy") from exc
    except Exception as exc:  # pypdf raises many types on damaged files (even NotImplementedError)
        raise LoadError(f"the PDF is corrupt or truncated and cannot be read ({type(exc).__name__}: {exc})") from exc
    if not pages:
        raise LoadError("the PDF has no pages")
    if not any(page.text.strip() for page in pages):
        raise LoadError("the PDF has no extractable text (scanned or image-only?); OCR it first")
    return pages


def _attach_tables(reader: PdfReader, pages: list[Page]) -> None:
    """Typed tables under the PDF's table captions (ingest.pdf_tables); never fails the PDF itself."""
    from ingest.pdf_tables import find_tables  # pdf_tables imports ingest.tables only

    try:
        found = find_tables(reader, [page.text for page in pages])
    except Exception as exc:  # noqa: BLE001  (a table we cannot read stays as the page's loose lines)
        log.warning("PDF table detection failed (%s: %s); the page text is indexed as before", type(exc).__name__, exc)
        return
    for table in found:
        pages[table.page - 1].tables.append(table)


def _page_labels(reader: PdfReader) -> list[str]:
    try:
        return list(reader.page_labels)
    except Exception:  # broken label trees are common and never fatal
        return []


def decode_text(data: bytes) -> str:
    """Decode UTF-8 (with or without BOM), UTF-16 with BOM, or Windows-1252/Latin-1 text."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise LoadError("the file claims UTF-16 but cannot be decoded") from exc
    if b"\x00" in data[:4096]:
        raise LoadError("this looks like a binary file, not text (it contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise LoadError("the text is in no supported encoding (UTF-8, UTF-16, Windows-1252)") from exc
        log.info("decoded as Windows-1252 (not valid UTF-8)")
    control = sum(1 for ch in text[:20000] if ord(ch) < 32 and ch not in "\n\r\t\f")
    if control > max(10, len(text[:20000]) // 100):
        raise LoadError("this looks like a binary file, not text (too many control characters)")
    return text


def load_text(data: bytes, limits: ParseLimits = DEFAULT_LIMITS) -> list[Page]:
    """Plain text and Markdown. A form feed separates pages where the file has them."""
    text = decode_text(data)
    if len(text) > limits.max_text_chars:
        raise _text_limit(limits)
    parts = text.split("\f") if "\f" in text else [text]
    pages = [Page(number=i + 1, text=part) for i, part in enumerate(parts)]
    if not any(page.text.strip() for page in pages):
        raise LoadError("the file is empty")
    return pages


class _HTMLText(HTMLParser):
    """Visible text of an HTML page; headings become Markdown headings, blocks become lines."""

    SKIP = {"script", "style", "noscript", "template", "svg", "title"}
    BLOCKS = {"p", "div", "section", "article", "br", "tr", "table", "ul", "ol", "header", "footer"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skip_depth += 1
        elif tag in {"h1", "h2", "h3", "h4", "h5", "h6"}:
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag == "li":
            self.parts.append("\n• ")
        elif tag in self.BLOCKS:
            self.parts.append("\n\n" if tag != "br" else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in {"h1", "h2", "h3", "h4", "h5", "h6"} or tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data.replace("\n", " "))


def load_html(data: bytes, limits: ParseLimits = DEFAULT_LIMITS) -> list[Page]:
    parser = _HTMLText()
    parser.feed(decode_text(data))
    parser.close()
    text = "".join(parser.parts)
    if len(text) > limits.max_text_chars:
        raise _text_limit(limits)
    if not text.strip():
        raise LoadError("the HTML page has no visible text")
    return [Page(number=1, text=text)]


def _load_csv(data: bytes, limits: ParseLimits = DEFAULT_LIMITS) -> list[Page]:
    from ingest.table_loaders import load_csv  # table_loaders imports this module

    return load_csv(data, limits)


def _load_xlsx(data: bytes, limits: ParseLimits = DEFAULT_LIMITS) -> list[Page]:
    from ingest.table_loaders import load_xlsx

    return load_xlsx(data, limits)


LOADERS: dict[str, Loader] = {"pdf": load_pdf, "text": load_text, "html": load_html, "csv": _load_csv, "xlsx": _load_xlsx}


def load_file(path: Path, limits: ParseLimits = DEFAULT_LIMITS) -> list[Page]:
    """Load any supported file in a limited child process; raises LoadError a trainer can act on."""
    from ingest.sandbox import parse_isolated  # sandbox imports this module for the parsers

    try:
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise LoadError(f"file not found: {path}") from exc
    if size == 0:
        raise LoadError("the file is empty (0 bytes)")
    if size > MAX_FILE_BYTES:
        raise LoadError(f"the file is {size / 1e6:.0f} MB; the limit is {MAX_FILE_BYTES / 1e6:.0f} MB")
    data = path.read_bytes()
    return parse_isolated(data, sniff_kind(data, path.name), limits)
