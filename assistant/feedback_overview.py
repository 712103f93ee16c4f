"""What trainers see of the advisers' feedback (issue 17): counts by reason code, by cited source and
by week, and the worst-rated answers with their question, answer and sources.

The audit record of an answer holds its (scrubbed) question and cited source ids, not its text, so
the UI keeps a snapshot of an answer that gets feedback (`answer_snapshots`, migration 3 of
`assistant.audit`): the worst answers are shown as the adviser saw them, and a thumbs-down becomes an
evaluation item with the evidence passage picked from the cited passages.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict

from pydantic import BaseModel, Field
from sqlalchemy import Column, DateTime, ForeignKey, String, Table, Text, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from assistant.audit import AuditStore, _aware, _storable, answers, feedback, metadata
from assistant.scrub import scrub
from assistant.types import Answer

answer_snapshots = Table(
    "answer_snapshots",
    metadata,
    Column("answer_id", String(64), ForeignKey("answers.id"), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("answer", Text, nullable=False),  # the Answer contract as JSON, its question scrubbed
)


def migration_3(connection: Connection) -> None:
    answer_snapshots.create(connection)


class WorstAnswer(BaseModel):
    answer_id: str
    question: str = Field(description="Scrubbed.")
    down: int
    up: int
    reasons: list[str]
    comments: list[str] = Field(description="Scrubbed.")
    cited_source_ids: list[str]
    answer: Answer | None = Field(None, description="As shown, when the UI kept a snapshot.")


class FeedbackOverview(BaseModel):
    total: int
    up: int
    down: int
    by_reason: dict[str, dict[str, int]] = Field(description="reason code -> {'up': n, 'down': n}")
    by_source: dict[str, dict[str, int]] = Field(description="cited source id -> {'up': n, 'down': n}")
    by_week: dict[str, dict[str, int]] = Field(description="ISO week 'YYYY-Www' -> {'up': n, 'down': n}")
    worst: list[WorstAnswer]


def save_snapshot(store: AuditStore, answer: Answer) -> None:
    """Keeps the answer as shown (once per answer id; the first snapshot stays)."""
    if not answer.id:
        return
    stored = answer.model_copy(update={"question": _storable(scrub(answer.question))})
    try:
        with store.engine.begin() as connection:
            if connection.execute(select(answer_snapshots.c.answer_id).where(answer_snapshots.c.answer_id == answer.id)).first():
                return
            connection.execute(insert(answer_snapshots).values(
                answer_id=answer.id, created_at=dt.datetime.now(dt.UTC), answer=stored.model_dump_json()))
    except IntegrityError:  # the same answer rated twice at once: one snapshot is enough
        return


def snapshot(store: AuditStore, answer_id: str) -> Answer | None:
    with store.engine.connect() as connection:
        row = connection.execute(select(answer_snapshots.c.answer).where(answer_snapshots.c.answer_id == answer_id)).first()
    return Answer.model_validate_json(row[0]) if row else None


def _week(value: dt.datetime) -> str:
    year, week, _ = _aware(value).isocalendar()
    return f"{year}-W{week:02d}"


def overview(store: AuditStore, worst: int = 10, limit: int = 20_000) -> FeedbackOverview:
    """Counts over the newest `limit` feedback records and the `worst` answers (most thumbs-down,
    then fewest thumbs-up, newest first)."""
    query = (select(feedback.c.answer_id, feedback.c.created_at, feedback.c.rating, feedback.c.reason,
                    feedback.c.comment, answers.c.question, answers.c.cited_source_ids)
             .join(answers, answers.c.id == feedback.c.answer_id).order_by(feedback.c.id.desc()).limit(limit))
    with store.engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    by_reason: dict[str, Counter] = defaultdict(Counter)
    by_source: dict[str, Counter] = defaultdict(Counter)
    by_week: dict[str, Counter] = defaultdict(Counter)
    per_answer: dict[str, dict] = {}
    for row in rows:
        rating = row["rating"]
        sources = json.loads(row["cited_source_ids"] or "[]")
        by_reason[row["reason"] or "geen_reden"][rating] += 1
        for source_id in sources:
            by_source[source_id][rating] += 1
        by_week[_week(row["created_at"])][rating] += 1
        entry = per_answer.setdefault(row["answer_id"], {
            "answer_id": row["answer_id"], "question": row["question"], "down": 0, "up": 0, "reasons": [],
            "comments": [], "cited_source_ids": sources, "newest": _aware(row["created_at"])})
        entry[rating] += 1
        if row["reason"] and row["reason"] not in entry["reasons"]:
            entry["reasons"].append(row["reason"])
        if row["comment"]:
            entry["comments"].append(row["comment"])
    ranked = sorted((e for e in per_answer.values() if e["down"]),
                    key=lambda e: (-e["down"], e["up"], -e["newest"].timestamp()))[:worst]
    worst_answers = [WorstAnswer(**{k: v for k, v in e.items() if k != "newest"}, answer=snapshot(store, e["answer_id"]))
                     for e in ranked]

    def plain(counts: dict[str, Counter]) -> dict[str, dict[str, int]]:
        return {key: {"up": c.get("up", 0), "down": c.get("down", 0)} for key, c in sorted(counts.items())}

    up = sum(1 for r in rows if r["rating"] == "up")
    return FeedbackOverview(total=len(rows), up=up, down=len(rows) - up, by_reason=plain(by_reason),
                            by_source=plain(by_source), by_week=plain(by_week), worst=worst_answers)
