"""Issue 20, finding 4: uploaded and ingested files are parsed in a limited child process.

A PDF decompression bomb (ten pages sharing one ~2 MB FlateDecode content stream, ~9 KB on disk)
took 30 s of the API's own CPU. Now the pages' content is counted per page before extraction, the
parser runs in a child with RLIMIT_CPU / RLIMIT_AS at low priority, and the API process barely works.

The limits and the sandbox are imported inside the unit tests, so that on the old code (without
them) the API test below still runs and shows the finding.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ingest.loaders import LoadError, load_file, load_pdf
from ingest.models import IngestReport
from ingest.settings import Settings
from tests.apiserver import ADMIN_KEY, READER_KEY, ApiServer, copy_index, snapshot, start_server

REPO = Path(__file__).resolve().parent.parent
SHIPPED_PDFS = sorted((REPO / "corpus" / "pdf").glob("*.pdf"))
QUESTION = "Hoeveel vacatures stonden er eind tweede kwartaal 2025 open in regio Amersfoort?"


def bomb_pdf(pages: int = 10, content_bytes: int = 2_000_000, shared: bool = True) -> bytes:
    """A valid PDF whose pages all draw one highly compressible content stream of text operators."""
    line = b"BT /F1 8 Tf 20 700 Td (Vacatures in de zorg stijgen weer in regio Testwoud) Tj ET\n"
    stream = zlib.compress(line * (content_bytes // len(line)), 9)
    content = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream"
    first_page = 5 if shared else 4 + pages
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % (first_page + i) for i in range(pages))
        + b"] /Count %d >>" % pages,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    objects += [content] if shared else [content] * pages
    for i in range(pages):
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >>"
            b" /Contents %d 0 R >>" % (4 if shared else 4 + i)
        )
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (not its children) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_bomb_is_small_and_really_expensive_to_extract() -> None:
    """The test file is what the finding describes: ~9 KB, and one page alone costs real CPU."""
    data = bomb_pdf()
    assert len(data) < 12_000
    started = time.process_time()
    pages = load_pdf(bomb_pdf(pages=1, content_bytes=500_000))  # a quarter of one page of the bomb
    assert len(pages[0].text) > 250_000 and time.process_time() - started > 0.2


def test_shared_stream_counts_per_page_and_is_refused_in_the_child() -> None:
    """Ten pages × one 2 MB stream is 20 MB of content: refused before extraction, fast, in Dutch."""
    from ingest.loaders import LoadLimitExceeded, ParseLimits
    from ingest.sandbox import parse_isolated

    started_wall, started_cpu = time.monotonic(), time.process_time()
    with pytest.raises(LoadLimitExceeded) as refused:
        parse_isolated(bomb_pdf(), "pdf")
    assert time.monotonic() - started_wall < 10
    assert time.process_time() - started_cpu < 0.5  # the work was the child's, not ours
    assert "decompressiebom" in refused.value.message_nl and "per pagina" in refused.value.message_nl
    # counted per page, not per stream: 10 pages x 0.3 MB shared is over a 2 MB budget, 1 page is not
    limits = ParseLimits(max_content_bytes=2_000_000)
    with pytest.raises(LoadLimitExceeded):
        parse_isolated(bomb_pdf(pages=10, content_bytes=300_000), "pdf", limits)
    assert len(parse_isolated(bomb_pdf(pages=1, content_bytes=300_000), "pdf", limits)) == 1
    assert len(parse_isolated(bomb_pdf(pages=3, content_bytes=300_000, shared=False), "pdf", limits)) == 3


def test_cpu_limit_kills_a_parse_that_passes_the_content_check() -> None:
    from ingest.loaders import LoadLimitExceeded, ParseLimits
    from ingest.sandbox import parse_isolated

    limits = ParseLimits(max_content_bytes=100_000_000, cpu_seconds=1, wall_seconds=30)
    started = time.monotonic()
    with pytest.raises(LoadLimitExceeded) as refused:
        parse_isolated(bomb_pdf(), "pdf", limits)
    assert time.monotonic() - started < 15
    assert "rekentijd" in refused.value.message_nl


def test_memory_limit_refuses_instead_of_growing() -> None:
    from ingest.loaders import LoadLimitExceeded, ParseLimits
    from ingest.sandbox import parse_isolated

    limits = ParseLimits(memory_bytes=200 * 1024 * 1024, max_text_chars=10**9)
    with pytest.raises(LoadLimitExceeded) as refused:
        parse_isolated(b"Vacatures in de zorg. " * 12_000_000, "text", limits)  # 264 MB of text
    assert "geheugen" in refused.value.message_nl


def test_total_text_is_bounded() -> None:
    from ingest.loaders import LoadLimitExceeded, ParseLimits
    from ingest.sandbox import parse_isolated

    limits = ParseLimits(max_text_chars=50_000)
    with pytest.raises(LoadLimitExceeded, match="characters of text"):
        parse_isolated(b"Vacatures in de zorg stijgen.\n" * 5000, "text", limits)
    with pytest.raises(LoadLimitExceeded):
        parse_isolated(bomb_pdf(pages=1, content_bytes=200_000), "pdf", limits)


@pytest.mark.parametrize("path", SHIPPED_PDFS, ids=[p.stem for p in SHIPPED_PDFS])
def test_shipped_sources_pass_the_limits_unchanged(path: Path) -> None:
    """The limits leave real sources alone: the child returns exactly what the parser returns."""
    assert load_file(path) == load_pdf(path.read_bytes())


def test_ingest_loader_applies_the_same_limits(tmp_path: Path) -> None:
    """load_file (what ingest/pipeline.py calls per source) refuses the bomb too, quickly."""
    from ingest.loaders import LoadLimitExceeded

    path = tmp_path / "bom.pdf"
    path.write_bytes(bomb_pdf())
    started = time.monotonic()
    with pytest.raises(LoadLimitExceeded, match="decompression bomb"):
        load_file(path)
    assert time.monotonic() - started < 10


def test_damaged_child_output_is_a_load_error() -> None:
    from ingest.sandbox import parse_isolated

    with pytest.raises(LoadError):
        parse_isolated(b"%PDF-1.4\n" + os.urandom(3000), "pdf")


@pytest.fixture(scope="module")
def server(built_index: tuple[Settings, IngestReport], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    root = tmp_path_factory.mktemp("sandbox-api")
    settings = copy_index(built_index[0], root)
    # PYTHONPATH: the server runs the code of this checkout (also when the tests run in a worktree)
    running = start_server(settings, root / "run", MARKTWIJZER_RATE_LIMIT_PER_MINUTE="0", PYTHONPATH=str(REPO))
    yield running
    running.stop()


def _ask_latencies(base_url: str, stop: threading.Event, out: list[float], statuses: list[int]) -> None:
    with httpx.Client(base_url=base_url, headers={"X-API-Key": READER_KEY}, timeout=60) as client:
        for _ in range(200):  # bounded
            if stop.is_set():
                return
            started = time.monotonic()
            statuses.append(client.post("/v1/ask", json={"question": QUESTION}).status_code)
            out.append(time.monotonic() - started)


def test_bomb_upload_is_refused_without_loading_the_api(server: ApiServer) -> None:
    with server.client(READER_KEY) as reader:
        for _ in range(3):
            assert reader.post("/v1/ask", json={"question": QUESTION}).status_code == 200
        baseline = []
        for _ in range(5):
            started = time.monotonic()
            assert reader.post("/v1/ask", json={"question": QUESTION}).status_code == 200
            baseline.append(time.monotonic() - started)
    before = snapshot(server.settings)
    latencies: list[float] = []
    statuses: list[int] = []
    stop = threading.Event()
    asker = threading.Thread(target=_ask_latencies, args=(server.base_url, stop, latencies, statuses))
    cpu_before = _cpu_seconds(server.process.pid)
    asker.start()
    try:
        time.sleep(0.5)
        started = time.monotonic()
        with server.client(ADMIN_KEY) as admin:
            response = admin.post("/v1/sources", files={"file": ("bom.pdf", bomb_pdf())},
                                  data={"title": "Bom", "status": "draft"})
        took = time.monotonic() - started
        time.sleep(1.0)
    finally:
        stop.set()
        asker.join(timeout=60)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "file_too_complex" and "decompressiebom" in body["message"]
    assert took < 10, f"the refusal took {took:.1f} s"
    assert snapshot(server.settings) == before
    # the API's own CPU covers the answers asked meanwhile, not 30 s of PDF parsing
    answer_cpu = 0.5 * len(latencies) * statistics.median(baseline) + 2.0
    assert _cpu_seconds(server.process.pid) - cpu_before < answer_cpu
    assert statuses and set(statuses) == {200}
    assert statistics.median(latencies) < 3 * statistics.median(baseline) + 1.0, (latencies, baseline)
