"""Audit log and feedback store: versioned schema, scrubbed questions, feedback tied to answer ids."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.audit import (
    MIGRATIONS,
    SCHEMA_VERSION,
    AuditStore,
    UnknownAnswer,
    current_version,
    database_url,
    make_engine,
    migrate,
)
from assistant.types import Answer, Citation
from ingest.settings import Settings


def _settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", corpus_dir=tmp_path / "corpus", _env_file=None)


def _answer(question: str, answer_id: str | None = "a1", refused: bool = False) -> Answer:
    citations = [] if refused else [
        Citation(n=1, source_id="src-b", title="B", publisher="UWV", edition="1", page=3, section="1", text="x", score=0.5),
        Citation(n=2, source_id="src-a", title="A", publisher="UWV", edition="1", page=4, section="2", text="y", score=0.4),
        Citation(n=3, source_id="src-b", title="B", publisher="UWV", edition="1", page=5, section="3", text="z", score=0.3),
    ]
    return Answer(id=answer_id, question=question, answer="…", refused=refused, citations=citations,
                  timings_ms={"total": 12.5})


def test_default_database_is_sqlite_in_data_dir(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert database_url(settings) == f"sqlite:///{(tmp_path / 'data' / 'marktwijzer.db').resolve()}"
    AuditStore(settings)
    assert (tmp_path / "data" / "marktwijzer.db").is_file()


def test_migrations_are_versioned_and_idempotent(tmp_path: Path) -> None:
    store = AuditStore(_settings(tmp_path))
    assert store.version == SCHEMA_VERSION == MIGRATIONS[-1][0]
    assert migrate(store.engine) == SCHEMA_VERSION  # second run applies nothing
    with sqlite3.connect(tmp_path / "data" / "marktwijzer.db") as db:
        versions = [row[0] for row in db.execute("SELECT version FROM schema_version ORDER BY version")]
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert versions == [m[0] for m in MIGRATIONS]
    assert {"answers", "feedback", "schema_version"} <= tables


def test_concurrent_start_migrates_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'race.db'}"
    errors: list[BaseException] = []

    def start() -> None:
        try:
            migrate(make_engine(url))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert current_version(make_engine(url)) == SCHEMA_VERSION


def test_answer_record_holds_scrubbed_question_and_cited_sources(tmp_path: Path) -> None:
    store = AuditStore(_settings(tmp_path))
    question = "Klant met BSN 111222333 (j.jansen@example.nl, 06-12345678) vraagt naar vacatures in Amersfoort"
    answer_id = store.record_answer(_answer(question), key_name="crm", latency_ms=40.0)
    record = store.get_answer(answer_id)
    assert record is not None
    assert record.key_name == "crm" and record.latency_ms == 40.0 and not record.refused
    assert record.cited_source_ids == ["src-b", "src-a"]  # unique, in citation order
    assert "vacatures in Amersfoort" in record.question
    for secret in ("111222333", "j.jansen@example.nl", "06-12345678", "12345678"):
        assert secret not in record.question
    raw = (tmp_path / "data" / "marktwijzer.db").read_bytes()
    wal = tmp_path / "data" / "marktwijzer.db-wal"
    raw += wal.read_bytes() if wal.exists() else b""
    for secret in (b"111222333", b"j.jansen@example.nl", b"06-12345678"):
        assert secret not in raw


def test_answer_without_id_gets_one(tmp_path: Path) -> None:
    store = AuditStore(_settings(tmp_path))
    answer = _answer("Is dit een vraag?", answer_id=None, refused=True)
    answer_id = store.record_answer(answer, key_name="ui", channel="ui")
    assert answer_id and answer.id == answer_id
    record = store.get_answer(answer_id)
    assert record is not None and record.refused and record.cited_source_ids == [] and record.latency_ms == 12.5


def test_feedback_refers_to_recorded_answers(tmp_path: Path) -> None:
    store = AuditStore(_settings(tmp_path))
    store.record_answer(_answer("Hoeveel banen?", "ans-1"), key_name="ui")
    up = store.record_feedback("ans-1", "up", key_name="ui")
    down = store.record_feedback("ans-1", "down", reason="onjuist", comment="Bel me: 06-12345678 of mail p@q.nl",
                                 key_name="ui")
    assert down > up
    with pytest.raises(UnknownAnswer):
        store.record_feedback("nope", "up")
    with pytest.raises(ValueError):
        store.record_feedback("ans-1", "meh")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        store.record_feedback("ans-1", "down", reason="no-such-reason")
    records = store.list_feedback()
    assert [r.id for r in records] == [down, up]
    assert records[0].comment is not None and "06-12345678" not in records[0].comment and "p@q.nl" not in records[0].comment
    assert records[0].question == "Hoeveel banen?"
    assert [r.id for r in store.list_feedback(rating="up")] == [up]
    assert store.counts() == {"answers": 1, "refused": 0, "feedback_up": 1, "feedback_down": 1}


def test_duplicate_answer_id_is_refused(tmp_path: Path) -> None:
    store = AuditStore(_settings(tmp_path))
    store.record_answer(_answer("Vraag één", "same"), key_name="a")
    with pytest.raises(Exception):  # noqa: B017  (an IntegrityError of the database driver)
        store.record_answer(_answer("Vraag twee", "same"), key_name="a")
    assert store.get_answer("same").question == "Vraag één"  # type: ignore[union-attr]


# -- PostgreSQL (a real server on loopback, when the machine has one) -------------------------

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _pg_command(*args: str) -> list[str]:
    """initdb/pg_ctl refuse to run as root: run them as the postgres user then."""
    import os
    import shutil

    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL")
        return [runuser, "-u", "postgres", "--", *args]
    return list(args)


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    import os
    import shutil
    import socket
    import subprocess

    initdb = PG_BIN / "initdb" if (PG_BIN / "initdb").exists() else shutil.which("initdb")
    pg_ctl = PG_BIN / "pg_ctl" if (PG_BIN / "pg_ctl").exists() else shutil.which("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("no PostgreSQL server binaries on this machine")
    pytest.importorskip("psycopg")
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="mw-test-pg-"))  # not under pytest's root-only temp dir
    if os.geteuid() == 0:
        shutil.chown(root, user="postgres")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = root / "data"
    subprocess.run(_pg_command(str(initdb), "-D", str(data), "-A", "trust", "-U", "mw"), check=True,
                   capture_output=True)
    subprocess.run(_pg_command(str(pg_ctl), "-D", str(data), "-l", str(root / "log"), "-w", "-o",
                               f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start"),
                   check=True, capture_output=True)
    try:
        yield f"postgresql://mw@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_pg_command(str(pg_ctl), "-D", str(data), "-m", "immediate", "stop"), check=False,
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_audit_store_on_postgresql(postgres_url: str) -> None:
    errors: list[BaseException] = []

    def start() -> None:
        try:
            migrate(make_engine(postgres_url))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]  # replicas starting together
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    store = AuditStore(url=postgres_url)
    assert store.engine.dialect.name == "postgresql" and store.version == SCHEMA_VERSION
    question = "Klant met BSN 111222333 en mail j.jansen@example.nl vraagt\x00 naar vacatures"
    answer_id = store.record_answer(_answer(question, "pg-1"), key_name="crm", latency_ms=7.0)
    record = store.get_answer(answer_id)
    assert record is not None and "111222333" not in record.question and "\x00" not in record.question
    assert record.cited_source_ids == ["src-b", "src-a"] and record.created_at.tzinfo is not None
    feedback_id = store.record_feedback("pg-1", "down", reason="onjuist", comment="bel 06-12345678", key_name="ui")
    assert store.list_feedback()[0].id == feedback_id
    assert "06-12345678" not in (store.list_feedback()[0].comment or "")
    with pytest.raises(UnknownAnswer):
        store.record_feedback("nope", "up")


def test_conversations_on_postgresql(postgres_url: str) -> None:
    """The conversation store (issue 17) on the same PostgreSQL database as the audit log."""
    from assistant.conversations import ConversationNotFound, ConversationStore

    store = ConversationStore(url=postgres_url)
    assert store.audit.engine.dialect.name == "postgresql"
    store.add_turn("ui:anna", "pg-c1", _answer("Vacatures in Amersfoort? Mail j.jansen@example.nl", "pg-c1-a"))
    store.add_turn("ui:anna", "pg-c1", _answer("En in Groningen?", "pg-c1-b"))
    conversation = store.get("ui:anna", "pg-c1")
    assert [t.answer.id for t in conversation.items] == ["pg-c1-a", "pg-c1-b"]
    assert "j.jansen@example.nl" not in conversation.title
    with pytest.raises(ConversationNotFound):
        store.get("ui:bram", "pg-c1")
    assert store.list("ui:bram") == []
    store.delete("ui:anna", "pg-c1")
    assert store.list("ui:anna") == []
