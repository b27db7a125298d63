"""Monthly meter totals (table ``meter_month``), kept in the transaction that writes readings.

Every writer of readings (import commit and correction, revert, the synthetic portfolio's bulk insert) calls
:func:`refresh` for the meters and the time it touched. The touched (meter, month) keys are recomputed from the
readings with one ``INSERT … SELECT … GROUP BY … ON CONFLICT DO UPDATE``, and keys left without readings are
deleted: recomputing rather than adding differences stays right under corrections, reverts and partial overlaps.
:func:`rebuild` recomputes every key (``emc db rebuild-totals``, the migration's backfill).

A reading counts in the local calendar month its period starts in, in its institution's time zone — the month
the energy and carbon ledger books it in. PostgreSQL converts with the full zone rules
(``timezone(institution.timezone, period_start)``); SQLite, which has no zone database, adds the zone's fixed
offset (exact for China: no daylight saving since 1991).

On PostgreSQL, refreshing takes each touched meter's row lock (``FOR NO KEY UPDATE``: imports' foreign-key checks
are not blocked) before reading: of two imports of one meter the second recomputes after the first commits, so it
sees the first one's readings. SQLite has one writer at a time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, Date, and_, case, cast, delete, exists, func, select, type_coerce
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from emc.metering.models import Meter, MeterMonthTotal, Reading
from emc.org.models import Institution

# the widest zone offset: a local month's readings start within this of its UTC edges
ZONE_MARGIN = timedelta(hours=14)
T = MeterMonthTotal


def local_month(session: Session) -> Any:
    """The first day of the local month a reading starts in (SQL; over Reading joined to its Institution)."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.date_trunc("month", func.timezone(col(Institution.timezone), col(Reading.period_start))), Date)
    zones = list(session.execute(select(col(Institution.timezone)).distinct()).scalars())
    offsets = {z: int(ZoneInfo(z).utcoffset(datetime(2000, 1, 1)).total_seconds()) for z in zones}  # type: ignore[union-attr]
    offset = case(offsets, value=col(Institution.timezone), else_=28800) if offsets else 28800
    seconds = type_coerce(col(Reading.period_start), BigInteger()) // 1_000_000  # UTCDateTime is µs there
    return type_coerce(func.strftime("%Y-%m-01", seconds + offset, "unixepoch"), Date)


def _aggregate(session: Session, *where: Any) -> Any:
    month = local_month(session)
    return (select(col(Reading.meter_id), month.label("month"), func.sum(Reading.value), func.count(),
                   func.sum(case((col(Reading.estimated), 1), else_=0)), func.sum(col(Reading.cost)),
                   func.min(Reading.period_start), func.max(Reading.period_end))
            .join(Meter, col(Meter.id) == col(Reading.meter_id))
            .join(Institution, col(Institution.id) == col(Meter.institution_id))
            .where(*where).group_by(col(Reading.meter_id), month))


def _upsert(session: Session, query: Any) -> None:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    columns = ["meter_id", "month", "quantity", "readings", "estimated", "cost", "first_start", "last_end"]
    stmt = insert(T).from_select(columns, query)
    session.execute(stmt.on_conflict_do_update(index_elements=["meter_id", "month"],
                                               set_={c: stmt.excluded[c] for c in columns[2:]}))


def refresh(session: Session, meter_ids: list[int] | set[int], start: datetime | None = None,
            end: datetime | None = None) -> None:
    """Recompute these meters' months whose readings start in [start, end] (UTC; None: all their months)."""
    ids = sorted({int(m) for m in meter_ids})
    if not ids:
        return
    session.execute(select(col(Meter.id)).where(col(Meter.id).in_(ids)).order_by(col(Meter.id))
                    .with_for_update(key_share=True))
    if start is None or end is None:
        session.execute(delete(T).where(col(T.meter_id).in_(ids)))
        _upsert(session, _aggregate(session, col(Reading.meter_id).in_(ids)))
        return
    # every month a reading in [start, end] can fall in, in any zone; a key is recomputed whole or not at all
    first = (start - ZONE_MARGIN).date().replace(day=1)
    last = (end + ZONE_MARGIN).date().replace(day=1)
    lo = datetime(first.year, first.month, 1, tzinfo=UTC) - ZONE_MARGIN
    after = date(last.year + last.month // 12, last.month % 12 + 1, 1)
    hi = datetime(after.year, after.month, 1, tzinfo=UTC) + ZONE_MARGIN
    month = local_month(session)
    in_span = and_(col(Reading.period_start) >= lo, col(Reading.period_start) < hi)
    _upsert(session, _aggregate(session, col(Reading.meter_id).in_(ids), in_span, month >= first, month <= last))
    left = (select(col(Reading.id)).join(Meter, col(Meter.id) == col(Reading.meter_id))
            .join(Institution, col(Institution.id) == col(Meter.institution_id))
            .where(col(Reading.meter_id) == col(T.meter_id), in_span, month == col(T.month)))
    session.execute(delete(T).where(col(T.meter_id).in_(ids), col(T.month) >= first, col(T.month) <= last,
                                    ~exists(left)).execution_options(synchronize_session=False))


def rebuild(session: Session) -> int:
    """Recompute every meter's every month from the readings; the keys kept."""
    session.execute(delete(T))
    _upsert(session, _aggregate(session))
    return int(session.execute(select(func.count()).select_from(T)).scalar_one())


def span_of(session: Session, *where: Any) -> tuple[set[int], datetime | None, datetime | None]:
    """The meters and the first and last reading start among the readings matching ``where``."""
    rows = session.execute(select(col(Reading.meter_id), func.min(Reading.period_start),
                                  func.max(Reading.period_start)).where(*where).group_by(col(Reading.meter_id))).all()
    if not rows:
        return set(), None, None
    return {int(r[0]) for r in rows}, min(r[1] for r in rows), max(r[2] for r in rows)
