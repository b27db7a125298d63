"""Monthly meter totals kept on import (meter_month), backfilled from the stored readings (issue 15).

Revision ID: 0012
Revises: 0016
"""
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

import emc.dbtypes

revision: str = "0012"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = "meter_id, month, quantity, readings, estimated, cost, first_start, last_end"
AGGREGATES = ("sum(r.value), count(*), sum(CASE WHEN r.estimated THEN 1 ELSE 0 END), sum(r.cost), "
              "min(r.period_start), max(r.period_end)")
JOINS = "FROM reading r JOIN meter m ON m.id = r.meter_id JOIN institution i ON i.id = m.institution_id"


def upgrade() -> None:
    op.create_table(
        "meter_month",
        sa.Column("meter_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=False),
        sa.Column("readings", sa.Integer(), nullable=False),
        sa.Column("estimated", sa.Integer(), nullable=False),
        sa.Column("cost", emc.dbtypes.Money(), nullable=True),
        sa.Column("first_start", emc.dbtypes.UTCDateTime(), nullable=False),
        sa.Column("last_end", emc.dbtypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["meter_id"], ["meter.id"]),
        sa.PrimaryKeyConstraint("meter_id", "month"),
    )
    _backfill()


def _backfill() -> None:
    """The same month as emc/metering/totals.py: the zone's rules on PostgreSQL, its fixed offset on SQLite."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        month = "CAST(date_trunc('month', timezone(i.timezone, r.period_start)) AS date)"
        bind.execute(sa.text(f"INSERT INTO meter_month ({COLUMNS}) SELECT r.meter_id, {month}, {AGGREGATES} "
                             f"{JOINS} GROUP BY r.meter_id, {month}"))
        bind.execute(sa.text("ANALYZE meter_month"))
        return
    zones = [z for (z,) in bind.execute(sa.text("SELECT DISTINCT timezone FROM institution"))]
    offset = " ".join(f"WHEN '{z}' THEN {int(ZoneInfo(z).utcoffset(datetime(2000, 1, 1)).total_seconds())}"  # type: ignore[union-attr]
                      for z in zones if "'" not in z)
    offset_sql = f"(CASE i.timezone {offset} ELSE 28800 END)" if offset else "28800"
    month = f"strftime('%Y-%m-01', r.period_start / 1000000 + {offset_sql}, 'unixepoch')"
    bind.execute(sa.text(f"INSERT INTO meter_month ({COLUMNS}) SELECT r.meter_id, {month}, {AGGREGATES} "
                         f"{JOINS} GROUP BY r.meter_id, {month}"))


def downgrade() -> None:
    op.drop_table("meter_month")
