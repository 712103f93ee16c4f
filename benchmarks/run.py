"""`make bench`: run the benchmarks and write benchmarks/results/latest.{json,md}."""

from __future__ import annotations

import ingest  # noqa: F401

import datetime as dt
import json
import os
import platform
from pathlib import Path

from benchmarks import ingest_bench

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    RESULTS.mkdir(exist_ok=True)
    meta = {"when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
            "python": platform.python_version(), "machine": platform.machine()}
    result = {"meta": meta, "ingest": ingest_bench.run()}
    (RESULTS / "latest.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    md = f"# Marktwijzer benchmarks\n\n{meta['when']} · {meta['cpus']} CPUs · Python {meta['python']}\n\n"
    md += ingest_bench.markdown(result["ingest"])
    (RESULTS / "latest.md").write_text(md, encoding="utf-8")
    print(md)


if __name__ == "__main__":
    main()
