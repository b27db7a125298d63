"""Bulk reads and writes of readings, fast on both databases (millions of rows per import).

SQLite: one executemany of plain tuples inside the caller's transaction (times are integer
microseconds there). PostgreSQL: COPY. Both run inside the session's transaction, so an import is
all or nothing.
"""

from __future__ import annotations

import io
from datetime import UTC

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import text
from sqlmodel import Session

from emc.metering.accepted import Accepted
from emc.money import to_fen_int

READING_COLUMNS = ("meter_id", "period_start", "period_end", "value", "source_value", "factor", "from_register",
                   "estimated", "batch_id")


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def insert_readings(session: Session, rows: Accepted, *, batch_id: int, from_register: np.ndarray,
                    cost: np.ndarray | None = None) -> int:
    """``cost``: each row's bill amount (Decimal CNY or None), when the file has an amount column."""
    if not len(rows):
        return 0
    dialect = _dialect(session)
    if dialect == "sqlite":
        data = zip(rows.meter_id.tolist(), rows.start.tolist(), rows.end.tolist(), rows.value.tolist(),
                   rows.source_value.tolist(), rows.factor.tolist(), from_register.astype(int).tolist(),
                   rows.estimated.astype(int).tolist(), [batch_id] * len(rows), strict=True)
        raw = session.connection().connection.driver_connection
        if cost is not None:  # Money is integer fen on SQLite (emc.dbtypes)
            fen = [None if c is None else to_fen_int(c) for c in cost.tolist()]
            raw.executemany(f"INSERT INTO reading ({', '.join(READING_COLUMNS)}, cost) VALUES (?,?,?,?,?,?,?,?,?,?)",
                            [(*row, c) for row, c in zip(data, fen, strict=True)])
            return len(rows)
        raw.executemany(f"INSERT INTO reading ({', '.join(READING_COLUMNS)}) VALUES (?,?,?,?,?,?,?,?,?)", data)
        return len(rows)
    columns = {}
    if cost is not None:  # NUMERIC text, exact
        columns["cost"] = pa.array([None if c is None else str(c) for c in cost.tolist()], pa.string())
    table = pa.table({**columns,
        "meter_id": pa.array(rows.meter_id, pa.int64()),
        "period_start": pa.array(rows.start.astype("datetime64[us]"), pa.timestamp("us", tz="UTC")),
        "period_end": pa.array(rows.end.astype("datetime64[us]"), pa.timestamp("us", tz="UTC")),
        "value": pa.array(rows.value, pa.float64()), "source_value": pa.array(rows.source_value, pa.float64()),
        "factor": pa.array(rows.factor, pa.float64()), "from_register": pa.array(from_register, pa.bool_()),
        "estimated": pa.array(rows.estimated, pa.bool_()),
        "batch_id": pa.array(np.full(len(rows), batch_id, dtype=np.int64), pa.int64())})
    copy_table(session, "reading", table)
    return len(rows)


def copy_table(session: Session, name: str, table: pa.Table) -> None:
    """COPY an Arrow table into ``name`` (PostgreSQL). Arrow's C++ CSV writer formats the rows (shortest
    round-trip floats, ISO times with Z), far faster than formatting them in Python."""
    raw = session.connection().connection.driver_connection
    columns = ", ".join(table.column_names)
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    with raw.cursor() as cur, cur.copy(f"COPY {name} ({columns}) FROM STDIN WITH (FORMAT csv)") as copy:
        for batch in table.to_batches(max_chunksize=100_000):
            buffer = io.BytesIO()
            pacsv.write_csv(pa.Table.from_batches([batch]), buffer, options)
            copy.write(buffer.getvalue())


def existing(session: Session, meter_ids: np.ndarray, t_min: int, t_max: int) -> pd.DataFrame:
    """Stored readings of these meters starting within [t_min, t_max], as µs integers."""
    ids = [int(m) for m in np.unique(meter_ids)]
    if not ids:
        return pd.DataFrame(columns=["id", "meter_id", "start", "end", "value", "batch_id"])
    if _dialect(session) == "sqlite":
        sql = text(f"SELECT id, meter_id, period_start, period_end, value, batch_id FROM reading "
                   f"WHERE meter_id IN ({','.join(map(str, ids))}) AND period_start BETWEEN :a AND :b")
        params = {"a": int(t_min), "b": int(t_max)}
    else:
        sql = text("SELECT id, meter_id, (extract(epoch FROM period_start) * 1000000)::bigint, "
                   "(extract(epoch FROM period_end) * 1000000)::bigint, value, batch_id FROM reading "
                   "WHERE meter_id = ANY(:ids) AND period_start BETWEEN :a AND :b")
        params = {"ids": ids, "a": _aware(t_min), "b": _aware(t_max)}
    result = session.execute(sql, params).all()
    return pd.DataFrame(result, columns=["id", "meter_id", "start", "end", "value", "batch_id"])


def _aware(us: int):  # type: ignore[no-untyped-def]
    from emc.dbtypes import from_epoch_us

    return from_epoch_us(int(us)).astimezone(UTC)


def last_register(session: Session, meter_id: int, before_us: int) -> tuple[int, float] | None:
    """The latest stored register reading of a cumulative meter at or before ``before_us``."""
    if _dialect(session) == "sqlite":
        row = session.execute(text(
            "SELECT period_end, source_value FROM reading WHERE meter_id = :m AND from_register = 1 "
            "AND period_end <= :t ORDER BY period_end DESC LIMIT 1"), {"m": meter_id, "t": int(before_us)}).first()
        return (int(row[0]), float(row[1])) if row else None
    row = session.execute(text(
        "SELECT (extract(epoch FROM period_end) * 1000000)::bigint, source_value FROM reading "
        "WHERE meter_id = :m AND from_register AND period_end <= :t ORDER BY period_end DESC LIMIT 1"),
        {"m": meter_id, "t": _aware(before_us)}).first()
    return (int(row[0]), float(row[1])) if row else None
