"""Working days and day types from the Chinese official calendar (国务院办公厅 holiday notices).

The calendar comes from the maintained ``chinese_calendar`` package, which encodes each year's public
holidays *and* the adjusted working weekends (调休). Its coverage ends with the last year published (2026 for
chinese-calendar 1.11): dates outside it fall back to Monday–Friday working days and produce a
``calendar_out_of_range`` warning, because a settlement must say when its working-day driver was guessed.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import numpy as np
import pandas as pd

from .warning import WARNING, MVWarning

CALENDARS = ("cn", "weekday")

# Day types used by time-of-week models: 0..4 Monday..Friday, 5 Saturday, 6 Sunday. A public holiday that
# falls on a weekday is operated like a Sunday; an adjusted working weekend (调休上班) like a mid-week day
# (Wednesday), since the notices move a full working day onto it.
_HOLIDAY_TYPE = 6
_MAKEUP_WORKDAY_TYPE = 2


def calendar_version() -> str:
    """Version of the calendar data in use (recorded in stored models for audit)."""
    try:
        import chinese_calendar

        return f"chinese_calendar {chinese_calendar.__version__}"
    except Exception:  # pragma: no cover - the package is a dependency
        return "chinese_calendar unavailable"


@lru_cache(maxsize=64)
def _cn_year(year: int) -> np.ndarray | None:
    """Workday flags for every day of ``year`` from chinese_calendar, or None outside its coverage."""
    try:
        from chinese_calendar import is_workday
    except ImportError:  # pragma: no cover
        return None
    start = dt.date(year, 1, 1)
    n = (dt.date(year + 1, 1, 1) - start).days
    try:
        flags = np.fromiter((is_workday(start + dt.timedelta(days=i)) for i in range(n)), dtype=bool, count=n)
    except NotImplementedError:
        return None
    flags.setflags(write=False)
    return flags


def _as_days(days: pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    """Local calendar days as datetime64[D] (a tz-aware index is read in its own time zone)."""
    if isinstance(days, pd.DatetimeIndex):
        if days.tz is not None:
            days = days.tz_localize(None)
        return days.values.astype("datetime64[D]")
    return np.asarray(days).astype("datetime64[D]")


def workdays(days: pd.DatetimeIndex | np.ndarray, calendar: str = "cn") -> tuple[np.ndarray, list[MVWarning]]:
    """Working-day flags (bool array) for each day, and warnings for days the calendar does not cover.

    ``calendar="cn"`` uses the official Chinese calendar; ``"weekday"`` is plain Monday–Friday.
    """
    if calendar not in CALENDARS:
        raise ValueError(f"unknown calendar {calendar!r}; choose one of {CALENDARS}")
    d = _as_days(days)
    if d.size > 1000:
        # Sub-daily input: decide each distinct day once (a long run of distinct days needs no folding).
        u, inv = np.unique(d, return_inverse=True)
        if u.size < d.size:
            f, w = workdays(u, calendar)
            return f[inv], w
    weekday = (d.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday (3)
    flags = weekday < 5
    if calendar == "weekday" or d.size == 0:
        return flags, []
    years = d.astype("datetime64[Y]").astype(np.int64) + 1970
    uncovered: list[int] = []
    for year in np.unique(years):
        table = _cn_year(int(year))
        sel = years == year
        if table is None:
            uncovered.append(int(year))
            continue
        doy = (d[sel] - np.datetime64(f"{int(year)}-01-01", "D")).astype(np.int64)
        flags[sel] = table[doy]
    warnings: list[MVWarning] = []
    if uncovered:
        sel = np.isin(years, uncovered)
        first, last = d[sel].min(), d[sel].max()
        warnings.append(
            MVWarning(
                code="calendar_out_of_range",
                message=(
                    f"{calendar_version()} has no holiday data for {', '.join(map(str, uncovered))}: "
                    f"{int(sel.sum())} day(s) treated as Monday–Friday working days without public holidays "
                    "or adjusted working weekends; update chinese_calendar and recompute before settling"
                ),
                severity=WARNING,
                period_start=str(first),
                period_end=str(last + np.timedelta64(1, "D")),
                value=float(sel.sum()),
                detail={"years": uncovered, "library": calendar_version()},
            )
        )
    return flags, warnings


def day_types(days: pd.DatetimeIndex | np.ndarray, calendar: str = "cn") -> tuple[np.ndarray, list[MVWarning]]:
    """Day type 0..6 per day for time-of-week models (weekday, with holidays and make-up workdays remapped)."""
    d = _as_days(days)
    if d.size > 1000:
        u, inv = np.unique(d, return_inverse=True)
        t, w = day_types(u, calendar)
        return t[inv], w
    weekday = ((d.astype(np.int64) + 3) % 7).astype(np.int64)
    work, warnings = workdays(d, calendar)
    types = weekday.copy()
    types[(weekday < 5) & ~work] = _HOLIDAY_TYPE
    types[(weekday >= 5) & work] = _MAKEUP_WORKDAY_TYPE
    return types, warnings
