"""Issue 20, finding 6 (upload points): file names and content sniffing give correct answers.

check_file is the check the API upload route, the UI and `marktwijzer sources add` all run.
"""

from __future__ import annotations

import ingest  # noqa: F401  (offline environment first)

from pathlib import Path

import pytest

from assistant.uploads import (
    UploadMetadata,
    UploadRefused,
    build_entry,
    check_file,
    safe_filename,
)
from ingest.registry import SourceEntry

REPO = Path(__file__).resolve().parent.parent
PDF = next((REPO / "corpus" / "pdf").glob("*.pdf")).read_bytes()
TEXT = b"# Bericht\n\nIn Testwoud waren in 2025 precies 4.321 vacatures.\n"
LIMIT = 50 * 1024 * 1024


MAX_FILENAME_CHARS = 255  # what file systems allow


@pytest.mark.parametrize("length", [150, 154, 200, MAX_FILENAME_CHARS])
def test_long_filename_keeps_its_extension_and_gives_a_valid_id(length: int) -> None:
    """A 150-character name got 415 'Bestandstype ...' because the cut removed the extension."""
    name = "Regio in Beeld " + "x" * (length - len("Regio in Beeld ") - 4) + ".txt"
    assert len(name) == length
    safe, extension, pages = check_file(name, TEXT, LIMIT)
    assert extension == ".txt" and safe.endswith(".txt") and len(safe) <= 150 and pages == 1
    entry = build_entry(UploadMetadata(title="Lange naam"), safe, extension)
    SourceEntry.model_validate(entry.model_dump())
    assert entry.file.endswith(".txt")


def test_too_long_filename_is_refused_as_a_name_problem() -> None:
    with pytest.raises(UploadRefused) as refused:
        check_file("r" * 300 + ".pdf", PDF, LIMIT)
    assert refused.value.status == 400 and refused.value.code == "invalid_filename"
    assert "te lang" in refused.value.message and "255" in refused.value.message


def test_txt_that_starts_with_pdf_marker_is_accepted_as_text() -> None:
    note = b"%PDF-1.7 is de versie van de bijlage.\n\nIn Testwoud stegen de vacatures in 2025.\n"
    safe, extension, pages = check_file("versies.txt", note, LIMIT)
    assert (safe, extension, pages) == ("versies.txt", ".txt", 1)


def test_real_pdf_named_txt_is_still_a_content_mismatch() -> None:
    with pytest.raises(UploadRefused) as refused:
        check_file("notitie.txt", PDF, LIMIT)
    assert refused.value.status == 415 and refused.value.code == "content_mismatch"


def test_pdf_marker_text_named_pdf_is_unreadable_not_accepted() -> None:
    with pytest.raises(UploadRefused) as refused:
        check_file("versies.pdf", b"%PDF-1.7 is de versie.\n", LIMIT)
    assert refused.value.status == 422 and refused.value.code == "unreadable_file"


def test_javascript_url_is_refused_as_metadata() -> None:
    with pytest.raises(UploadRefused) as refused:
        build_entry(UploadMetadata(title="Bron", url="javascript:alert(1)"), "bron.txt", ".txt")
    assert refused.value.status == 422 and refused.value.code == "invalid_metadata"
    assert refused.value.detail[0]["field"] == "url"


def test_safe_filename_still_refuses_paths() -> None:
    for name in ("../x.pdf", "a/b.pdf", "..\\x.pdf", ".verborgen.pdf"):
        with pytest.raises(UploadRefused):
            safe_filename(name)
