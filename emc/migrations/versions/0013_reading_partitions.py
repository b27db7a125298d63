"""Readings partitioned by month on PostgreSQL; the bills index (both databases).

PostgreSQL: ``reading`` becomes ``PARTITION BY RANGE (period_start)`` with one partition per UTC month covering
the stored readings and twelve months ahead, and a DEFAULT partition (no insert fails on a month not yet
created; the daily job emc.metering.partitions:create_ahead gives such months their own partition). The rows
move in one statement (new partitioned table, INSERT … SELECT, swap, constraints and indexes rebuilt after the
load, ANALYZE). Every unique key includes period_start (partitioning requires it) and meter_id (the Citus
distribution column, docs/scale.md): the primary key becomes (id, meter_id, period_start); ids still come from
the one sequence, so id alone stays unique and the ORM keeps it as the identity. No foreign key points into
reading, so nothing else changes.

SQLite keeps its plain table (rowid primary key); both get the partial index for bills with amounts.

Revision ID: 0013
Revises: 0014
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from emc import clock
from emc.metering import partitions

revision: str = "0013"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEYS = """
ALTER TABLE reading ADD CONSTRAINT pk_reading PRIMARY KEY ({pk});
ALTER TABLE reading ADD CONSTRAINT uq_reading_meter_id_period_start_period_end
    UNIQUE (meter_id, period_start, period_end);
ALTER TABLE reading ADD CONSTRAINT fk_reading_meter_id_meter FOREIGN KEY (meter_id) REFERENCES meter (id);
ALTER TABLE reading ADD CONSTRAINT fk_reading_batch_id_import_batch
    FOREIGN KEY (batch_id) REFERENCES import_batch (id);
CREATE INDEX ix_reading_batch_id ON reading (batch_id);
ALTER SEQUENCE reading_id_seq OWNED BY reading.id;
"""


def _keys(pk: str) -> None:
    for statement in _KEYS.format(pk=pk).split(";"):
        if statement.strip():
            op.execute(statement)


def _set_aside() -> None:
    """Rename the old table and its index names (index names are unique per schema) out of the way; the
    sequence is detached so dropping the old table keeps it."""
    op.execute("ALTER TABLE reading RENAME TO reading_old")
    op.execute("ALTER INDEX pk_reading RENAME TO pk_reading_old")
    op.execute("ALTER INDEX uq_reading_meter_id_period_start_period_end RENAME TO uq_reading_old")
    op.execute("ALTER INDEX ix_reading_batch_id RENAME TO ix_reading_batch_id_old")
    op.execute("DROP INDEX IF EXISTS ix_reading_bills")
    op.execute("ALTER SEQUENCE reading_id_seq OWNED BY NONE")


def _bills_index() -> None:
    with op.batch_alter_table("reading", schema=None) as batch_op:
        batch_op.create_index("ix_reading_bills", ["meter_id", "period_start"], unique=False,
                              postgresql_where=sa.text("cost IS NOT NULL"), sqlite_where=sa.text("cost IS NOT NULL"))


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        _bills_index()
        return
    conn = op.get_bind()
    _set_aside()
    op.execute("CREATE TABLE reading (LIKE reading_old INCLUDING DEFAULTS) PARTITION BY RANGE (period_start)")
    op.execute(f"CREATE TABLE {partitions.DEFAULT} PARTITION OF reading DEFAULT")
    first, last = conn.execute(sa.text("SELECT min(period_start AT TIME ZONE 'UTC')::date, "
                                       "max(period_start AT TIME ZONE 'UTC')::date FROM reading_old")).one()
    stored: list = []
    if first is not None:
        month = partitions.month_start(first)
        while month <= last:
            stored.append(month)
            month = partitions.add_months(month, 1)
    partitions.ensure_partitions(conn, clock.today(), also=stored)
    op.execute("INSERT INTO reading SELECT * FROM reading_old")  # LIKE kept the column order
    op.execute("DROP TABLE reading_old")
    _keys("id, meter_id, period_start")
    _bills_index()
    op.execute("ANALYZE reading")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        with op.batch_alter_table("reading", schema=None) as batch_op:
            batch_op.drop_index("ix_reading_bills")
        return
    _set_aside()
    op.execute("CREATE TABLE reading (LIKE reading_old INCLUDING DEFAULTS)")
    op.execute("INSERT INTO reading SELECT * FROM reading_old")
    op.execute("DROP TABLE reading_old")  # its partitions go with it
    _keys("id")
    op.execute("ANALYZE reading")
