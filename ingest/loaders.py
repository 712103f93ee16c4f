"""Loaders: a file's bytes -> pages of raw text. The file type is sniffed from content, not name."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

from pypdf import PdfReader
from pypdf.errors import FileNotDecryptedError

from ingest.models import Page

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 200 * 1024 * 1024


class LoadError(Exception):
    """A file cannot be turned into text; the message is meant for the trainer who added it."""


Loader = Callable[[bytes], list[Page]]


def sniff_kind(data: bytes, name: str = "") -> str:
    """'pdf', 'html' or 'text'. Table kinds ('csv', 'xlsx') can be added to LOADERS later."""
    head = data[:1024].removeprefix(b"\xef\xbb\xbf").lstrip()
    if data[:1024].find(b"%PDF-") != -1:
        return "pdf"
    if head[:2] == b"PK":
        raise LoadError("this is a ZIP-based file (e.g. .docx or .xlsx), which is not supported yet")
    lowered = head[:512].lower()
    if lowered.startswith((b"<!doctype html", b"<html")) or name.lower().endswith((".html", ".htm")):
        return "html"
    return "text"


def load_pdf(data: bytes) -> list[Page]:
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                reader.decrypt("")
            except Exception as exc:  # pypdf raises several types here
                raise LoadError("the PDF is encrypted (password-protected); upload an unprotected copy") from exc
        labels = _page_labels(reader)
        pages: list[Page] = []
        for index, page in enumerate(reader.pages):
            text = page.extract_text() or ""
            pages.append(Page(number=index + 1, label=labels[index] if index < len(labels) else "", text=text))
    except LoadError:
        raise
    except FileNotDecryptedError as exc:
        raise LoadError("the PDF is encrypted (password-protected); upload an unprotected copy") from exc
    except Exception as exc:  # pypdf raises many types on damaged files (even NotImplementedError)
        raise LoadError(f"the PDF is corrupt or truncated and cannot be read ({type(exc).__name__}: {exc})") from exc
    if not pages:
        raise LoadError("the PDF has no pages")
    if not any(page.text.strip() for page in pages):
        raise LoadError("the PDF has no extractable text (scanned or image-only?); OCR it first")
    return pages


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


def load_text(data: bytes) -> list[Page]:
    """Plain text and Markdown. A form feed separates pages where the file has them."""
    text = decode_text(data)
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


def load_html(data: bytes) -> list[Page]:
    parser = _HTMLText()
    parser.feed(decode_text(data))
    parser.close()
    text = "".join(parser.parts)
    if not text.strip():
        raise LoadError("the HTML page has no visible text")
    return [Page(number=1, text=text)]


LOADERS: dict[str, Loader] = {"pdf": load_pdf, "text": load_text, "html": load_html}


def load_file(path: Path) -> list[Page]:
    """Load any supported file; raises LoadError with a message a trainer can act on."""
    try:
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise LoadError(f"file not found: {path}") from exc
    if size == 0:
        raise LoadError("the file is empty (0 bytes)")
    if size > MAX_FILE_BYTES:
        raise LoadError(f"the file is {size / 1e6:.0f} MB; the limit is {MAX_FILE_BYTES / 1e6:.0f} MB")
    data = path.read_bytes()
    return LOADERS[sniff_kind(data, path.name)](data)
