"""Backup and restore of the whole database, with the database's own tools.

SQLite: the online backup API (a consistent copy while the app runs; WAL included). PostgreSQL: ``pg_dump``
in its custom format (compressed, consistent in one snapshot, restored table by table) and ``pg_restore`` in
one transaction, then ANALYZE: a restored database has no planner statistics, and autovacuum may be off.
A restore goes only into an empty database, so it can never mix two installations' rows.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import Engine, inspect

from emc.db import analyze

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_CUSTOM_MAGIC = b"PGDMP"


class BackupError(RuntimeError):
    pass


def _libpq_url(engine: Engine) -> str:
    """The URL pg_dump and pg_restore understand (no SQLAlchemy driver name)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} is not installed (Debian: apt-get install postgresql-client)")
    return path


def _sqlite_file(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database has nothing to back up")
    return Path(database)


def _sqlite_copy(source_file: Path, target_file: Path) -> None:
    """SQLite's online backup: page by page, consistent even while other connections write (WAL included)."""
    source, target = sqlite3.connect(source_file), sqlite3.connect(target_file)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def backup(engine: Engine, path: Path) -> None:
    """Write a consistent copy of the whole database to ``path`` (refuses to overwrite a file)."""
    path = Path(path)
    if path.exists():
        raise BackupError(f"{path} exists already; choose a new file (a backup never overwrites one)")
    path.parent.mkdir(parents=True, exist_ok=True)
    if engine.dialect.name == "sqlite":
        _sqlite_copy(_sqlite_file(engine), path)
        return
    done = subprocess.run([_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(path), _libpq_url(engine)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        path.unlink(missing_ok=True)
        raise BackupError(f"pg_dump failed: {done.stderr.strip()}")


def restore(engine: Engine, path: Path) -> None:
    """Load a backup made by :func:`backup` into the (empty) database of ``engine``; statistics refreshed."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    with path.open("rb") as file:
        head = file.read(16)
    if inspect(engine).get_table_names():
        where = engine.url.render_as_string(hide_password=True)
        raise BackupError(f"{where} is not empty; restore into a new, empty database (nothing was changed)")
    if engine.dialect.name == "sqlite":
        if not head.startswith(SQLITE_MAGIC):
            raise BackupError(f"{path} is not an SQLite backup (a PostgreSQL dump goes into a PostgreSQL database)")
        engine.dispose()  # no pooled connection may hold the file while it is replaced
        _sqlite_copy(path, _sqlite_file(engine))
        return
    if not head.startswith(PG_CUSTOM_MAGIC):
        raise BackupError(f"{path} is not a pg_dump custom-format backup (an SQLite backup goes into SQLite)")
    done = subprocess.run([_tool("pg_restore"), "--no-owner", "--exit-on-error", "--single-transaction",
                           "--dbname", _libpq_url(engine), str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"pg_restore failed (nothing was restored): {done.stderr.strip()}")
    with engine.begin() as conn:
        analyze(conn)
