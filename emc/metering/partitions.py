"""Monthly partitions of ``reading`` on PostgreSQL (declarative range partitioning on period_start).

Migration 0013 makes ``reading`` a partitioned table with one partition per calendar month (UTC bounds) and a
DEFAULT partition, so an insert never fails on a month nobody created. The daily job (:func:`create_ahead`)
keeps twelve months ahead partitioned and gives every month found in DEFAULT its own partition. PostgreSQL
refuses to create a partition while DEFAULT holds rows of its range, so those rows are taken out of DEFAULT,
the partition created and the rows put back, in one transaction: nothing is lost, nothing written twice.
SQLite keeps one plain table; every function here is a no-op there.

Bounds are UTC months: they never depend on a setting that could change later (overlapping bounds would make
a partition impossible to create). Queries bounded on period_start prune to the months they touch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, text

from emc import clock
from emc.db import get_engine

PARENT = "reading"
DEFAULT = "reading_default"
AHEAD_MONTHS = 12
LOCK_TIMEOUT = "10s"


@dataclass
class PartitionReport:
    created: list[str] = field(default_factory=list)
    moved_out_of_default: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "moved_out_of_default": self.moved_out_of_default}


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"{PARENT}_p{month.year:04d}{month.month:02d}"


def _bound(month: date) -> datetime:
    return datetime(month.year, month.month, 1, tzinfo=UTC)


def is_partitioned(conn: Connection) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    return bool(conn.execute(text("SELECT EXISTS (SELECT 1 FROM pg_partitioned_table "
                                  "WHERE partrelid = to_regclass(:t))"), {"t": PARENT}).scalar())


def partitions(conn: Connection) -> list[str]:
    """The partitions of ``reading`` by name (DEFAULT included)."""
    return list(conn.execute(text("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                                  "WHERE i.inhparent = to_regclass(:t) ORDER BY c.relname"), {"t": PARENT}).scalars())


def months_in_default(conn: Connection) -> list[date]:
    rows = conn.execute(text(f"SELECT DISTINCT date_trunc('month', period_start AT TIME ZONE 'UTC')::date "
                             f"FROM {DEFAULT} ORDER BY 1")).scalars()
    return [month_start(d) for d in rows]


def _columns(conn: Connection) -> str:
    names = conn.execute(text("SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(:t) AND attnum > 0 "
                              "AND NOT attisdropped ORDER BY attnum"), {"t": PARENT}).scalars()
    return ", ".join(f'"{n}"' for n in names)


def _exists(conn: Connection, month: date) -> bool:
    return bool(conn.execute(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": partition_name(month)}).scalar())


def _create(conn: Connection, month: date) -> None:
    low, high = _bound(month), _bound(add_months(month, 1))
    conn.execute(text(f"CREATE TABLE {partition_name(month)} PARTITION OF {PARENT} "
                      f"FOR VALUES FROM ('{low.isoformat()}') TO ('{high.isoformat()}')"))


def ensure_partitions(conn: Connection, today: date, *, ahead: int = AHEAD_MONTHS,
                      also: list[date] | None = None) -> PartitionReport:
    """Partitions for this month and ``ahead`` months after it, for every month DEFAULT holds rows of, and for
    the months in ``also``. Idempotent: existing partitions are left alone, and when all exist no lock is taken.

    Runs inside the caller's transaction. DEFAULT only ever holds rows of months without a partition, and every
    such month gets one here, so all of DEFAULT moves: its rows are copied into a temporary table and DEFAULT
    truncated (heap and index emptied, no dead rows left behind),
    the partitions created (PostgreSQL refuses one whose range DEFAULT still holds rows of) and the rows
    inserted again, routed to their months with their ids. A failure rolls all of it back.
    """
    report = PartitionReport()
    if not is_partitioned(conn):
        return report
    this_month = month_start(today)
    wanted = {add_months(this_month, n) for n in range(ahead + 1)}
    wanted.update(month_start(m) for m in also or [])
    wanted.update(months_in_default(conn))
    if all(_exists(conn, m) for m in wanted):
        return report
    # Creating a partition locks reading exclusively (the parent first, so an import writing into it cannot
    # deadlock with us). Behind a long import that lock would wait, and every reader would queue behind it:
    # give up after a few seconds instead (rows stay in DEFAULT, readable; the next daily run tries again, and
    # a failed run is recorded in the audit log by the scheduler).
    conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    conn.execute(text(f"LOCK TABLE {PARENT} IN ACCESS EXCLUSIVE MODE"))
    wanted.update(months_in_default(conn))  # again under the lock: an import may have added months
    missing = sorted(m for m in wanted if not _exists(conn, m))
    columns = _columns(conn)
    conn.execute(text(f"CREATE TEMPORARY TABLE reading_moving (LIKE {PARENT}) ON COMMIT DROP"))
    conn.execute(text(f"INSERT INTO reading_moving ({columns}) SELECT {columns} FROM {DEFAULT}"))
    # TRUNCATE, not DELETE: a DELETE leaves every moved row dead in DEFAULT's heap and index until a VACUUM,
    # which nothing runs when autovacuum is off. After a generator or a history import had loaded years into
    # DEFAULT, its index (1.97 GB at 5× Wuxi) held only dead entries, and a generic plan that probed DEFAULT
    # without the meter walked them: 35 s for one statement's allocation read instead of 0.1 s.
    conn.execute(text(f"TRUNCATE {DEFAULT}"))
    for month in missing:
        _create(conn, month)
        report.created.append(partition_name(month))
    moved = conn.execute(text(f"INSERT INTO {PARENT} ({columns}) SELECT {columns} FROM reading_moving")).rowcount
    conn.execute(text("DROP TABLE reading_moving"))
    report.moved_out_of_default = int(moved or 0)
    if moved:  # bulk-moved rows: the planner must see them (autovacuum may be off)
        conn.execute(text("ANALYZE " + ", ".join(f'"{n}"' for n in [*report.created, DEFAULT])))
    return report


def create_ahead() -> dict[str, Any]:
    """The scheduler's daily job (by stable import path): partitions twelve months ahead, DEFAULT emptied into
    the months it holds. One transaction."""
    with get_engine().begin() as conn:
        return ensure_partitions(conn, clock.today()).as_dict()
