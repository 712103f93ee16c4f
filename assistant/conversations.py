"""Advisers' conversations (issue 17), stored in the audit store's database (same engine, same
migrations: `assistant.audit.MIGRATIONS` version 2).

    store = ConversationStore(settings)
    conversation_id = store.create(owner="anna", title="Hoeveel vacatures ...")
    store.add_turn(owner, conversation_id, answer)       # the Answer contract, question scrubbed
    store.list(owner) / store.get(owner, id) / store.rename(owner, id, title) / store.delete(owner, id)
    store.purge(days)                                     # retention (MARKTWIJZER_CONVERSATION_DAYS)

Every read and write takes the owner: one adviser (UI name or API key name) never sees, renames or
deletes another's conversation (a foreign id is "not found", as an unknown one). Questions and titles
are scrubbed of personal data as in the audit log; the answers are built from public sources.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid

from pydantic import BaseModel, Field
from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, String, Table, Text, delete, func, insert, select, update
from sqlalchemy.engine import Connection

from assistant.audit import AuditStore, _aware, _storable, metadata
from assistant.scrub import scrub
from assistant.types import Answer
from ingest.settings import Settings

log = logging.getLogger(__name__)

MAX_TITLE_CHARS = 120
MAX_OWNER_CHARS = 200
PURGE_EVERY_S = 3600.0

conversations = Table(
    "conversations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("owner", String(MAX_OWNER_CHARS), nullable=False),
    Column("title", String(200), nullable=False),  # scrubbed
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_conversations_owner_updated", "owner", "updated_at"),
    Index("ix_conversations_updated", "updated_at"),
)

conversation_turns = Table(
    "conversation_turns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(32), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("question", Text, nullable=False),  # scrubbed
    Column("answer", Text, nullable=False),  # the Answer contract as JSON, its question scrubbed
    Index("ix_conversation_turns_conversation", "conversation_id", "position", unique=True),
)


def migration_2(connection: Connection) -> None:
    conversations.create(connection)
    conversation_turns.create(connection)


class ConversationNotFound(KeyError):
    """No conversation with this id for this owner (also when it is someone else's)."""


class ConversationSummary(BaseModel):
    id: str
    title: str = Field(description="The first question (scrubbed) or the name the adviser gave it.")
    created_at: dt.datetime
    updated_at: dt.datetime
    turns: int


class ConversationTurn(BaseModel):
    position: int
    created_at: dt.datetime
    question: str = Field(description="Scrubbed of personal data.")
    answer: Answer


class Conversation(ConversationSummary):
    items: list[ConversationTurn]


def title_from(question: str) -> str:
    text = " ".join(_storable(scrub(question)).split())
    return text if len(text) <= MAX_TITLE_CHARS else text[: MAX_TITLE_CHARS - 1].rstrip() + "…"


def clean_owner(owner: str) -> str:
    value = " ".join(str(owner or "").split())[:MAX_OWNER_CHARS]
    if not value:
        raise ValueError("owner is empty")
    return value


class ConversationStore:
    """Conversations per owner in the audit database (created and migrated by `AuditStore`)."""

    def __init__(self, settings: Settings | None = None, url: str | None = None, audit: AuditStore | None = None) -> None:
        self.settings = settings or Settings()
        self.audit = audit or AuditStore(self.settings, url=url)
        self.engine = self.audit.engine
        self._purged_at = 0.0
        self._purge_lock = threading.Lock()

    # -- writing ---------------------------------------------------------------------------------

    def create(self, owner: str, title: str, conversation_id: str | None = None) -> str:
        owner = clean_owner(owner)
        conversation_id = conversation_id or uuid.uuid4().hex[:16]
        now = dt.datetime.now(dt.UTC)
        with self.engine.begin() as connection:
            connection.execute(insert(conversations).values(
                id=conversation_id, owner=owner, title=title_from(title) or "Gesprek", created_at=now, updated_at=now,
            ))
        return conversation_id

    def add_turn(self, owner: str, conversation_id: str, answer: Answer) -> int:
        """Appends one answered question; creates the conversation (titled by it) when it is new to
        this owner. Returns the turn's position (0-based)."""
        owner = clean_owner(owner)
        question = _storable(scrub(answer.question))
        stored = answer.model_copy(update={"question": question})
        now = dt.datetime.now(dt.UTC)
        with self.engine.connect().execution_options(sqlite_immediate=True) as connection, connection.begin():
            row = connection.execute(select(conversations.c.owner).where(conversations.c.id == conversation_id)).first()
            if row is None:
                connection.execute(insert(conversations).values(
                    id=conversation_id, owner=owner, title=title_from(question) or "Gesprek", created_at=now, updated_at=now,
                ))
            elif row[0] != owner:
                raise ConversationNotFound(conversation_id)
            position = connection.execute(
                select(func.count()).select_from(conversation_turns).where(conversation_turns.c.conversation_id == conversation_id)
            ).scalar() or 0
            connection.execute(insert(conversation_turns).values(
                conversation_id=conversation_id, position=int(position), created_at=now, question=question,
                answer=stored.model_dump_json(),
            ))
            connection.execute(update(conversations).where(conversations.c.id == conversation_id).values(updated_at=now))
        return int(position)

    def rename(self, owner: str, conversation_id: str, title: str) -> None:
        title = title_from(title)
        if not title:
            raise ValueError("De naam van het gesprek is leeg.")
        with self.engine.begin() as connection:
            done = connection.execute(update(conversations).where(
                conversations.c.id == conversation_id, conversations.c.owner == clean_owner(owner)).values(title=title))
        if not done.rowcount:
            raise ConversationNotFound(conversation_id)

    def delete(self, owner: str, conversation_id: str) -> None:
        with self.engine.begin() as connection:
            owned = connection.execute(select(conversations.c.id).where(
                conversations.c.id == conversation_id, conversations.c.owner == clean_owner(owner))).first()
            if owned is None:
                raise ConversationNotFound(conversation_id)
            connection.execute(delete(conversation_turns).where(conversation_turns.c.conversation_id == conversation_id))
            connection.execute(delete(conversations).where(conversations.c.id == conversation_id))

    def delete_all(self, owner: str) -> int:
        owner = clean_owner(owner)
        with self.engine.begin() as connection:
            ids = [r[0] for r in connection.execute(select(conversations.c.id).where(conversations.c.owner == owner))]
            if ids:
                connection.execute(delete(conversation_turns).where(conversation_turns.c.conversation_id.in_(ids)))
                connection.execute(delete(conversations).where(conversations.c.id.in_(ids)))
        return len(ids)

    def purge(self, days: int | None = None, now: dt.datetime | None = None) -> int:
        """Deletes every conversation (of any owner) not changed in `days` (default: the setting);
        returns how many. Newer ones are untouched."""
        days = days if days is not None else self.settings.conversation_days
        cutoff = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=days)
        with self.engine.begin() as connection:
            ids = [r[0] for r in connection.execute(select(conversations.c.id).where(conversations.c.updated_at < cutoff))]
            if ids:
                connection.execute(delete(conversation_turns).where(conversation_turns.c.conversation_id.in_(ids)))
                connection.execute(delete(conversations).where(conversations.c.id.in_(ids)))
        if ids:
            log.info("retention: %d conversation(s) older than %d days deleted", len(ids), days)
        return len(ids)

    def purge_due(self) -> None:
        """Retention on the side of normal use: at most once an hour per process."""
        with self._purge_lock:
            if time.monotonic() - self._purged_at < PURGE_EVERY_S and self._purged_at:
                return
            self._purged_at = time.monotonic()
        try:
            self.purge()
        except Exception:  # noqa: BLE001  (retention must not break reading; retried next hour)
            log.warning("conversation retention failed", exc_info=True)

    # -- reading ---------------------------------------------------------------------------------

    def list(self, owner: str, limit: int = 100) -> list[ConversationSummary]:
        """The owner's conversations, most recently changed first."""
        self.purge_due()
        count = (select(func.count()).select_from(conversation_turns)
                 .where(conversation_turns.c.conversation_id == conversations.c.id).scalar_subquery())
        query = (select(conversations, count.label("turns")).where(conversations.c.owner == clean_owner(owner))
                 .order_by(conversations.c.updated_at.desc(), conversations.c.id).limit(limit))
        with self.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [ConversationSummary(id=r["id"], title=r["title"], created_at=_aware(r["created_at"]),
                                    updated_at=_aware(r["updated_at"]), turns=int(r["turns"] or 0)) for r in rows]

    def get(self, owner: str, conversation_id: str) -> Conversation:
        self.purge_due()
        with self.engine.connect() as connection:
            row = connection.execute(select(conversations).where(
                conversations.c.id == conversation_id, conversations.c.owner == clean_owner(owner))).mappings().first()
            if row is None:
                raise ConversationNotFound(conversation_id)
            turns = connection.execute(select(conversation_turns).where(
                conversation_turns.c.conversation_id == conversation_id).order_by(conversation_turns.c.position)).mappings().all()
        items = [ConversationTurn(position=t["position"], created_at=_aware(t["created_at"]), question=t["question"],
                                  answer=Answer.model_validate_json(t["answer"])) for t in turns]
        return Conversation(id=row["id"], title=row["title"], created_at=_aware(row["created_at"]),
                            updated_at=_aware(row["updated_at"]), turns=len(items), items=items)

    def touch(self, conversation_id: str, when: dt.datetime) -> None:
        """Sets the last change (tests of retention, imports)."""
        with self.engine.begin() as connection:
            connection.execute(update(conversations).where(conversations.c.id == conversation_id).values(updated_at=when))
