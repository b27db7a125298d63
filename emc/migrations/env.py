"""Alembic environment: the engine comes from emc (``emc db upgrade``), never from an ini file."""

from alembic import context
from sqlmodel import SQLModel

import emc.models  # noqa: F401  (all tables on the metadata)
from emc.db import get_engine

config = context.config
target_metadata = SQLModel.metadata


_partitions: set[str] = set()


def include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    # APScheduler owns its job table; autogenerate must not try to drop it, nor reading's monthly partitions
    # (PostgreSQL, migration 0013), which reflection lists as tables of their own.
    return not (type_ == "table" and (name == "apscheduler_jobs" or name in _partitions))


def run_migrations_online() -> None:
    engine = config.attributes.get("engine") or get_engine()
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            _partitions.update(connection.exec_driver_sql(
                "SELECT relname FROM pg_class WHERE relispartition AND relkind = 'r'").scalars())
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copy
            compare_type=True,
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
