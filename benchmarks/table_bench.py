"""Ingest time per table row (issue 18): synthetic factsheets (CSV and XLSX, invented figures, real
municipality names as row labels) through the loaders and through a full ingest.

    python -m benchmarks.table_bench [--rows 300] [--parse-rows 10000] [--out benchmarks/results/table-latest.json]

Reported per row: reading the file (in process and in the parse sandbox, as the ingest does), turning
rows into passages, and a full `run_ingest` into a fresh data directory (embedding the row passages
and their sentences dominates). Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import ingest  # noqa: F401  (offline environment first)
from benchmarks.common import REPO, loadavg
from ingest.pipeline import run_ingest
from ingest.places import PlaceTable
from ingest.sandbox import parse_isolated
from ingest.settings import Settings
from ingest.table_chunks import build_table_chunks
from ingest.table_loaders import load_csv, load_xlsx

RESULTS = Path(__file__).resolve().parent / "results"
COLUMNS = ["Geregistreerde werkzoekenden", "Met WW-uitkering", "Aandeel jongeren (%)", "Vacatures (x 1.000)"]
log = logging.getLogger(__name__)


def _labels(count: int) -> list[str]:
    names = list(PlaceTable.load(REPO / "corpus").municipalities)
    return [names[i % len(names)] + ("" if i < len(names) else f" {i // len(names) + 1}") for i in range(count)]


def synthetic_rows(count: int) -> list[list[object]]:
    """Invented figures (deterministic) for `count` rows."""
    return [[label, 1000 + 37 * i, 100 + 7 * i, round(5 + (i % 200) / 10, 1), round(1 + (i % 90) / 10, 1)]
            for i, label in enumerate(_labels(count))]


def synthetic_csv(count: int) -> bytes:
    def dutch(value: object) -> str:
        if isinstance(value, float):
            return f"{value:.1f}".replace(".", ",")
        if isinstance(value, int):
            return f"{value:,}".replace(",", ".")
        return str(value)

    lines = ["Benchmark-factsheet per gemeente, juni 2025 (SYNTHETISCH, verzonnen cijfers)",
             ";".join(["Gemeente", *COLUMNS])]
    lines += [";".join(dutch(v) for v in row) for row in synthetic_rows(count)]
    lines.append("Bron: synthetische benchmarkdata")
    return ("\n".join(lines) + "\n").encode("utf-8")


def synthetic_xlsx(count: int) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Gemeenten"
    sheet.append(["Benchmark-factsheet per gemeente, juni 2025 (SYNTHETISCH, verzonnen cijfers)"])
    sheet.append(["Gemeente", *COLUMNS])
    for row in synthetic_rows(count):
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _per_row(seconds: float, rows: int) -> float:
    return round(seconds / rows * 1000, 4) if rows else 0.0


def parse_timings(rows: int) -> dict[str, Any]:
    out: dict[str, Any] = {"rows": rows}
    for kind, data, loader in (("csv", synthetic_csv(rows), load_csv), ("xlsx", synthetic_xlsx(rows), load_xlsx)):
        started = time.perf_counter()
        pages = loader(data)
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        parse_isolated(data, kind)
        sandboxed = time.perf_counter() - started
        tables = [t for p in pages for t in p.tables]
        started = time.perf_counter()
        chunks = build_table_chunks("bench", tables, "Benchmark", 0)
        chunked = time.perf_counter() - started
        out[kind] = {
            "bytes": len(data), "chunks": len(chunks),
            "load_ms_per_row": _per_row(loaded, rows), "sandbox_ms_per_row": _per_row(sandboxed, rows),
            "passages_ms_per_row": _per_row(chunked, rows),
        }
    return out


def ingest_timings(rows: int, work: Path) -> dict[str, Any]:
    corpus = work / "corpus"
    (corpus / "files").mkdir(parents=True)
    shutil.copytree(REPO / "corpus" / "reference", corpus / "reference")
    (corpus / "files" / "bench.csv").write_bytes(synthetic_csv(rows))
    (corpus / "files" / "bench.xlsx").write_bytes(synthetic_xlsx(rows))
    entries = []
    for kind in ("csv", "xlsx"):
        entries.append(f'''[[sources]]
id = "bench-factsheet-{kind}"
title = "Benchmark-factsheet ({kind})"
publisher = "Benchmark"
edition = "2025"
published = 2025
type = "factsheet"
file = "files/bench.{kind}"
status = "approved"
''')
    (corpus / "sources.toml").write_text("\n".join(entries), encoding="utf-8")
    settings = Settings(data_dir=work / "data", corpus_dir=corpus, _env_file=None)
    started = time.perf_counter()
    report = run_ingest(settings)
    seconds = time.perf_counter() - started
    total_rows = 2 * rows
    return {
        "rows": total_rows, "chunks": report.chunks, "failed": [f.model_dump() for f in report.failed],
        "seconds": round(seconds, 2), "ms_per_row": _per_row(seconds, total_rows),
        "timings_s": report.timings_s,
        "embed_ms_per_row": _per_row(report.timings_s.get("embed", 0.0) + report.timings_s.get("sentences", 0.0), total_rows),
    }


def run(rows: int = 300, parse_rows: int = 10_000, work: Path | None = None) -> dict[str, Any]:
    own = work is None
    work = Path(tempfile.mkdtemp(prefix="table-bench-")) if work is None else work
    try:
        return {
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "loadavg_at_start": loadavg(),
            "parse": parse_timings(parse_rows),
            "ingest": ingest_timings(rows, work),
            "loadavg_at_end": loadavg(),
        }
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300, help="rows per factsheet in the full ingest (CSV and XLSX)")
    parser.add_argument("--parse-rows", type=int, default=10_000, help="rows for the loader-only timings")
    parser.add_argument("--out", type=Path, default=RESULTS / "table-latest.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    result = run(args.rows, args.parse_rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
