"""Baseline data sufficiency as CalTRACK 2.0 states it (§2.2 "data sufficiency"), returned as warnings.

Rules (parameters of :func:`check`; defaults in brackets). CalTRACK's own tolerances are kept, because a
rule stricter than the method it cites disqualifies baselines the method accepts (12 monthly bills cover
364 days, not 365; a year of hourly data read from a logger that starts at 01:00 has 8,759 hours):

* the baseline spans a year [``min_days`` = 365]: at least 90 % of it, i.e. ``ceil(0.9 × 365)`` = 329 days
  (OpenEEmeter 4.x, the CalTRACK reference implementation, ``MIN_BASELINE_LENGTH = ceil(0.9 ·
  MAX_BASELINE_LENGTH)`` for daily and billing data), or it is disqualified; between 329 days and a year it
  is accepted with a warning; longer is reported (CalTRACK uses the 365 days before the intervention; we fit
  what we are given);
* at least ``min_coverage`` [90 %] of the days (hours, for hourly data) of the baseline *as a whole* have
  usage and temperature (CalTRACK 2.0 §2.2.1.2, judged over the whole period): a 20-day gap in a year
  (94.5 % coverage) is accepted, with the thin month listed as a warning. For hourly data a calendar month
  with less than ``month_min_coverage`` [50 %] of its hours is still disqualifying (CalTRACK's hourly method
  fits by month of year and, in OpenEEmeter's hourly sufficiency, asks for 90 % in every month; we warn
  below 90 % and disqualify below 50 %);
* gaps (runs of missing days ≥ 3, hours ≥ 24) and runs of zero usage ≥ 7 days are listed; runs of zeros on
  a meter that never otherwise reads zero were already made missing when the data were read
  (``stuck_meter``, :mod:`emc.mv.data`);
* negative usage was rejected when the data were read (``negative_usage``);
* bills: off-cycle bills (outside 25–35 days for a monthly cycle, 50–70 days for a bimonthly one) are
  flagged, bills over 70 days are dropped (CalTRACK 2.0 §2.2.3.4), gaps and overlaps between bills are
  listed, and a bill with less than 90 % of its days' temperatures is dropped (§2.2.3.2).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .data import Frame
from .warning import DISQUALIFYING, INFO, WARNING, MVWarning, iso

MAX_LISTED = 20
#: Share of the baseline year a baseline must span (OpenEEmeter 4.x ``ceil(0.9 · 365)`` = 329 days).
SPAN_TOLERANCE = 0.9


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index pairs of True runs."""
    if not mask.any():
        return []
    m = np.concatenate([[False], mask, [False]]).astype(np.int8)
    d = np.diff(m)
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1), strict=True))


def check(
    frame: Frame,
    *,
    min_days: int = 365,
    min_coverage: float = 0.90,
    month_min_coverage: float = 0.50,
) -> list[MVWarning]:
    """Sufficiency findings for a baseline :class:`Frame`; excluded bills are marked invalid in place."""
    if frame.n == 0:
        return [MVWarning("no_data", "the baseline has no rows", DISQUALIFYING)]
    out = _billing(frame) if frame.granularity == "billing" else []
    start = frame.index[0]
    end = frame.end.max()
    if start.tz is not None:
        start, end = start.tz_localize(None), end.tz_localize(None)
    span = (end - start) / pd.Timedelta(days=1)
    least = math.ceil(SPAN_TOLERANCE * min_days)
    if span < least - 1e-9:
        out.append(
            MVWarning(
                "baseline_too_short",
                f"the baseline spans {span:.0f} days; at least {least} days of a year ({min_days} days) are "
                "needed so every season is represented (CalTRACK 2.0 §2.2, 90 % of the baseline year)",
                DISQUALIFYING,
                iso(start),
                iso(end),
                float(span),
            )
        )
    elif span < min_days - 1.0 - 1e-9:
        out.append(
            MVWarning(
                "baseline_short_of_a_year",
                f"the baseline spans {span:.0f} of {min_days} days: accepted (CalTRACK 2.0 accepts ≥ {least} days)",
                WARNING,
                iso(start),
                iso(end),
                float(span),
            )
        )
    elif span > 366 + 1e-9:
        out.append(
            MVWarning(
                "baseline_longer_than_a_year",
                f"the baseline spans {span:.0f} days; all of it is fitted (CalTRACK would use the last 365 days)",
                INFO,
                iso(start),
                iso(end),
                float(span),
            )
        )
    out.extend(_coverage(frame, start, end, min_coverage, month_min_coverage))
    if frame.granularity != "billing":
        out.extend(_gaps(frame))
    return out


def _valid_days(frame: Frame, first: np.datetime64, ndays: int) -> np.ndarray:
    """Valid fraction (0..1) of each calendar day from ``first`` on (numpy only: this runs once per meter)."""
    out = np.zeros(ndays)
    valid = frame.valid
    if frame.granularity == "billing":
        starts = frame.index.tz_localize(None) if frame.index.tz is not None else frame.index
        ends = frame.end.tz_localize(None) if frame.end.tz is not None else frame.end
        s = (starts.values.astype("datetime64[D]") - first).astype(np.int64)
        e = (ends.values.astype("datetime64[D]") - first).astype(np.int64)
        for a, b, ok in zip(s, e, valid, strict=True):
            if ok:
                out[max(a, 0):max(min(b, ndays), 0)] = 1.0
        return out
    idx = frame.index.tz_localize(None) if frame.index.tz is not None else frame.index
    codes = (idx.values.astype("datetime64[D]") - first).astype(np.int64)
    inside = (codes >= 0) & (codes < ndays)
    return np.bincount(codes[inside], weights=(valid * frame.days)[inside], minlength=ndays)[:ndays]


def _coverage(frame: Frame, start, end, min_coverage: float, month_min: float) -> list[MVWarning]:
    out: list[MVWarning] = []
    first = np.datetime64(start.floor("D").date(), "D")
    last = np.datetime64((end - pd.Timedelta(microseconds=1)).date(), "D") + 1  # exclusive
    ndays = int((last - first) // np.timedelta64(1, "D"))
    vd = _valid_days(frame, first, ndays)
    total = float(vd.mean()) if ndays else 0.0
    unit = "hours" if frame.granularity == "hourly" else "days"
    if total < min_coverage:
        out.append(
            MVWarning(
                "insufficient_coverage",
                f"only {total:.1%} of the baseline {unit} have usage and temperature; CalTRACK 2.0 needs "
                f"≥ {min_coverage:.0%}",
                DISQUALIFYING,
                iso(start),
                iso(end),
                total,
            )
        )
    months = (first + np.arange(ndays)).astype("datetime64[M]")
    m0 = months[0] if ndays else None
    mcode = (months - m0).astype(np.int64) if ndays else np.zeros(0, dtype=np.int64)
    cov = np.bincount(mcode, weights=vd) / np.maximum(np.bincount(mcode), 1)
    for j in np.flatnonzero(cov < min_coverage):
        per = pd.Period(str(m0 + j), "M")  # type: ignore[operator]
        p0, p1 = per.start_time, (per + 1).start_time
        c = float(cov[j])
        # Daily and billing data: coverage is judged over the whole baseline (CalTRACK 2.0 §2.2.1.2), so a
        # thin month is listed, not disqualifying; hourly data keep a floor per month (see module docstring).
        if c < month_min and frame.granularity == "hourly":
            out.append(
                MVWarning(
                    "month_not_represented",
                    f"{per} has {c:.0%} of its {unit} with data (< {month_min:.0%}): the month is not "
                    "represented in the baseline",
                    DISQUALIFYING,
                    iso(p0),
                    iso(p1),
                    c,
                )
            )
        else:
            out.append(
                MVWarning(
                    "month_low_coverage",
                    f"{per} has {c:.0%} of its {unit} with data (< {min_coverage:.0%})",
                    WARNING,
                    iso(p0),
                    iso(p1),
                    c,
                )
            )
    return out


def _gaps(frame: Frame) -> list[MVWarning]:
    out: list[MVWarning] = []
    hourly = frame.granularity == "hourly"
    min_gap = 24 if hourly else 3
    unit = "hours" if hourly else "days"
    runs = [(a, b) for a, b in _runs(~frame.valid) if b - a >= min_gap]
    for a, b in runs[:MAX_LISTED]:
        out.append(
            MVWarning(
                "gap",
                f"{b - a} consecutive {unit} without usable data",
                WARNING,
                iso(frame.index[a]),
                iso(frame.end[b - 1]),
                float(b - a),
            )
        )
    if len(runs) > MAX_LISTED:
        out.append(MVWarning("gap", f"{len(runs) - MAX_LISTED} further gaps not listed", WARNING))
    zero = np.isfinite(frame.usage) & (frame.usage == 0)
    min_zero = 7 * (24 if hourly else 1)
    for a, b in [(a, b) for a, b in _runs(zero) if b - a >= min_zero][:MAX_LISTED]:
        out.append(
            MVWarning(
                "zero_usage_run",
                f"{b - a} consecutive {unit} of zero usage: check for a stuck or disconnected meter",
                WARNING,
                iso(frame.index[a]),
                iso(frame.end[b - 1]),
                float(b - a),
            )
        )
    return out


def _billing(frame: Frame) -> list[MVWarning]:
    out: list[MVWarning] = []
    days = frame.days
    bimonthly = float(np.median(days)) > 45
    lo, hi = (50, 70) if bimonthly else (25, 35)
    cycle = "bimonthly" if bimonthly else "monthly"
    for i in range(frame.n):
        s, e = iso(frame.index[i]), iso(frame.end[i])
        if days[i] > 70:
            frame.usage[i] = np.nan
            out.append(
                MVWarning("bill_too_long", f"a {days[i]:.0f}-day bill was dropped (longer than 70 days, CalTRACK 2.0)",
                          WARNING, s, e, float(days[i]))
            )
        elif not lo <= days[i] <= hi:
            out.append(
                MVWarning("off_cycle_bill", f"a {days[i]:.0f}-day bill is off the {cycle} cycle ({lo}–{hi} days)",
                          WARNING, s, e, float(days[i]))
            )
        if frame.temp_coverage[i] < 0.9:
            out.append(
                MVWarning("bill_temperature_coverage",
                          f"a bill has temperatures for {frame.temp_coverage[i]:.0%} of its days (< 90 %); dropped",
                          WARNING, s, e, float(frame.temp_coverage[i]))
            )
    ends = frame.end.values.astype("datetime64[D]")
    starts = frame.index.values.astype("datetime64[D]")
    for i in range(1, frame.n):
        delta = int((starts[i] - ends[i - 1]).astype(np.int64))
        if delta > 0:
            out.append(MVWarning("bill_gap", f"{delta} day(s) between two bills are not billed", WARNING,
                                 str(ends[i - 1]), str(starts[i]), float(delta)))
        elif delta < 0:
            out.append(MVWarning("bill_overlap", f"two bills overlap by {-delta} day(s)", WARNING,
                                 str(starts[i]), str(ends[i - 1]), float(-delta)))
    return out
