"""Data gaps of the meters in a scope: each meter's last day with data and the days of a recent window (90 days
by default, ending yesterday in the installation's time zone) without any reading.

A day counts as covered when some reading overlaps it at all (an hour of data is enough; a bill covers every
day from its start to its end). Four queries whatever the number of meters and readings (issue 15: an ESCO
with 1,800 meters waited seconds for its home page):

* the meters in scope;
* each meter's last reading end, from the monthly totals (``meter_month.last_end``, kept with the readings),
  not a probe of every monthly partition of ``reading`` per meter;
* per meter, the count of distinct local days its one-day readings start on inside the window (interval
  meters: hourly, daily), counted by the database — one row per meter, not one per meter and day;
* the day spans of the few meters with a reading over several days (bills) in the window, folded here:
  only those meters' days could be covered twice (a bill ending in the middle of a day also read hourly).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, Integer, and_, case, cast, distinct, func, select, type_coerce
from sqlmodel import Session, col

from emc.config import get_settings
from emc.metering.models import Meter, MeterMonthTotal, Reading
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
    ids = select(col(Meter.id)).where(scope.meters())
    meters = session.execute(
        select(col(Meter.id), col(Meter.code), col(Meter.name), col(Meter.utility), col(Institution.name))
        .join(Institution, col(Institution.id) == col(Meter.institution_id)).where(scope.meters())).all()
    newest = dict(session.execute(select(col(MeterMonthTotal.meter_id), func.max(col(MeterMonthTotal.last_end)))
                                  .where(col(MeterMonthTotal.meter_id).in_(ids))
                                  .group_by(col(MeterMonthTotal.meter_id))).all())
    d0 = _day(start_col, dialect, offset_s)
    d1 = _day(end_col, dialect, offset_s, minus_us=1)
    in_window = (meter_col.in_(ids), start_col < end, start_col >= start - timedelta(days=BILL_DAYS_MAX),
                 end_col > start)
    counted: dict[int, int] = {}
    several: list[int] = []  # meters with a reading over several days in the window: folded day by day below
    for meter_id, days_, multi in session.execute(
            select(meter_col, func.count(distinct(case((and_(d1 == d0, d0 >= w0, d0 < w1), d0)))),
                   func.max(case((d1 > d0, 1), else_=0)))
            .where(*in_window).group_by(meter_col)).all():
        if multi:
            several.append(meter_id)
        else:
            counted[meter_id] = int(days_)
    covered: dict[int, set[int]] = {}
    if several:
        for meter_id, a, b in session.execute(select(meter_col, d0, d1).where(*in_window, meter_col.in_(several))
                                              .group_by(meter_col, d0, d1)).all():
            covered.setdefault(meter_id, set()).update(range(max(int(a), w0), min(int(b), w1 - 1) + 1))
    out = [MeterGap(code, name, utility, institution, _last_day(newest.get(mid), zone),
                    days - (len(covered.get(mid, ())) if mid in covered else counted.get(mid, 0)))
           for mid, code, name, utility, institution in meters]
    return sorted(out, key=lambda g: (-g.missing_days, g.code))


def _last_day(end: Any, zone: ZoneInfo) -> date | None:
    if end is None:
        return None
    if not isinstance(end, datetime):  # the scalar subquery's raw value on SQLite: epoch microseconds
        end = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(end))
    elif end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    return (end - timedelta(microseconds=1)).astimezone(zone).date()
