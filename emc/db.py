"""Engine, sessions and the migration gate.

SQLite is the embedded default (WAL, foreign keys on, a busy timeout so the scheduler and web
requests can share the file); PostgreSQL is the production store. Schema changes go through
Alembic only (`emc db upgrade`); the app refuses to start on a database that is not at head.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel, create_engine

# Named constraints make migrations reviewable and portable (Alembic can drop what it can name).
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class NotMigratedError(RuntimeError):
    pass


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _real_transaction_first(conn, _name) -> None:  # type: ignore[no-untyped-def]
    """Open a real transaction before a savepoint on SQLite.

    Python's sqlite3 driver begins a transaction only before INSERT/UPDATE/DELETE, so a SAVEPOINT issued
    after nothing but reads *starts* the transaction, and releasing it commits: a "nested" write was
    durable at once, and a crash later left an import's readings stored under a batch still "previewed".
    BEGIN IMMEDIATE first makes the savepoint nest inside the session's transaction, so the outer commit
    or rollback decides, as on PostgreSQL; it also takes the write lock up front (waiting up to
    busy_timeout)."""
    dbapi = conn.connection.dbapi_connection
    if not dbapi.in_transaction:
        dbapi.execute("BEGIN IMMEDIATE")


def make_engine(url: str, *, read_only: bool = False) -> Engine:
    """An engine on ``url``. ``read_only`` (the read replica's, EMC_DATABASE_READ_URL): every transaction is
    opened READ ONLY by the server itself, so a write that strays onto it fails loudly at once, even when the
    URL names the primary or a pooler in front of it, instead of writing where nobody expects it."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if read_only:
            raise ValueError("a read-only engine (EMC_DATABASE_READ_URL) needs PostgreSQL, not SQLite")
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "savepoint", _real_transaction_first)
        return engine
    if parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    # jit = off: the app's queries are small and indexed; with JIT on, a plan whose estimate crosses
    # jit_above_cost (stale statistics are enough) spends tens of milliseconds compiling a query that runs in
    # a fraction of one (a bills lookup on a 5× Wuxi portfolio: 37.6 ms instead of 0.25 ms).
    options = "-c jit=off" + (" -c default_transaction_read_only=on" if read_only else "")
    return create_engine(url, pool_pre_ping=True, connect_args={"options": options})


# autovacuum's own defaults (autovacuum_analyze_threshold, autovacuum_analyze_scale_factor): a table is worth
# re-analysing once this many rows changed. We apply them ourselves because a server may run with autovacuum off.
ANALYZE_THRESHOLD = 50
ANALYZE_SCALE_FACTOR = 0.1


def analyze(bind: Any, tables: Sequence[str] = (), *, changed: int | None = None) -> bool:
    """Refresh PostgreSQL's planner statistics after a bulk load; returns whether it ran.

    ``bind`` is a Session or Connection: ANALYZE is transactional, so inside the loading transaction the new
    statistics commit (or roll back) with the rows. ``tables`` empty: the whole database. With ``changed``
    (rows written), tables are analysed only when that passes autovacuum's rule (50 + 10 % of the table), so
    a twelve-row upload costs nothing. SQLite plans without collected statistics: nothing to do there.
    """
    if (bind.get_bind() if isinstance(bind, Session) else bind).dialect.name != "postgresql":
        return False
    if changed is not None and tables:
        estimated = bind.execute(text("SELECT coalesce(max(reltuples), 0) FROM pg_class WHERE relname = ANY(:t)"),
                                 {"t": list(tables)}).scalar_one()
        if changed <= ANALYZE_THRESHOLD + ANALYZE_SCALE_FACTOR * max(float(estimated), 0.0):
            return False
    bind.execute(text("ANALYZE " + ", ".join(f'"{name}"' for name in tables)))
    return True


@lru_cache
def _cached_engine(url: str, read_only: bool = False) -> Engine:
    return make_engine(url, read_only=read_only)


def get_engine(url: str | None = None) -> Engine:
    if url is None:
        from emc.config import get_settings

        url = get_settings().db_url
    return _cached_engine(url)


def get_read_engine(url: str) -> Engine:
    """The read replica's engine (one per URL and process), read-only as :func:`make_engine` explains."""
    return _cached_engine(url, True)


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session for CLI commands and jobs: commits on success, rolls back on any error."""
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate, then ANALYZE (a migration may fill or rebuild tables; autovacuum may be off). The migration
    environment (emc/migrations/env.py) loads every table; this module knows none of them."""
    command.upgrade(alembic_config(engine), revision)
    with engine.begin() as conn:
        analyze(conn)


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The revision this code needs (read once per process: parsing every migration script per /healthz
    made the cheapest endpoint slower than a page)."""
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    return script.get_current_head() or ""


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_migrated(engine: Engine) -> None:
    """Refuse to run on a database whose schema is not the one this code expects."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        where = engine.url.render_as_string(hide_password=True)
        state = "is empty (no schema)" if current is None else f"is at revision {current}"
        raise NotMigratedError(
            f"The database {where} {state}; this version of emc needs revision {head}.\n"
            f"Run: emc db upgrade   (or `emc demo` for a demo database)"
        )
