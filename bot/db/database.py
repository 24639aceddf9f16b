"""The data access layer: one class in front of SQLAlchemy.

`DATABASE_URL` selects the engine: a SQLite file by default, PostgreSQL
(`postgresql+psycopg2://...`) when the platform runs several instances.
"""

from __future__ import annotations

import hmac
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterator

from sqlalchemy import bindparam, create_engine, delete, event, func, insert, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, selectinload, sessionmaker
from sqlalchemy.pool import QueuePool, StaticPool

from bot.db.bookings import BookingStore, BookingView
from bot.db.tables import Base, Case, CaseEvent, HandoffRequest, RateEvent
from bot.surnames import romanisations

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_URL = f"sqlite:///{PROJECT_ROOT / 'var' / 'wenzhou.db'}"
# Compared against when the case number is unknown, so that an unknown
# number costs the same work as a wrong proof.
_DECOY = ("\u0000", "\u0000\u0000\u0000\u0000")


@dataclass(frozen=True)
class CaseView:
    case_no: str
    item_id: str
    status: str
    site: str | None
    history: list[dict[str, Any]]


def _view(case: Case) -> CaseView:
    return CaseView(
        case_no=case.case_no,
        item_id=case.item_id,
        status=case.status,
        site=case.site,
        history=[{"at": event.at, "status": event.status, "note": event.note} for event in case.history],
    )


def database_url() -> str:
    return os.environ.get("DATABASE_URL", DEFAULT_URL)


def make_engine(url: str, synced: bool = True) -> Engine:
    """The engine for `url`. `synced=False` (SQLite in a file): its connections commit to the write-ahead
    log without a disk sync (`Database.transaction(synced=False)`); the caller syncs (`Database.sync`)."""
    if url.startswith("sqlite"):
        if url in ("sqlite://", "sqlite:///:memory:"):
            return create_engine(
                url, future=True, connect_args={"check_same_thread": False}, poolclass=StaticPool, hide_parameters=True
            )
        path = url.split("sqlite:///", 1)[-1]
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # A pool of open connections (SQLAlchemy 1.4 opens a new SQLite connection per session by
        # default): opening one costs more than the desk's whole transaction.
        engine = create_engine(
            url,
            future=True,
            # Bound parameters hold citizens' text: never in an error message or a log (issue 10).
            hide_parameters=True,
            connect_args={"check_same_thread": False, "timeout": 15},
            poolclass=QueuePool,
            pool_size=8 if synced else 2,
            max_overflow=8 if synced else 2,
        )
        event.listen(engine, "connect", _sqlite_pragmas("FULL" if synced else "NORMAL"))
        return engine
    return create_engine(url, future=True, pool_pre_ping=True, hide_parameters=True)


def _sqlite_pragmas(synchronous: str) -> Callable[[Any, Any], None]:
    """Write-ahead log; `synchronous` FULL: every commit synced to disk; NORMAL: not at commit.

    The rollback journal syncs the journal, the database and the directory on every commit (about
    1-4 ms here, and as much CPU as the rest of the desk's transaction); the WAL syncs one appended
    file (about 0.3 ms), and readers (consoles, the action server) no longer wait for writers.
    `synchronous=FULL` keeps what the desk promises: a commit is on disk when it returns, so a
    citizen's message is durable before it is acknowledged. The one exception is asked for by name,
    `Database.transaction(synced=False)`, whose caller syncs before it acknowledges: its connections
    are NORMAL, in a pool of their own, rather than a synced connection switched to NORMAL and back
    around each such transaction (three more statements on every citizen message, issue 12).
    The WAL setting is stored in the file, so every process that opens the database (action server,
    trainer, seed) uses it.
    """

    def on_connect(connection: Any, _: Any) -> None:
        cursor = connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
        finally:
            cursor.close()

    return on_connect


def _sqlite_changes(connection: Connection) -> int:
    """Rows SQLite's connection has inserted, updated or deleted since it opened (sqlite3's total_changes)."""
    return connection.connection.dbapi_connection.total_changes


_EVENTS = RateEvent.__table__
# Built once: a statement object keeps its cache key, so each message neither builds nor keys it again
# (building and keying the statements cost more CPU than SQLite's work for them).
_FORGET_EVENTS = delete(_EVENTS).where(_EVENTS.c.key == bindparam("p_key"), _EVENTS.c.at < bindparam("p_start"))
_COUNT_EVENTS = (
    select(_EVENTS.c.key, func.count(_EVENTS.c.id))
    .where(_EVENTS.c.key.in_(bindparam("p_keys", expanding=True)))
    .group_by(_EVENTS.c.key)
)
_ADD_EVENT = insert(_EVENTS)


def count_events(session: Session | Connection, limits: list[tuple[str, int, float]]) -> str | None:
    """Rate limits inside a caller's transaction: the first key over its limit, or None (then all counted).

    The desk counts a citizen's message in the same transaction that stores it. Three
    statements whatever the number of limits: forget events out of their window, count
    those in it, add this one.
    """
    if not limits:
        return None
    now = datetime.utcnow()
    starts = [{"p_key": key, "p_start": now - timedelta(seconds=window_s)} for key, _, window_s in limits]
    session.execute(_FORGET_EVENTS, starts)
    seen = dict(session.execute(_COUNT_EVENTS, {"p_keys": [key for key, _, _ in limits]}).all())
    for key, limit, _ in limits:
        if seen.get(key, 0) >= limit:
            return key
    session.execute(_ADD_EVENT, [{"key": key, "at": now} for key, _, _ in limits])
    return None


# Data upgrades after the tables and columns exist (a module that defines tables appends its own, e.g.
# bot/desk/tables.py numbers the conversations stored before staff numbers existed). Each runs in one
# transaction at every start, so it must do nothing when there is nothing to upgrade.
UPGRADES: list[Callable[[Connection], Any]] = []


def add_missing_columns(engine: Engine) -> list[str]:
    """Adds the nullable columns a newer version of a table has to an older database's table.

    `create_all` makes missing tables, never missing columns; a column added to a table (the
    conversation's language, a clerk's languages) would otherwise break an existing var/*.db.
    Only nullable columns without a server default are added: anything else needs a real migration.
    """
    from sqlalchemy import inspect
    from sqlalchemy.schema import CreateColumn

    added = []
    inspector = inspect(engine)
    with engine.begin() as connection:
        for table in Base.metadata.sorted_tables:
            if not inspector.has_table(table.name):
                continue
            present = {column["name"] for column in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in present or not column.nullable or column.primary_key:
                    continue
                ddl = CreateColumn(column).compile(dialect=engine.dialect)
                connection.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {ddl}")
                added.append(f"{table.name}.{column.name}")
    return added


class Database(BookingStore):
    def __init__(self, url: str | None = None):
        self.url = url or database_url()
        self.engine = make_engine(self.url)
        self._sessions = sessionmaker(self.engine, future=True, expire_on_commit=False)
        # How many threads of one service should use the database at once. SQLite lets one writer
        # in at a time and makes the others sleep and retry (1, 2, 5 ... 100 ms): in one thread
        # the desk's transactions simply follow each other. PostgreSQL takes them in parallel.
        self.workers = 1 if self.url.startswith("sqlite") else 8
        # SQLite in a file: its write-ahead log, which `transaction(synced=False)` writes without
        # syncing. Such commits are numbered; `synced_through` is the highest number a later synced
        # commit (or `sync`) has made durable, since syncing the log file syncs every commit before it.
        path = self.engine.url.database if self.engine.dialect.name == "sqlite" else None
        self._wal = Path(f"{path}-wal") if path and path != ":memory:" else None
        self._unsynced_engine: Engine | None = None
        self.unsynced_commits = 0
        self.synced_through = 0
        self._sync_lock = threading.Lock()

    def ping(self) -> bool:
        """Whether the database answers a trivial query now (health checks)."""
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    def create_schema(self) -> None:
        if self.engine.dialect.name == "postgresql":
            # Several instances start at once (make cluster): one creates the tables, the others wait
            # for it (PostgreSQL's CREATE TABLE is not safe against a concurrent one of the same name).
            with self.engine.begin() as connection:
                connection.exec_driver_sql("SELECT pg_advisory_xact_lock(15150001)")
                Base.metadata.create_all(connection)
        else:
            Base.metadata.create_all(self.engine)
        add_missing_columns(self.engine)
        with self.engine.begin() as connection:
            if self.engine.dialect.name == "postgresql":
                # Two desks starting at once would number the same old rows twice.
                connection.exec_driver_sql("SELECT pg_advisory_xact_lock(15150001)")
            for upgrade in UPGRADES:
                upgrade(connection)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def transaction(self, synced: bool = True) -> Iterator[Connection]:
        """A Core connection in a transaction (committed at the end, rolled back on an exception).

        For the statements run on every message: no ORM session to set up and tear down.
        `synced=False` (SQLite in a file): the commit is in the write-ahead log, safe from a crash of
        the process but not yet from one of the machine, until the next synced commit or `sync`
        (`synced(unsynced_commits)` says when). A citizen's HTTP message is stored so, and the bot's
        lines, synced, make it durable with them: one disk sync per message, before the answer.
        """
        if self._wal is None:
            with self.engine.begin() as connection:
                yield connection
            return
        if synced:
            # Every unsynced commit that ended before this one began is in the log this commit syncs,
            # but only a commit that wrote syncs the log: one that changed no row leaves it as it was.
            covered = self.unsynced_commits
            with self.engine.begin() as connection:
                changes_before = _sqlite_changes(connection)
                yield connection
                wrote = _sqlite_changes(connection) != changes_before
            if wrote:
                self._mark_synced(covered)
            return
        with self.unsynced_engine.begin() as connection:
            yield connection
        with self._sync_lock:
            self.unsynced_commits += 1

    @property
    def unsynced_engine(self) -> Engine:
        """The engine of `transaction(synced=False)`: its own pool on SQLite in a file, else `engine`."""
        if self._wal is None:
            return self.engine
        if self._unsynced_engine is None:
            with self._sync_lock:
                if self._unsynced_engine is None:
                    self._unsynced_engine = make_engine(self.url, synced=False)
        return self._unsynced_engine

    def dispose(self) -> None:
        """Closes the pooled connections of both engines (at shutdown; a test that moves the file away)."""
        self.engine.dispose()
        if self._unsynced_engine is not None:
            self._unsynced_engine.dispose()

    def _mark_synced(self, through: int) -> None:
        with self._sync_lock:
            self.synced_through = max(self.synced_through, through)

    def synced(self, through: int) -> bool:
        """Whether the unsynced commits numbered up to `through` are on disk."""
        return self._wal is None or self.synced_through >= through

    def sync(self, through: int) -> None:
        """Makes the unsynced commits up to `through` durable: one fsync of the log, unless done already."""
        if self.synced(through):
            return
        covered = self.unsynced_commits
        try:
            descriptor = os.open(self._wal, os.O_RDONLY)  # type: ignore[arg-type]
        except FileNotFoundError:
            # No log: SQLite checkpointed it into the database, which it syncs first.
            self._mark_synced(covered)
            return
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        self._mark_synced(covered)

    # --- cases --------------------------------------------------------------

    def count_cases(self) -> int:
        with self.session() as session:
            return session.execute(select(func.count(Case.id))).scalar_one()

    def add_case(self, case: Case) -> None:
        with self.session() as session:
            session.add(case)

    def find_owned_case(self, case_no: str, surname: str, doc_last4: str) -> CaseView | None:
        """The case, only if the surname and document tail prove ownership.

        A wrong proof and an unknown case number give the same None, after the
        same comparisons.
        """
        with self.session() as session:
            # History is loaded only after the proof holds, so that a known
            # number with a wrong proof costs the same single query as an unknown one.
            case = session.execute(select(Case).where(Case.case_no == case_no.upper())).scalar_one_or_none()
            expected = (case.surname, case.doc_last4.upper()) if case else _DECOY
            # The surname in characters, or in pinyin as citizens abroad write it ("Chen").
            accepted = [expected[0], *sorted(romanisations(expected[0]))] if case else [expected[0]]
            given = surname.strip().lower() if surname.strip().isascii() else surname.strip()
            surname_ok = any([hmac.compare_digest(name.encode(), given.encode()) for name in accepted])
            tail_ok = hmac.compare_digest(expected[1].encode(), doc_last4.strip().upper().encode())
            if case is None or not (surname_ok and tail_ok):
                return None
            return _view(case)

    def case_by_number(self, case_no: str) -> CaseView | None:
        """For staff (clerk console), who are logged in and need no proof."""
        with self.session() as session:
            case = session.execute(
                select(Case).options(selectinload(Case.history)).where(Case.case_no == case_no.upper())
            ).scalar_one_or_none()
            return _view(case) if case else None

    # --- rate limits -----------------------------------------------------------

    def allow(self, key: str, limit: int, window_s: float) -> bool:
        """Counts one event for `key`; False (and nothing counted) once `limit` were seen in the window.

        In the database, so that every instance behind a load balancer shares the count.
        """
        return self.allow_all([(key, limit, window_s)]) is None

    def purge_rate_events(self, older_than_s: float = 86400) -> int:
        """Forgets rate-limit events older than every window (a key seen once would stay forever)."""
        events = RateEvent.__table__
        with self.session() as session:
            since = datetime.utcnow() - timedelta(seconds=older_than_s)
            return session.execute(delete(events).where(events.c.at < since)).rowcount

    def recent_events(self, key: str, window_s: float) -> int:
        """How many events `key` counted in the last `window_s` seconds (nothing is counted)."""
        events = RateEvent.__table__
        since = datetime.utcnow() - timedelta(seconds=window_s)
        with self.session() as session:
            return session.execute(
                select(func.count(events.c.id)).where(events.c.key == key, events.c.at >= since)
            ).scalar_one()

    def allow_all(self, limits: list[tuple[str, int, float]]) -> str | None:
        """Several limits in one transaction: the first key over its limit, or None (then all counted)."""
        with self.session() as session:
            return count_events(session, limits)

    # --- hand-off ------------------------------------------------------------

    def add_handoff(self, conversation_id: str, reason: str, understood: dict[str, Any]) -> int:
        with self.session() as session:
            request = HandoffRequest(
                conversation_id=conversation_id, reason=reason, understood=understood, created_at=datetime.utcnow()
            )
            session.add(request)
            session.flush()
            return request.id

    def waiting_handoffs(self) -> list[dict[str, Any]]:
        with self.session() as session:
            rows = session.execute(
                select(HandoffRequest).where(HandoffRequest.status == "waiting").order_by(HandoffRequest.created_at)
            ).scalars()
            return [
                {
                    "id": r.id,
                    "conversation_id": r.conversation_id,
                    "reason": r.reason,
                    "understood": r.understood,
                    "created_at": r.created_at,
                }
                for r in rows
            ]


__all__ = ["BookingView", "Database", "CaseView", "CaseEvent", "database_url"]
