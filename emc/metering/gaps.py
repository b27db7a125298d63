"""Data gaps of the meters in a scope: each meter's last day with data and the days of a recent window (90 days
by default, ending yesterday in the installation's time zone) without any reading.

A day counts as covered when some reading overlaps it at all (an hour of data is enough; a bill covers every
day from its start to its end). Three queries whatever the number of meters and readings: the meters, each
meter's last reading (its newest row by the (meter, period_start) index, a bounded lookup per meter inside one
statement), and the window's readings grouped by meter and the local days they start and end on — at most one
row per meter and day, or per bill.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, Integer, cast, func, select, type_coerce
from sqlmodel import Session, col

from emc.config import get_settings
from emc.metering.models import Meter, Reading
from emc.org.models import Institution
from emc.org.scope import Scope

US_PER_DAY = 86_400_000_000
WINDOW_DAYS = 90
BILL_DAYS_MAX = 125  # a reading starting this long before the window may still reach into it (quarterly bills)


@dataclass(frozen=True)
class MeterGap:
    code: str
    name: str
    utility: str
    institution: str
    last_day: date | None  # the last local day a reading covers (a period ending at midnight: the day before)
    missing_days: int  # days of the window no reading touches


def _day(column: Any, dialect: str, offset_s: int, minus_us: int = 0) -> Any:
    """The local day number (days since 1970-01-01 in the zone's standard offset) of an instant column."""
    if dialect == "sqlite":  # stored as integer microseconds since the epoch
        return (type_coerce(column, BigInteger()) - minus_us + offset_s * 1_000_000) // US_PER_DAY
    seconds = func.extract("epoch", column) - minus_us / 1_000_000 + offset_s
    return cast(func.floor(seconds / 86_400), Integer)


def data_gaps(session: Session, scope: Scope, today: date, days: int = WINDOW_DAYS) -> list[MeterGap]:
    """Every meter in scope with its last day and missing days in the ``days`` before ``today``; most missing
    first, then by code."""
    zone = ZoneInfo(get_settings().timezone)
    offset = datetime.combine(today, time(), zone).utcoffset() or timedelta(0)
    offset_s = int(offset.total_seconds())
    dialect = session.get_bind().dialect.name
    first = today - timedelta(days=days)
    w0, w1 = (first - date(1970, 1, 1)).days, (today - date(1970, 1, 1)).days  # window: [w0, w1)
    start = datetime.combine(first, time(), zone).astimezone(UTC)
    end = datetime.combine(today, time(), zone).astimezone(UTC)

    start_col, end_col, meter_col = col(Reading.period_start), col(Reading.period_end), col(Reading.meter_id)
    newest = (select(end_col).where(meter_col == col(Meter.id))
              .order_by(start_col.desc()).limit(1).correlate(Meter).scalar_subquery())
    meters = session.execute(
        select(col(Meter.id), col(Meter.code), col(Meter.name), col(Meter.utility), col(Institution.name), newest)
        .join(Institution, col(Institution.id) == col(Meter.institution_id)).where(scope.meters())).all()
    ids = select(col(Meter.id)).where(scope.meters())
    d0 = _day(start_col, dialect, offset_s)
    d1 = _day(end_col, dialect, offset_s, minus_us=1)
    spans = session.execute(
        select(meter_col, d0, d1)
        .where(meter_col.in_(ids), start_col < end, start_col >= start - timedelta(days=BILL_DAYS_MAX),
               end_col > start)
        .group_by(meter_col, d0, d1)).all()
    covered: dict[int, set[int]] = {}
    for meter_id, a, b in spans:
        covered.setdefault(meter_id, set()).update(range(max(int(a), w0), min(int(b), w1 - 1) + 1))
    out = [MeterGap(code, name, utility, institution, _last_day(last, zone), days - len(covered.get(mid, ())))
           for mid, code, name, utility, institution, last in meters]
    return sorted(out, key=lambda g: (-g.missing_days, g.code))


def _last_day(end: Any, zone: ZoneInfo) -> date | None:
    if end is None:
        return None
    if not isinstance(end, datetime):  # the scalar subquery's raw value on SQLite: epoch microseconds
        end = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(end))
    elif end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    return (end - timedelta(microseconds=1)).astimezone(zone).date()
