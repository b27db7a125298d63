"""Input shapes and their normalisation into arrays the model cores work on.

Accepted inputs (any pandas DataFrame; temperatures in °C; usage in the meter's unit):

* ``daily``  — indexed by day, columns ``usage`` (total of the day) and ``temperature`` (daily mean).
* ``hourly`` — indexed by the hour's start, columns ``usage`` (total of the hour) and ``temperature``.
* ``billing`` — one row per bill, indexed by the bill's first day, with ``end`` (the first day *not*
  covered: the next bill's start, as meter readings are) and ``usage`` (total of the bill). Temperature comes
  either as a daily series (``temperature=`` argument; preferred: degree-days are then computed day by day,
  CalTRACK 2.0 billing practice) or as a ``temperature`` column holding each bill's mean temperature (an
  approximation, reported as a warning, since degree-days of a mean understate the mean of degree-days).

Optional driver columns (energy users, floor area, operating hours …) are per row. Missing days/hours are
made explicit (re-indexed to the full range) so gaps count against coverage and break autocorrelation pairs.
Timestamps are read in their own time zone (institutions' local time, docs/design.md convention 6).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .calendar import workdays
from .warning import INFO, WARNING, MVWarning, iso

GRANULARITIES = ("billing", "daily", "hourly")


class MVInputError(ValueError):
    """The input cannot be read at all (wrong shape, missing column): an exception, not a warning."""


@dataclass
class Frame:
    """Prepared data: row-level arrays, plus day-level temperatures for degree-day features."""

    granularity: str
    index: pd.DatetimeIndex  # row starts (bill start / day / hour)
    end: pd.DatetimeIndex  # row ends, exclusive
    usage: np.ndarray  # total usage of each row; NaN where missing or rejected
    days: np.ndarray  # row length in days (bill length; 1 for a day; 1/24 for an hour)
    temp: np.ndarray  # row mean temperature °C (NaN missing)
    drivers: dict[str, np.ndarray]
    workday: np.ndarray  # share of working days in the row (0/1 for days and hours)
    day_temp: np.ndarray  # day-level temperatures (billing: the days of each bill, concatenated)
    day_work: np.ndarray  # day-level workday flags (float), same layout as day_temp
    day_offsets: np.ndarray | None  # billing: offset of each bill's first day in day_temp
    temp_coverage: np.ndarray  # share of the row's days (billing) / 1.0 with temperature
    consecutive: np.ndarray  # row i starts where row i-1 ended
    warnings: list[MVWarning] = field(default_factory=list)
    cache: dict = field(default_factory=dict)  # derived arrays (e.g. time of week) computed once per frame

    @property
    def n(self) -> int:
        return int(self.usage.size)

    @property
    def valid(self) -> np.ndarray:
        """Rows usable for fitting: usage and temperature present, usage not negative."""
        return np.isfinite(self.usage) & np.isfinite(self.temp) & (self.days > 0)

    @property
    def rate(self) -> np.ndarray:
        """Usage per day (billing, daily) or per hour (hourly): what change-point models regress."""
        if self.granularity == "hourly":
            return self.usage
        return self.usage / self.days

    def agg(self, day_matrix: np.ndarray) -> np.ndarray:
        """Mean over each row's days of a day-level array (n_days × K) ignoring days without temperature."""
        if self.day_offsets is None:
            return day_matrix
        ok = np.isfinite(self.day_temp)
        m = np.where(ok[:, None] if day_matrix.ndim == 2 else ok, day_matrix, 0.0)
        m = np.nan_to_num(m, nan=0.0)
        cnt = np.add.reduceat(ok.astype(float), self.day_offsets)
        s = np.add.reduceat(m, self.day_offsets, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return s / (cnt[:, None] if s.ndim == 2 else cnt)


def _as_index(data: pd.DataFrame) -> pd.DatetimeIndex:
    idx = data.index
    if not isinstance(idx, pd.DatetimeIndex):
        try:
            idx = pd.DatetimeIndex(pd.to_datetime(idx))
        except (TypeError, ValueError) as exc:
            raise MVInputError("data must be indexed by timestamp") from exc
    return idx


def _column(data: pd.DataFrame, name: str) -> np.ndarray:
    if name not in data.columns:
        raise MVInputError(f"data needs a {name!r} column (has {list(data.columns)})")
    return np.array(pd.to_numeric(data[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan), dtype=float)


def _reject_negative(usage: np.ndarray, index: pd.DatetimeIndex, warnings: list[MVWarning]) -> np.ndarray:
    neg = np.isfinite(usage) & (usage < 0)
    if neg.any():
        first, last = index[neg].min(), index[neg].max()
        warnings.append(
            MVWarning(
                "negative_usage",
                f"{int(neg.sum())} row(s) with negative usage were excluded (a meter cannot run backwards; "
                "check register rollovers and exported generation)",
                WARNING,
                iso(first),
                iso(last),
                float(neg.sum()),
            )
        )
        usage = np.where(neg, np.nan, usage)
    return usage


#: Shortest run of zero readings taken for a stuck meter, by granularity (see :func:`_stuck_as_missing`).
STUCK_MIN_RUN = {"daily": 3, "hourly": 24, "billing": 1}


def _stuck_as_missing(usage: np.ndarray, index: pd.DatetimeIndex, granularity: str,
                      warnings: list[MVWarning], never_reads_zero: bool = False) -> np.ndarray:
    """Runs of zero usage on a meter that never otherwise reads zero are missing data, not consumption.

    A stuck or disconnected meter (or a logger that writes 0 when it loses the meter) reports zeros; fitted as
    data they drag the baseline down, and in a reporting period they read as savings of 100 %. CalTRACK 2.0
    §2.2.1.4 goes further and treats every zero electricity reading as missing; we do so only when the zeros
    come in runs (≥ ``STUCK_MIN_RUN``: 3 days, 24 hours, one bill), every zero of the meter lies in such a
    run, and most readings are not zero — a meter that reads zero on scattered days or at night (a pump, a
    PV-fed feeder, a closed wing) keeps its zeros as data and gets the ``zero_usage_run`` warning instead.
    ``never_reads_zero``: the meter's baseline never read zero (reporting data are judged with it, so a
    reporting window that is all zeros — one month settled on its own — is still a stuck meter).
    """
    zero = np.isfinite(usage) & (usage == 0)
    if not zero.any():
        return usage
    m = np.concatenate([[False], zero, [False]]).astype(np.int8)
    d = np.diff(m)
    runs = list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1), strict=True))
    min_run = STUCK_MIN_RUN[granularity]
    mostly_zero = zero.sum() * 2 >= np.isfinite(usage).sum()
    if any(b - a < min_run for a, b in runs) or (mostly_zero and not never_reads_zero):
        return usage
    for a, b in runs:
        warnings.append(
            MVWarning(
                "stuck_meter",
                f"{b - a} consecutive reading(s) of zero on a meter that otherwise never reads zero: taken as "
                "missing data (a stuck or disconnected meter), not as zero use",
                WARNING,
                iso(index[a]),
                iso(index[b - 1]),
                float(b - a),
            )
        )
    return np.where(zero, np.nan, usage)


def _dedupe(data: pd.DataFrame, idx: pd.DatetimeIndex, warnings: list[MVWarning]) -> pd.DataFrame:
    data = data.set_axis(idx)
    if not idx.is_monotonic_increasing:
        data = data.sort_index()
    dup = data.index.duplicated(keep="first")
    if dup.any():
        warnings.append(
            MVWarning(
                "duplicate_timestamps",
                f"{int(dup.sum())} duplicate timestamp(s); the first row of each was kept",
                WARNING,
                iso(data.index[dup].min()),
                iso(data.index[dup].max()),
                float(dup.sum()),
            )
        )
        data = data[~dup]
    return data


def _drivers(data: pd.DataFrame, names: Sequence[str]) -> dict[str, np.ndarray]:
    return {name: _column(data, name) for name in names}


def prepare(
    data: pd.DataFrame,
    granularity: str,
    *,
    temperature: pd.Series | None = None,
    drivers: Sequence[str] = (),
    calendar: str = "cn",
    need_usage: bool = True,
    never_reads_zero: bool = False,
) -> Frame:
    """Validate and normalise ``data`` (see module docstring) into a :class:`Frame`."""
    if granularity not in GRANULARITIES:
        raise MVInputError(f"granularity must be one of {GRANULARITIES}, not {granularity!r}")
    if not isinstance(data, pd.DataFrame):
        raise MVInputError("data must be a pandas DataFrame")
    warnings: list[MVWarning] = []
    data = _dedupe(data, _as_index(data), warnings)
    if not need_usage and "usage" not in data.columns:
        data = data.assign(usage=np.nan)
    if granularity == "billing":
        return _prepare_billing(data, temperature, drivers, calendar, warnings, never_reads_zero)
    return _prepare_interval(data, granularity, drivers, calendar, warnings, never_reads_zero)


def _prepare_interval(
    data: pd.DataFrame, granularity: str, drivers: Sequence[str], calendar: str, warnings: list[MVWarning],
    never_reads_zero: bool = False,
) -> Frame:
    freq = "D" if granularity == "daily" else "h"
    idx = data.index
    if len(idx):
        v = (idx.tz_localize(None) if idx.tz is not None else idx).values
        if not (v.astype("datetime64[D]" if freq == "D" else "datetime64[h]") == v).all():
            raise MVInputError(f"{granularity} data must be indexed by whole {'days' if freq == 'D' else 'hours'}")
        full = pd.date_range(idx[0], idx[-1], freq=freq)
        if len(full) != len(idx):
            data = data.reindex(full)
    idx = data.index
    usage = _stuck_as_missing(_reject_negative(_column(data, "usage"), idx, warnings), idx, granularity, warnings,
                              never_reads_zero)
    temp = _column(data, "temperature")
    step = 1.0 if granularity == "daily" else 1.0 / 24.0
    days = np.full(len(idx), step)
    if granularity == "daily":
        work, cw = workdays(idx, calendar)
    else:
        local = idx.tz_localize(None) if idx.tz is not None else idx
        work, cw = workdays(local.values.astype("datetime64[D]"), calendar)
    warnings.extend(cw)
    end = idx + pd.Timedelta(days=1) if granularity == "daily" else idx + pd.Timedelta(hours=1)
    consecutive = np.ones(len(idx), dtype=bool)
    if len(idx):
        consecutive[0] = False
    workf = work.astype(float)
    return Frame(
        granularity=granularity,
        index=idx,
        end=end,
        usage=usage,
        days=days,
        temp=temp,
        drivers=_drivers(data, drivers),
        workday=workf,
        day_temp=temp,
        day_work=workf,
        day_offsets=None,
        temp_coverage=np.isfinite(temp).astype(float),
        consecutive=consecutive,
        warnings=warnings,
    )


def daily_temperature(temperature: pd.Series) -> pd.Series:
    """Daily mean temperature from a daily or sub-daily series (°C), indexed by local day."""
    s = pd.to_numeric(temperature, errors="coerce")
    s.index = _as_index(s.to_frame())
    if s.index.tz is not None:
        s.index = s.index.tz_localize(None)
    return s.groupby(s.index.floor("D")).mean()


def _prepare_billing(
    data: pd.DataFrame,
    temperature: pd.Series | None,
    drivers: Sequence[str],
    calendar: str,
    warnings: list[MVWarning],
    never_reads_zero: bool = False,
) -> Frame:
    if "end" not in data.columns:
        raise MVInputError("billing data needs an 'end' column (first day not covered by the bill)")
    start = data.index
    end = pd.DatetimeIndex(pd.to_datetime(data["end"]))
    if start.tz is not None:
        start = start.tz_localize(None)
    if end.tz is not None:
        end = end.tz_localize(None)
    start_d = start.values.astype("datetime64[D]")
    end_d = end.values.astype("datetime64[D]")
    days = (end_d - start_d).astype(np.int64).astype(float)
    if (days <= 0).any():
        raise MVInputError("every bill must end after it starts")
    usage = _stuck_as_missing(_reject_negative(_column(data, "usage"), data.index, warnings), data.index, "billing",
                              warnings, never_reads_zero)
    # day-level layout: the days of each bill, concatenated (overlapping bills repeat days, which is right:
    # each bill is explained by its own days)
    lengths = days.astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    day_dates = np.repeat(start_d, lengths) + (
        np.arange(int(lengths.sum())) - np.repeat(offsets, lengths)
    ).astype("timedelta64[D]")
    if temperature is not None:
        daily = daily_temperature(temperature)
        lookup = pd.Series(daily.to_numpy(dtype=float), index=daily.index.values.astype("datetime64[D]"))
        day_temp = lookup.reindex(day_dates).to_numpy(dtype=float)
    elif "temperature" in data.columns:
        day_temp = np.repeat(_column(data, "temperature"), lengths)
        warnings.append(
            MVWarning(
                "bill_mean_temperature",
                "no daily temperatures given: each bill's mean temperature stands for all its days, which "
                "understates degree-days in shoulder months; pass a daily temperature series",
                INFO,
            )
        )
    else:
        raise MVInputError("billing data needs daily temperatures (temperature=) or a 'temperature' column")
    work, cw = workdays(day_dates, calendar)
    warnings.extend(cw)
    frame = Frame(
        granularity="billing",
        index=data.index,
        end=pd.DatetimeIndex(pd.to_datetime(data["end"])),
        usage=usage,
        days=days,
        temp=np.zeros(len(days)),
        drivers=_drivers(data, drivers),
        workday=np.zeros(len(days)),
        day_temp=day_temp,
        day_work=work.astype(float),
        day_offsets=offsets,
        temp_coverage=np.add.reduceat(np.isfinite(day_temp).astype(float), offsets) / days,
        consecutive=np.concatenate([[False], start_d[1:] == end_d[:-1]]),
        warnings=warnings,
    )
    frame.temp = frame.agg(day_temp)
    frame.workday = frame.agg(frame.day_work)
    # A bill whose days are mostly without temperature cannot be explained by the weather.
    frame.temp = np.where(frame.temp_coverage >= 0.9, frame.temp, np.nan)
    return frame
