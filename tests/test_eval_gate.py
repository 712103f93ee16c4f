"""Regression gate on questions the models did not see: the three labelled sets cross-validated
(folds grouped by source passage, every model and setting refitted on the training folds), the
held-out numbers checked against thresholds just under what the current pipeline reaches. Raise
them when it improves, never lower them silently. In-sample numbers are only reported."""

from __future__ import annotations

import re

from pathlib import Path

import pytest

from assistant.answer import Assistant
from assistant.evaluate import check_thresholds, evaluate, load_items, untraceable_numbers
from assistant.learn import Item, cross_validate, history_of, prepare, summary
from assistant.types import Answer
from ingest.models import IngestReport
from ingest.numbers import find_quantities
from ingest.settings import Settings

EVALS = Path(__file__).resolve().parent.parent / "evals"
SETS = ["train.jsonl", "dev.jsonl", "own.jsonl"]

# Held-out folds (cross-validated on train + dev + own); quality only, latency lives in benchmarks/.
# Two runs on one index give identical numbers (exact dense search); the thresholds sit 0.01-0.03
# under the latest run for what another machine's floating point may change in near-tied rankings.
HELD_OUT_GATE = {"hit@5": 0.85, "facts_all": 0.50, "computed_right": 0.68, "refusal_accuracy": 0.84,
                 "false_refusals_max": 0.035, "untraceable_answers_max": 0, "words_p50_max": 83}
MAX_GAP = 0.08  # in-sample minus held-out, per metric


@pytest.fixture(scope="module")
def assistant(built_index: tuple[Settings, IngestReport]) -> Assistant:
    settings, _ = built_index
    return Assistant(settings)


def test_cross_validated_answers_meet_the_gate(assistant: Assistant) -> None:
    items = [Item(data, name) for name in SETS for data in load_items(EVALS / name)]
    prepare(assistant, items)
    in_run, held_run, folds = cross_validate(assistant, items)
    assert len(set(folds)) == 5
    held, in_sample = summary(held_run, items)["all"], summary(in_run, items)["all"]
    violations = check_thresholds({"overall": held}, HELD_OUT_GATE)
    assert violations == [], (violations, held)
    for metric in ("hit@5", "facts_all", "computed_right", "refusal_accuracy", "false_refusals"):
        assert abs(in_sample[metric] - held[metric]) <= MAX_GAP, (metric, in_sample[metric], held[metric])


@pytest.mark.parametrize("name", SETS)
def test_shipped_answers_trace_every_number_and_compute_right(assistant: Assistant, name: str) -> None:
    answers: list[Answer] = []

    def answer(item: dict) -> Answer:
        answers.append(assistant.ask(item["question"], history_of(item), request_id=item["id"]))
        return answers[-1]

    items = load_items(EVALS / name)
    result = evaluate(items, answer)
    assert result.metrics["overall"]["errors"] == 0
    # Strict number audit: every number stands in the *text* of a cited passage (titles do not count).
    strict = {a.id: untraceable_numbers(a, include_metadata=False) for a in answers}
    assert {k: v for k, v in strict.items() if v} == {}
    # No sentence is quoted twice (e.g. when both operands of a calculation stand in one sentence).
    repeated = {}
    for a in answers:
        parts = [p.strip() for p in re.split(r"(?<=\])\s+", a.answer) if len(p.strip()) > 20]
        if len(parts) != len(set(parts)):
            repeated[a.id] = a.answer
    assert repeated == {}
    # Computed figures: none may differ from the gold value (a missing figure is a miss, not an error).
    wrong = {}
    for item, given in zip(items, answers, strict=True):
        gold = _gold_value(item.get("computation"))
        if item["type"] != "computed" or gold is None or not given.figures:
            continue
        if not any(_close(abs(figure.value), abs(float(gold))) for figure in given.figures):
            wrong[item["id"]] = [(figure.display, figure.expression) for figure in given.figures]
    assert wrong == {}, wrong


def _gold_value(computation: object) -> float | None:
    """The gold result: `{"value": …}`, or the number after the last '=' of a written computation
    ("812.000 - 518.000 = 294.000")."""
    if isinstance(computation, dict):
        return computation.get("value")
    if isinstance(computation, str) and "=" in computation:
        found = find_quantities(computation.rsplit("=", 1)[1])
        return found[0].value if found else None
    return None


def _close(value: float, gold: float) -> bool:
    """Equal up to the rounding a source or a Dutch display makes (0.5% or one unit of the last digit)."""
    return abs(value - gold) <= max(0.005 * abs(gold), 0.051 if gold < 100 else 0.5)
