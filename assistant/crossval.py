"""`make eval`: the labelled sets answered in-sample and cross-validated, tables per set and type.

    python -m assistant.crossval evals/train.jsonl evals/dev.jsonl evals/own.jsonl \\
        [--folds 5] [--write-weights] [--report DIR]

Every model and setting of the answer path is fitted on the training folds only; each held-out
fold is answered by models that never saw it (`assistant/learn.py`). `--write-weights` trains on
all items and writes the shipped weights (assistant/weights/*.json).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from assistant import evaluate
from assistant.answer import Assistant
from assistant.learn import FOLDS, Item, cross_validate, prepare, summary, train
from assistant.linear import WEIGHTS_DIR
from ingest.settings import Settings

log = logging.getLogger(__name__)

COLUMNS = [
    ("n", "n"), ("hit@5", "cited hit@5"), ("facts_all", "all facts"), ("computed_right", "computed right"),
    ("refusal_accuracy", "refusals right"), ("false_refusals", "false refusals"),
    ("untraceable_answers", "untraceable"), ("words_p50", "median words"),
]


def _fmt(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.2f}" if value < 10 else f"{value:.0f}"
    return str(value)


def table(title: str, in_sample: dict, held_out: dict) -> str:
    lines = [f"### {title}", "", "| group | " + " | ".join(f"{label} in / cv" for _, label in COLUMNS) + " |",
             "|---" * (len(COLUMNS) + 1) + "|"]
    for group in in_sample:
        cells = [f"{_fmt(in_sample[group].get(key))} / {_fmt(held_out[group].get(key))}" for key, _ in COLUMNS]
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def failure_class(score: evaluate.ItemScore, cited_text: str) -> str | None:
    """The failure class of one held-out answer (None when it passed on facts and refusal)."""
    if not score.answerable:
        return None if score.refused else "missed refusal"
    if score.refused:
        return "false refusal"
    if not score.missing:
        return "wrong passage" if score.hit_at_5 is False else None
    if score.type == "computed":
        return "computation"
    if score.hit_at_5 is False:
        return "wrong passage"
    if len(score.missing) < len(score.expected):
        return "part of the question unanswered"
    in_cited = all(evaluate.contains_fact(cited_text, e) for e in score.missing)
    return "right passage, wrong sentence" if in_cited else "wrong passage"


def failure_table(run, citations: list[str]) -> tuple[str, dict[str, list[evaluate.ItemScore]]]:
    classes: dict[str, list[evaluate.ItemScore]] = {}
    for score, cited in zip(run.scores, citations, strict=True):
        name = failure_class(score, cited)
        if name:
            classes.setdefault(name, []).append(score)
    lines = ["### held-out failures by class", "", "| class | n | examples |", "|---|---|---|"]
    for name, scores in sorted(classes.items(), key=lambda kv: -len(kv[1])):
        examples = "; ".join(f"{s.id}: {s.question[:70]}" for s in scores[:2]).replace("|", "/")
        lines.append(f"| {name} | {len(scores)} | {examples} |")
    return "\n".join(lines), classes


def load(paths: list[Path]) -> list[Item]:
    items = []
    for path in paths:
        name = path.stem
        items.extend(Item(data, name) for data in evaluate.load_items(path))
    return items


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--folds", type=int, default=FOLDS)
    parser.add_argument("--write-weights", action="store_true", help="train on all items and ship the weights")
    parser.add_argument("--report", type=Path, help="write crossval.json and crossval.md here")
    parser.add_argument("--gate", type=Path, help="JSON thresholds on the held-out 'all' row; exit 3 when missed")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.perf_counter()
    assistant = Assistant(Settings())
    items = load(args.files)
    prepare(assistant, items)
    log.info("prepared %d items in %.1f s", len(items), time.perf_counter() - started)
    if args.write_weights:
        models = train(assistant, items, f"{len(items)} items of {', '.join(p.name for p in args.files)}")
        for model in (models.lead, models.answerable):
            if model is not None:
                model.save(WEIGHTS_DIR / f"{model.name}.json")
                log.info("wrote %s; weighs most: %s", model.name,
                         ", ".join(f"{f} {w:+.2f}" for f, w in model.weights()[:6]))
        log.info("composition: %s; answerable threshold %s", models.composition,
                 models.answerable.threshold if models.answerable else None)
        if not args.report and not args.gate:
            return 0  # `make train`: the weights only; `make eval` reports the cross-validation
    in_run, held_run, folds = cross_validate(assistant, items, args.folds, progress=log.info)
    in_sample, held_out = summary(in_run, items), summary(held_run, items)
    order = ["all"] + sorted(k for k in in_sample if k.startswith("set:")) + sorted(k for k in in_sample if k.startswith("type:"))
    in_sample = {k: in_sample[k] for k in order}
    text = table("in-sample / held-out folds", in_sample, {k: held_out[k] for k in order})
    gaps = {key: round(abs((in_sample["all"].get(key) or 0) - (held_out["all"].get(key) or 0)), 3)
            for key, _ in COLUMNS if key not in ("n", "words_p50", "untraceable_answers")}
    failures, _ = failure_table(held_run, held_run.cited_texts)
    print(text)
    print(f"\nin-sample minus held-out (all): {gaps}")
    print("\n" + failures)
    print(f"\n{len(items)} items, {args.folds} folds grouped by source passage, {time.perf_counter() - started:.0f} s")
    if args.report:
        args.report.mkdir(parents=True, exist_ok=True)
        (args.report / "crossval.md").write_text(text + "\n\n" + failures + "\n", encoding="utf-8")
        failures = [s.model_dump() for s in held_run.scores if not s.passed]
        (args.report / "crossval.json").write_text(json.dumps({
            "in_sample": in_sample, "held_out": held_out, "gaps": gaps,
            "folds": {str(it.data.get("id")): f for it, f in zip(items, folds, strict=True)},
            "held_out_failures": failures,
        }, ensure_ascii=False, indent=1), encoding="utf-8")
    if args.gate:
        violations = evaluate.check_thresholds({"overall": held_out["all"]}, json.loads(args.gate.read_text()))
        if violations:
            print("gate failed: " + "; ".join(violations), file=sys.stderr)
            return 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
