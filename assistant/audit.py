"""Audit log and feedback store (SQLAlchemy Core; SQLite by default, PostgreSQL by DATABASE_URL).

Stable interface (the API and the Streamlit UI both use it):

    store = AuditStore(settings)                      # creates / migrates the schema
    answer_id = store.record_answer(answer, key_name="ui", latency_ms=812.0, channel="ui")
    feedback_id = store.record_feedback(answer_id, "down", reason="incorrect", comment="...", key_name="ui")
    store.list_feedback()  -> list[FeedbackRecord]
    store.list_answers()   -> list[AnswerRecord]
    store.get_answer(answer_id) -> AnswerRecord | None

Feedback refers to an answer id that was recorded before: `record_feedback` raises
`UnknownAnswer` otherwise (so record every answer you show). Questions and feedback comments are
scrubbed of personal data (BSN, e-mail, phone, IBAN, postcode, street address, birth date;
`assistant.scrub`) before they are stored; nothing unscrubbed ever reaches the database. A failed
insert raises `AuditError` (`DuplicateAnswer` for an id recorded already) whose text carries no
question and no SQL parameters; callers do not show an answer they could not record.

Schema changes are versioned migrations (`MIGRATIONS`, recorded in the `schema_version` table)
applied in order on start-up; never edit a released migration, append a new one.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from assistant.scrub import scrub
from assistant.types import Answer
from ingest.settings import Settings

log = logging.getLogger(__name__)

Rating = Literal["up", "down"]
# Reason codes (Dutch, as the UI offers them). Thumbs down:
FEEDBACK_REASONS_DOWN: tuple[str, ...] = (
    "onjuist",  # answer or figure is wrong
    "bron_ondersteunt_niet",  # the passage does not support the answer
    "onvolledig",  # misses something the sources say
    "niet_relevant",  # answers another question
    "onterecht_geweigerd",  # the sources do answer it
    "onduidelijk",  # hard to read
    "anders",
)
# Thumbs up:
FEEDBACK_REASONS_UP: tuple[str, ...] = ("juist_en_bruikbaar", "goede_bronnen", "tijdwinst", "anders")
FEEDBACK_REASONS: tuple[str, ...] = tuple(dict.fromkeys(FEEDBACK_REASONS_DOWN + FEEDBACK_REASONS_UP))
MAX_COMMENT_CHARS = 2000
MAX_QUESTION_CHARS = 4000

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", String(200), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

answers = Table(
    "answers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("key_name", String(100), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("question", Text, nullable=False),  # scrubbed
    Column("refused", Boolean, nullable=False),
    Column("cited_source_ids", Text, nullable=False),  # JSON list, in citation order
    Column("latency_ms", Float, nullable=True),
    Column("generator", String(40), nullable=False),
    Index("ix_answers_created_at", "created_at"),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("answer_id", String(64), ForeignKey("answers.id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("rating", String(4), nullable=False),
    Column("reason", String(40), nullable=True),
    Column("comment", Text, nullable=True),  # scrubbed
    Column("key_name", String(100), nullable=False),
    Index("ix_feedback_answer_id", "answer_id"),
)


def _migration_1(connection: Connection) -> None:
    answers.create(connection)
    feedback.create(connection)


def _migration_2(connection: Connection) -> None:
    from assistant.conversations import migration_2  # the tables live beside the store that uses them

    migration_2(connection)


def _migration_3(connection: Connection) -> None:
    from assistant.feedback_overview import migration_3

    migration_3(connection)


# (version, description, function). Append only.
MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "answers (audit log) and feedback", _migration_1),
    (2, "advisers' conversations", _migration_2),
    (3, "snapshots of answers that got feedback", _migration_3),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


class UnknownAnswer(KeyError):
    """Feedback for an answer id that was never recorded."""


class AuditError(RuntimeError):
    """An audit record could not be written. The message names no question and no SQL parameters
    (the database error is not chained: a logged traceback must not carry them either)."""


class DuplicateAnswer(AuditError):
    """An answer with this id is recorded already (two requests with the same new id at once)."""


class AnswerRecord(BaseModel):
    id: str
    created_at: dt.datetime
    key_name: str
    channel: str
    question: str = Field(description="Scrubbed of personal data.")
    refused: bool
    cited_source_ids: list[str]
    latency_ms: float | None
    generator: str


class FeedbackRecord(BaseModel):
    id: int
    answer_id: str
    created_at: dt.datetime
    rating: Rating
    reason: str | None
    comment: str | None = Field(description="Scrubbed of personal data.")
    key_name: str
    question: str | None = Field(None, description="The (scrubbed) question of the answer.")


def database_url(settings: Settings) -> str:
    """DATABASE_URL, or SQLite in DATA_DIR. `postgresql://` gets the installed psycopg driver."""
    url = settings.database_url.strip()
    if not url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(settings.data_dir / 'marktwijzer.db').resolve()}"
    if url.startswith(("postgresql://", "postgres://")):
        rest = url.split("://", 1)[1]
        try:
            import psycopg  # noqa: F401

            return f"postgresql+psycopg://{rest}"
        except ImportError:
            return f"postgresql://{rest}"  # SQLAlchemy's default driver (psycopg2)
    return url


def make_engine(url: str) -> Engine:
    """An engine with real transactions on SQLite too (pysqlite otherwise runs DDL outside them)."""
    # hide_parameters: a database error's text must never carry the question (or any value) into a log.
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, hide_parameters=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _sqlite_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get("sqlite_immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def _engine(url: str) -> Engine:
    with _engines_lock:
        if url not in _engines:
            _engines[url] = make_engine(url)
        return _engines[url]


def migrate(engine: Engine) -> int:
    """Apply the migrations not yet recorded, in order, each in its own transaction. Returns the version."""
    try:
        with engine.connect().execution_options(sqlite_immediate=True) as connection, connection.begin():
            schema_version.create(connection, checkfirst=True)
    except DBAPIError:
        if not inspect(engine).has_table("schema_version"):
            raise
    for version, description, apply in MIGRATIONS:
        try:
            with engine.connect().execution_options(sqlite_immediate=True) as connection, connection.begin():
                if engine.dialect.name == "postgresql":  # replicas starting together: one migrates
                    connection.execute(text("SELECT pg_advisory_xact_lock(7262712)"))
                done = connection.execute(
                    select(schema_version.c.version).where(schema_version.c.version == version)
                ).first()
                if done:
                    continue
                apply(connection)
                connection.execute(
                    insert(schema_version).values(
                        version=version, description=description, applied_at=dt.datetime.now(dt.UTC)
                    )
                )
            log.info("database migrated to version %d (%s)", version, description)
        except DBAPIError:
            # Another process (API and UI starting together on SQLite) may have applied it first.
            if current_version(engine) < version:
                raise
            log.info("migration %d was applied concurrently by another process", version)
    return current_version(engine)


def current_version(engine: Engine) -> int:
    with engine.connect() as connection:
        value = connection.execute(select(func.max(schema_version.c.version))).scalar()
    return int(value or 0)


def _storable(text: str) -> str:
    """Text every database takes: PostgreSQL refuses NUL characters, lone surrogates fail to encode."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class AuditStore:
    """Audit records of answers and the feedback on them."""

    def __init__(self, settings: Settings | None = None, url: str | None = None) -> None:
        self.url = url or database_url(settings or Settings())
        self.engine = _engine(self.url)
        self.version = migrate(self.engine)

    # -- answers -------------------------------------------------------------------------------

    def record_answer(
        self,
        answer: Answer,
        key_name: str,
        latency_ms: float | None = None,
        channel: str = "api",
    ) -> str:
        """Store one audit record of an answer; returns its id.

        An answer without an id gets a new one, set on `answer.id` as well. The question is
        scrubbed of personal data before it is stored.
        """
        if not answer.id:
            answer.id = uuid.uuid4().hex[:12]
        if latency_ms is None:
            latency_ms = answer.timings_ms.get("total")
        cited = list(dict.fromkeys(c.source_id for c in answer.citations))
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    insert(answers).values(
                        id=answer.id,
                        created_at=dt.datetime.now(dt.UTC),
                        key_name=key_name[:100],
                        channel=channel[:20],
                        question=_storable(scrub(answer.question))[:MAX_QUESTION_CHARS],
                        refused=answer.refused,
                        cited_source_ids=json.dumps(cited),
                        latency_ms=latency_ms,
                        generator=answer.generator[:40],
                    )
                )
        except IntegrityError:
            raise DuplicateAnswer(f"answer id {answer.id!r} is recorded already") from None
        except SQLAlchemyError as exc:
            raise AuditError(f"audit insert failed: {type(exc).__name__}") from None
        return answer.id

    def get_answer(self, answer_id: str) -> AnswerRecord | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(answers).where(answers.c.id == answer_id)).mappings().first()
        return self._answer(row) if row else None

    def list_answers(self, limit: int = 100, offset: int = 0) -> list[AnswerRecord]:
        """Newest first."""
        query = select(answers).order_by(answers.c.created_at.desc(), answers.c.id).limit(limit).offset(offset)
        with self.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [self._answer(row) for row in rows]

    @staticmethod
    def _answer(row: object) -> AnswerRecord:
        data = dict(row)  # type: ignore[call-overload]
        data["cited_source_ids"] = json.loads(data["cited_source_ids"])
        data["created_at"] = _aware(data["created_at"])
        return AnswerRecord.model_validate(data)

    # -- feedback ------------------------------------------------------------------------------

    def record_feedback(
        self,
        answer_id: str,
        rating: Rating,
        reason: str | None = None,
        comment: str | None = None,
        key_name: str = "ui",
    ) -> int:
        """Store thumbs up/down on a recorded answer; returns the feedback id.

        Raises ValueError for an unknown rating or reason code (see FEEDBACK_REASONS) and
        UnknownAnswer when the answer id was never recorded. The comment is scrubbed.
        """
        if rating not in ("up", "down"):
            raise ValueError(f"rating must be 'up' or 'down', not {rating!r}")
        reason = reason or None
        if reason is not None and reason not in FEEDBACK_REASONS:
            raise ValueError(f"unknown reason {reason!r}; expected one of {', '.join(FEEDBACK_REASONS)}")
        if comment is not None:
            comment = _storable(scrub(comment.strip()))[:MAX_COMMENT_CHARS] or None
        with self.engine.begin() as connection:
            known = connection.execute(select(answers.c.id).where(answers.c.id == answer_id)).first()
            if not known:
                raise UnknownAnswer(answer_id)
            result = connection.execute(
                insert(feedback).values(
                    answer_id=answer_id,
                    created_at=dt.datetime.now(dt.UTC),
                    rating=rating,
                    reason=reason,
                    comment=comment,
                    key_name=key_name[:100],
                )
            )
            return int(result.inserted_primary_key[0])

    def list_feedback(
        self, limit: int = 1000, rating: Rating | None = None, answer_ids: Sequence[str] | None = None
    ) -> list[FeedbackRecord]:
        """Newest first, each with the (scrubbed) question it is about."""
        query = (
            select(feedback, answers.c.question)
            .join(answers, answers.c.id == feedback.c.answer_id)
            .order_by(feedback.c.id.desc())
            .limit(limit)
        )
        if rating is not None:
            query = query.where(feedback.c.rating == rating)
        if answer_ids is not None:
            query = query.where(feedback.c.answer_id.in_(list(answer_ids)))
        with self.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        records = []
        for row in rows:
            data = dict(row)
            data["created_at"] = _aware(data["created_at"])
            records.append(FeedbackRecord.model_validate(data))
        return records

    def counts(self) -> dict[str, int]:
        """Answers, refusals and feedback totals (for metrics and dashboards)."""
        with self.engine.connect() as connection:
            total = connection.execute(select(func.count()).select_from(answers)).scalar() or 0
            refused = connection.execute(
                select(func.count()).select_from(answers).where(answers.c.refused.is_(True))
            ).scalar() or 0
            up = connection.execute(
                select(func.count()).select_from(feedback).where(feedback.c.rating == "up")
            ).scalar() or 0
            down = connection.execute(
                select(func.count()).select_from(feedback).where(feedback.c.rating == "down")
            ).scalar() or 0
        return {"answers": int(total), "refused": int(refused), "feedback_up": int(up), "feedback_down": int(down)}
