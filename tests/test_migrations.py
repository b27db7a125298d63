"""The tables the code declares are the tables the migrations build, on both databases.

Several engineers add migrations in parallel and the chain is linked when their work meets; a column, index
or constraint that exists in a model but not in a migration (or the reverse) shows up only on a fresh
production database. Alembic's own comparison (the one autogenerate uses) must find nothing to do.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text
from sqlmodel import SQLModel

import emc.models  # noqa: F401  (every table on the metadata)
from emc.db import MIGRATIONS_DIR


def _partitions(conn: Connection) -> set[str]:
    """PostgreSQL's partitions of a partitioned table (reading's months, migration 0013) are tables of their own
    to reflection; they are physical detail of the one declared table, not tables the models should declare."""
    if conn.dialect.name != "postgresql":
        return set()
    return set(conn.execute(text("SELECT relname FROM pg_class WHERE relispartition AND relkind = 'r'")).scalars())


def test_the_migrations_build_exactly_the_declared_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        ignored = {"apscheduler_jobs", "alembic_version"} | _partitions(conn)

        def _include(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
            return not (type_ == "table" and name in ignored)

        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": _include})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == [], f"models and migrations disagree on {engine.dialect.name}: {diff}"


def test_the_migrations_form_one_chain() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    script = ScriptDirectory.from_config(config)
    heads = script.get_heads()
    assert len(heads) == 1, f"several migration heads: {heads}"
    revisions = list(script.walk_revisions())
    assert revisions[-1].down_revision is None
    assert all(isinstance(r.down_revision, str) or r.down_revision is None for r in revisions), "a merge point"
