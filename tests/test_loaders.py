"""Unit tests of the loaders: real PDFs (made with reportlab, or shipped), text encodings, HTML."""

from __future__ import annotations

import ingest  # noqa: F401  (offline environment first)

import io
import random
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from ingest.loaders import (
    LoadError,
    decode_text,
    load_file,
    load_html,
    load_pdf,
    load_text,
    sniff_kind,
)

REPO = Path(__file__).resolve().parent.parent
PDF_DIR = REPO / "corpus" / "pdf"
AMERSFOORT_PDF = PDF_DIR / "uwv-regio-in-beeld-2025-2026-amersfoort.pdf"


def make_pdf(pages: list[list[str]], compress: bool = False) -> bytes:
    """A real PDF with one text line per entry, one page per list."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, pageCompression=int(compress))
    for lines in pages:
        y = 780
        for line in lines:
            pdf.drawString(72, y, line)
            y -= 16
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def encrypt(data: bytes, user_password: str, owner_password: str = "eigenaar") -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password=owner_password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


THREE_PAGES = [
    ["Kwartaalbericht Zuiderhaven", "Eerste pagina over de regionale arbeidsmarkt."],
    ["Tweede pagina: financiële steun voor omscholing."],
    ["Derde pagina met de conclusies van het onderzoek."],
]


# --- PDF ------------------------------------------------------------------------------------------


def test_multi_page_pdf_keeps_page_numbers_and_text(tmp_path: Path) -> None:
    path = tmp_path / "bericht.pdf"
    path.write_bytes(make_pdf(THREE_PAGES))
    pages = load_file(path)
    assert [page.number for page in pages] == [1, 2, 3]
    assert "Eerste pagina" in pages[0].text
    assert "financiële steun" in pages[1].text
    assert "Derde pagina" in pages[2].text
    assert "Derde" not in pages[0].text + pages[1].text


def test_compressed_pdf_loads_too() -> None:
    pages = load_pdf(make_pdf(THREE_PAGES, compress=True))
    assert len(pages) == 3
    assert "conclusies" in pages[2].text


def test_encrypted_pdf_raises_load_error_about_encryption() -> None:
    data = encrypt(make_pdf(THREE_PAGES), user_password="geheim")
    assert PdfReader(io.BytesIO(data)).is_encrypted  # the fixture really is encrypted
    with pytest.raises(LoadError, match="encrypted"):
        load_pdf(data)


def test_pdf_with_only_an_owner_password_opens() -> None:
    # An empty user password means anyone may read it; only editing is restricted.
    pages = load_pdf(encrypt(make_pdf(THREE_PAGES), user_password=""))
    assert len(pages) == 3
    assert "Tweede pagina" in pages[1].text


@pytest.mark.parametrize("pdf_path", sorted(PDF_DIR.glob("*.pdf"))[:2], ids=lambda p: p.stem)
def test_truncated_real_pdf_raises_load_error(tmp_path: Path, pdf_path: Path) -> None:
    data = pdf_path.read_bytes()
    path = tmp_path / "afgebroken.pdf"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(LoadError, match="corrupt or truncated"):
        load_file(path)


def test_truncated_generated_pdf_raises_load_error() -> None:
    data = make_pdf(THREE_PAGES * 5, compress=True)
    with pytest.raises(LoadError):
        load_pdf(data[: len(data) // 2])


@pytest.mark.parametrize("seed", range(5))
def test_random_bytes_with_a_pdf_header_raise_load_error(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    data = b"%PDF-1.7\n" + bytes(rng.randrange(256) for _ in range(2000 + 500 * seed))
    path = tmp_path / "ruis.pdf"
    path.write_bytes(data)
    with pytest.raises(LoadError):  # never another exception type
        load_file(path)


def test_pdf_with_a_damaged_stream_filter_raises_load_error() -> None:
    data = make_pdf(THREE_PAGES, compress=True)
    assert b"/FlateDecode" in data
    damaged = data.replace(b"/FlateDecode", b"/FlateXecode")  # one flipped byte, same length
    with pytest.raises(LoadError):
        load_pdf(damaged)


def test_zero_byte_file_raises_load_error(tmp_path: Path) -> None:
    path = tmp_path / "leeg.pdf"
    path.write_bytes(b"")
    with pytest.raises(LoadError, match="empty"):
        load_file(path)


def test_image_only_pdf_raises_load_error_about_missing_text() -> None:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    for _ in range(2):
        pdf.rect(72, 400, 300, 200, fill=1)  # drawn content, no text at all
        pdf.showPage()
    pdf.save()
    with pytest.raises(LoadError, match="no extractable text"):
        load_pdf(buffer.getvalue())


def test_pdf_of_blank_text_raises_load_error() -> None:
    with pytest.raises(LoadError, match="no extractable text"):
        load_pdf(make_pdf([["   "], [" "]]))


def test_missing_file_raises_load_error(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="not found"):
        load_file(tmp_path / "bestaat-niet.pdf")


def test_zip_based_file_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "notitie.docx"
    path.write_bytes(b"PK\x03\x04" + b"\x14\x00" * 50)
    with pytest.raises(LoadError, match="not supported"):
        load_file(path)


def test_shipped_pdf_loads_with_its_pages_and_title() -> None:
    pages = load_file(AMERSFOORT_PDF)
    assert len(pages) == len(PdfReader(AMERSFOORT_PDF).pages) == 38
    assert [page.number for page in pages] == list(range(1, 39))
    assert "Regio in Beeld 2025-2026 Amersfoort" in pages[0].text
    assert all(page.text.strip() for page in pages[:3])


# --- text -----------------------------------------------------------------------------------------

DUTCH = "Financiële steun voor één werkzoekende: € 9.500 per jaar, ‘zo’n’ regeling."


@pytest.mark.parametrize(
    "data",
    [
        DUTCH.encode("utf-8"),
        b"\xef\xbb\xbf" + DUTCH.encode("utf-8"),
        DUTCH.encode("utf-16"),  # with BOM (native order)
        b"\xff\xfe" + DUTCH.encode("utf-16-le"),
        b"\xfe\xff" + DUTCH.encode("utf-16-be"),
    ],
    ids=["utf8", "utf8-bom", "utf16", "utf16-le-bom", "utf16-be-bom"],
)
def test_unicode_encodings_decode_correctly(data: bytes) -> None:
    assert decode_text(data) == DUTCH  # BOM removed, every character intact


def test_windows_1252_decodes_correctly(tmp_path: Path) -> None:
    text = "De financiële positie van één op de vijf werkgevers verslechterde – met € 300."
    path = tmp_path / "notitie.txt"
    path.write_bytes(text.encode("cp1252"))
    assert load_file(path)[0].text == text


def test_binary_file_with_nul_bytes_raises_load_error(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_bytes(b"abc\x00\x01\x02" * 100)
    with pytest.raises(LoadError, match="binary"):
        load_file(path)


def test_text_full_of_control_characters_raises_load_error() -> None:
    with pytest.raises(LoadError, match="binary"):
        decode_text(bytes(range(1, 9)) * 50)


def test_form_feeds_split_pages() -> None:
    pages = load_text("Pagina een.\n\fPagina twee.\n\fPagina drie.\n".encode())
    assert [page.number for page in pages] == [1, 2, 3]
    assert [page.text.strip() for page in pages] == ["Pagina een.", "Pagina twee.", "Pagina drie."]


def test_text_without_form_feeds_is_one_page() -> None:
    pages = load_text(b"Regel een.\nRegel twee.\n")
    assert len(pages) == 1
    assert pages[0].number == 1
    assert pages[0].text == "Regel een.\nRegel twee.\n"


def test_whitespace_only_text_raises_load_error() -> None:
    with pytest.raises(LoadError, match="empty"):
        load_text(b" \n\t\n\f \n")


# --- HTML -----------------------------------------------------------------------------------------

HTML = b"""<!DOCTYPE html>
<html><head><title>Paginatitel</title><style>body { color: red; }</style>
<script>var geheim = "tracking";</script></head>
<body>
<h2>Vacatures in de zorg</h2>
<p>Het aantal vacatures steeg &amp; de krapte bleef.</p>
<ul><li>Verpleegkundigen</li><li>Doktersassistenten</li></ul>
<script>document.write("niet zichtbaar");</script>
<style>.verborgen { display: none; }</style>
<noscript>Zet JavaScript aan</noscript>
</body></html>"""


def test_html_drops_script_and_style_and_head() -> None:
    (page,) = load_html(HTML)
    assert "geheim" not in page.text
    assert "tracking" not in page.text
    assert "niet zichtbaar" not in page.text
    assert "color" not in page.text
    assert "verborgen" not in page.text and "display" not in page.text
    assert "JavaScript" not in page.text
    assert "Paginatitel" not in page.text
    assert "Het aantal vacatures steeg & de krapte bleef." in page.text


def test_html_h2_becomes_a_markdown_heading_line() -> None:
    (page,) = load_html(HTML)
    lines = [line.strip() for line in page.text.splitlines()]
    assert "## Vacatures in de zorg" in lines


def test_html_list_items_become_bullets() -> None:
    (page,) = load_html(HTML)
    lines = [line.strip() for line in page.text.splitlines()]
    assert "• Verpleegkundigen" in lines
    assert "• Doktersassistenten" in lines


def test_html_file_is_loaded_as_html(tmp_path: Path) -> None:
    path = tmp_path / "pagina.html"
    path.write_bytes(HTML)
    (page,) = load_file(path)
    assert "## Vacatures in de zorg" in page.text
    assert "tracking" not in page.text


def test_html_without_visible_text_raises_load_error() -> None:
    with pytest.raises(LoadError, match="no visible text"):
        load_html(b"<html><head><title>Leeg</title></head><body><script>x()</script></body></html>")


def test_html_with_omitted_head_end_tag_keeps_its_body() -> None:
    data = b"<html><head><title>T</title><body><h2>Kop</h2><p>De werkloosheid daalde.</p></body></html>"
    (page,) = load_html(data)
    assert "De werkloosheid daalde." in page.text


# --- sniffing -------------------------------------------------------------------------------------


def test_sniff_kind_detects_pdf_by_content_even_with_a_txt_name(tmp_path: Path) -> None:
    data = make_pdf(THREE_PAGES)
    assert sniff_kind(data, "notities.txt") == "pdf"
    path = tmp_path / "notities.txt"
    path.write_bytes(data)
    pages = load_file(path)  # loaded as PDF, not as text full of PDF syntax
    assert len(pages) == 3
    assert "Eerste pagina" in pages[0].text
    assert "%PDF" not in pages[0].text


def test_sniff_kind_html_and_text() -> None:
    assert sniff_kind(b"<!DOCTYPE html><html></html>", "x.txt") == "html"
    assert sniff_kind(b"  \n<html><body>x</body></html>", "") == "html"
    assert sniff_kind(b"gewone tekst", "pagina.HTM") == "html"
    assert sniff_kind(b"# Markdown\n\nTekst.", "notitie.md") == "text"


def test_sniff_kind_detects_html_after_a_utf8_bom() -> None:
    assert sniff_kind(b"\xef\xbb\xbf<!DOCTYPE html><html><body><p>x</p></body></html>", "upload") == "html"


def test_text_that_starts_with_pdf_marker_is_text_when_it_is_no_pdf(tmp_path: Path) -> None:
    """Issue 20: a note that begins '%PDF-1.7 is ...' has no PDF trailer, so it is what its name says."""
    note = b"%PDF-1.7 is de versie die de Regio in Beeld gebruikt.\n\nDe vacatures stegen in 2025.\n"
    assert sniff_kind(note, "versies.txt") == "text"
    assert sniff_kind(note, "versies.md") == "text"
    assert sniff_kind(note, "versies.pdf") == "pdf"  # named PDF: read (and refused) as a PDF
    assert sniff_kind(note, "") == "pdf"
    path = tmp_path / "versies.txt"
    path.write_bytes(note)
    assert load_file(path)[0].text.startswith("%PDF-1.7 is de versie")
    # a real PDF keeps its trailer and stays a PDF whatever its name
    assert sniff_kind(make_pdf(THREE_PAGES), "versies.md") == "pdf"
