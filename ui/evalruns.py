"""Evaluation sets and stored runs for the Evaluations page.

Sets: the shipped `evals/*.jsonl` and the sets trainers uploaded (`DATA_DIR/evals/sets/`).
Runs: `DATA_DIR/evals/runs/<set>/<UTC timestamp>/` with metrics.json, report.md and chart.png written by
`assistant.evaluate.write_report`; the previous run of a set is the one stored before it."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistant import evaluate
from assistant.types import Answer

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "evals"


def sets_dir(data_dir: Path) -> Path:
    return data_dir / "evals" / "sets"


def runs_dir(data_dir: Path, set_name: str) -> Path:
    return data_dir / "evals" / "runs" / set_name


def set_name(path: Path) -> str:
    return re.sub(r"[^a-zA-Z0-9._-]+", "-", path.stem)


def available_sets(data_dir: Path) -> dict[str, Path]:
    """{name: path}: shipped sets first, then uploaded ones (an upload may shadow nothing shipped)."""
    found: dict[str, Path] = {}
    for folder in (SHIPPED, sets_dir(data_dir)):
        if folder.is_dir():
            for path in sorted(folder.glob("*.jsonl")):
                found.setdefault(set_name(path), path)
    return found


def save_upload(data_dir: Path, filename: str, data: bytes) -> tuple[str, int]:
    """Validate an uploaded set with `evaluate.load_items` and keep it; returns (name, items)."""
    name = set_name(Path(filename))
    folder = sets_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.jsonl"
    staging = folder / f".{name}.upload"
    staging.write_bytes(data)
    try:
        items = evaluate.load_items(staging)
    except (ValueError, UnicodeDecodeError) as exc:
        staging.unlink(missing_ok=True)
        raise ValueError(str(exc).replace(str(staging), filename)) from exc
    if not items:
        staging.unlink(missing_ok=True)
        raise ValueError(f"{filename}: geen vragen gevonden")
    staging.replace(target)
    return name, len(items)


def list_runs(data_dir: Path, name: str) -> list[Path]:
    """Stored runs of a set, newest first."""
    folder = runs_dir(data_dir, name)
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if (p / "metrics.json").is_file()), reverse=True)


def load_run(run: Path) -> evaluate.EvalResult:
    return evaluate.EvalResult.model_validate_json((run / "metrics.json").read_text(encoding="utf-8"))


def previous_run(data_dir: Path, name: str, run: Path) -> Path | None:
    earlier = [p for p in list_runs(data_dir, name) if p.name < run.name]
    return earlier[0] if earlier else None


def run_set(
    data_dir: Path,
    name: str,
    path: Path,
    answer: Callable[[dict[str, Any]], Answer],
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Score the set, store the run beside the earlier ones (compared with the latest), return its folder."""
    items = evaluate.load_items(path)
    runs = list_runs(data_dir, name)
    earlier = load_run(runs[0]) if runs else None
    result = evaluate.evaluate(items, answer, progress=progress)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    folder = runs_dir(data_dir, name) / stamp
    evaluate.write_report(result, folder, previous=earlier, title=f"Marktwijzer · {name}")
    return folder


FEEDBACK_SET = "feedback"


def add_feedback_item(data_dir: Path, feedback: dict[str, Any], item_type: str, expected: list[str],
                      doc: str | None, answer: str = "", evidence: list[str] | None = None) -> str:
    """Append an evaluation item made from a feedback record to the set 'feedback' (uploaded sets
    folder); returns its id. The same feedback is added once."""
    item_id = f"fb-{feedback['id']}"
    path = sets_dir(data_dir) / f"{FEEDBACK_SET}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = evaluate.load_items(path) if path.exists() else []
    if any(item["id"] == item_id for item in existing):
        raise ValueError(f"feedback {feedback['id']} staat al in de set als {item_id}")
    item = {"id": item_id, "question": feedback["question"], "type": item_type, "answer": answer,
            "expected": expected, "doc": doc, "evidence": list(evidence or []),
            "feedback": {"rating": feedback.get("rating"), "reason": feedback.get("reason"),
                         "comment": feedback.get("comment"), "answer_id": feedback.get("answer_id")}}
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(item, ensure_ascii=False) + "\n")
    return item_id
