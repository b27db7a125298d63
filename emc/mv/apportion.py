"""Savings of settlement periods from bills whose edges are not the periods' edges.

A bill (or any reading longer than a day) that straddles a period edge is apportioned: each bill's
adjusted baseline, actual use and savings are split over its days **in proportion to the baseline model's
predicted use of each day**, and a period takes the part of every bill that falls on its days. So:

* the periods' savings add up to the savings over the bills' whole range (nothing counted twice or lost);
* each period carries only its own days (a month never receives the savings of the whole bill range);
* a period is *settled* only when bills with data cover at least ``min_coverage`` (90 %) of its days,
  the same rule as for interval data (``emc.mv.savings``).

Why predicted use per day rather than plain days: a billing baseline is a change-point model of use per day
against each day's degree-days (CalTRACK 2.0 billing methods; Kissock et al. ASHRAE RP-1050), so the model
already says how a bill's use is distributed over its days — a bill running 15 Dec → 14 Jan puts more of
its heating load on the colder days. IPMVP Core Concepts 2022 compares the adjusted baseline and the
reporting-period use over the same period; a bill that crosses the period's edge must therefore be split,
and splitting it by the model's daily prediction applies the model's own weather response to the split.
Where the model predicts nothing usable for a bill (no temperature, zero), the bill is spread by days (the
calendarisation ENERGY STAR Portfolio Manager applies to bills). With a weather-independent model both rules
give the same split: by days.

Uncertainty per period: ASHRAE G14-2014 Annex B with m = the period's days with data in the model's rows
(bills), as in ``emc.mv.savings``. Beside it, the prediction-variance form (``uncertainty_model_*``): each
bill's interval from the covariance form of ``emc.mv.savings`` (s'·Cov(β)·s + σ²·Σ days, inflated by n/n''),
scaled to the share of the bill's predicted use that falls in the period (a fixed share w of a prediction has
w times its standard error) and added over the period's bills as if fully correlated (the coefficient error is
shared by every bill; for the day-to-day scatter this is an upper bound). Where the G14 figure cannot be
formed, the headline is the prediction-variance one: a settled period never carries an unknown (NaN) interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .adjustments import Adjustment
from .model import BaselineModel
from .savings import SavingsResult, savings
from .uncertainty import savings_uncertainty
from .warning import WARNING, MVWarning, iso

DAY = pd.Timedelta(days=1)


def calendar_periods(start: pd.Timestamp, end: pd.Timestamp,
                     alias: str = "M") -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """[start, end) cut at calendar ``alias`` edges ("M", "Q", "Y"): half-open (first day, day after last)."""
    start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    out = []
    cursor = start
    while cursor < end:
        nxt = min((cursor.to_period(alias) + 1).start_time, end)
        out.append((cursor, nxt))
        cursor = nxt
    return out


def daily_weights(model: BaselineModel, bills: pd.DataFrame, temperature: pd.Series | None) -> list[np.ndarray]:
    """For each bill, the share of its use that falls on each of its days (sums to 1): the model's predicted
    use per day, or equal shares when the model predicts nothing usable for the bill."""
    starts = pd.DatetimeIndex(bills.index)
    ends = pd.DatetimeIndex(pd.to_datetime(bills["end"]))
    if starts.tz is not None:
        starts, ends = starts.tz_localize(None), ends.tz_localize(None)
    day_lists = [pd.date_range(s, e - DAY, freq="D") for s, e in zip(starts, ends, strict=True)]
    if not day_lists:
        return []
    days = pd.DatetimeIndex(sorted(set().union(*[set(d) for d in day_lists])))
    predicted = None
    if model.model_type != "none" and len(days) and temperature is not None:
        one_day = pd.DataFrame({"usage": np.nan, "end": days + DAY}, index=days)
        try:
            predicted = model.predict(one_day, temperature=temperature)
        except ValueError:  # the model cannot predict single days (no temperature): spread by days
            predicted = None
    weights = []
    for span in day_lists:
        w = np.ones(len(span))
        if predicted is not None:
            p = predicted.reindex(span).to_numpy(dtype=float)
            if np.isfinite(p).all() and (p >= 0).all() and p.sum() > 0:
                w = p
        weights.append(w / w.sum())
    return weights


def _split_bills(rows: pd.DataFrame, weights: list[np.ndarray], p_start: pd.DatetimeIndex, p_end: pd.DatetimeIndex,
                 confidence: Sequence[float]) -> tuple[dict[str, np.ndarray], dict[float, np.ndarray]]:
    """Each period's share of every settled bill: the bills' figures and days with data, and the bills'
    prediction-variance intervals scaled by the same shares (module docstring)."""
    n_p = len(p_start)
    sums = {k: np.zeros(n_p) for k in ("routine_baseline", "non_routine", "actual", "days_with_data")}
    bill_u = {conf: rows[f"uncertainty_{round(conf * 100):d}"].to_numpy(dtype=float) for conf in confidence}
    model_u = {conf: np.zeros(n_p) for conf in confidence}
    for i, rec in enumerate(rows.itertuples(index=False)):
        if not bool(rec.settled):
            continue  # a bill without data (or a prediction) leaves its days without data
        bill_days = pd.date_range(pd.Timestamp(rec.period_start), pd.Timestamp(rec.period_end) - DAY, freq="D")
        w = weights[i]
        for j in range(n_p):
            inside = (bill_days >= p_start[j]) & (bill_days < p_end[j])
            if not inside.any():
                continue
            share = float(w[inside].sum())
            sums["routine_baseline"][j] += share * float(rec.routine_baseline)
            sums["non_routine"][j] += share * float(rec.non_routine)
            sums["actual"][j] += share * float(rec.actual)
            sums["days_with_data"][j] += float(inside.sum())
            for conf in confidence:
                model_u[conf][j] += share * bill_u[conf][i]
    return sums, model_u


def period_savings(model: BaselineModel, bills: pd.DataFrame, periods: Sequence[tuple[pd.Timestamp, pd.Timestamp]],
                   *, temperature: pd.Series | None = None, adjustments: Sequence[Adjustment] = (),
                   confidence: Sequence[float] = (0.68, 0.90), no_loss_no_gain: bool = False,
                   min_coverage: float = 0.90) -> SavingsResult:
    """Savings of each settlement period [start, end) from bills of any length (see module docstring).

    ``bills``: as for ``emc.mv.savings`` with billing data (index = first day, ``end`` = first day not
    covered, ``usage``). Returns a :class:`SavingsResult` whose rows are ``periods`` (same columns as
    ``emc.mv.savings``); totals are over the settled periods."""
    per_bill = savings(model, bills, adjustments=adjustments, confidence=confidence, period="bill",
                       min_coverage=min_coverage, temperature=temperature)
    rows = per_bill.periods
    weights = daily_weights(model, bills.loc[:, ["end"]].assign(usage=np.nan), temperature)
    n_p = len(periods)
    p_start = pd.DatetimeIndex([p[0] for p in periods])
    p_end = pd.DatetimeIndex([p[1] for p in periods])
    span_days = ((p_end - p_start) / DAY).to_numpy(dtype=float)
    sums, model_u = _split_bills(rows, weights, p_start, p_end, confidence)
    coverage = np.divide(sums["days_with_data"], span_days, out=np.zeros(n_p), where=span_days > 0)
    disq = model.disqualified or model.model_type == "none"
    settled = (coverage >= min_coverage - 1e-12) & (not disq)
    adjusted = sums["routine_baseline"] + sums["non_routine"]
    actual = sums["actual"]
    raw = adjusted - actual
    booked = np.where(no_loss_no_gain & (raw < 0), 0.0, raw)
    booked = np.where(settled, booked, np.nan)
    cumulative = np.where(settled, np.nancumsum(np.where(settled, booked, 0.0)), np.nan)
    mm = model.metrics
    n, n_eff, p, cv = mm.get("n", np.nan), mm.get("n_effective", np.nan), mm.get("p", np.nan), mm.get("cvrmse", np.nan)
    unit_days = model.baseline.get("mean_days_per_row") or 1.0
    m_p = sums["days_with_data"] / unit_days

    def unc(m: float, base: float, conf: float) -> float:
        if disq or not math.isfinite(n_eff) or m <= 0:
            return float("nan")
        return savings_uncertainty(cvrmse=cv, n=n, n_effective=n_eff, m=m, p=p, adjusted_baseline=base,
                                   confidence=conf)

    out = pd.DataFrame({
        "period_start": p_start, "period_end": p_end, "days": span_days,
        "days_with_data": sums["days_with_data"], "coverage": coverage, "settled": settled,
        "routine_baseline": sums["routine_baseline"], "non_routine": sums["non_routine"],
        "adjusted_baseline": adjusted, "actual": actual, "savings_raw": raw, "savings": booked,
        "cumulative_savings": cumulative,
    })
    with np.errstate(invalid="ignore", divide="ignore"):
        out["savings_fraction"] = np.where(adjusted != 0, raw / adjusted, np.nan)
    total = dict(per_bill.total)
    s = settled
    tot_adj, tot_raw, m_tot = float(adjusted[s].sum()), float(raw[s].sum()), float(m_p[s].sum())
    total.update({"periods": n_p, "periods_settled": int(s.sum()),
                  "routine_baseline": float(sums["routine_baseline"][s].sum()),
                  "non_routine": float(sums["non_routine"][s].sum()), "adjusted_baseline": tot_adj,
                  "actual": float(actual[s].sum()), "savings_raw": tot_raw,
                  "savings": float(np.nansum(booked[s])),
                  "savings_fraction": tot_raw / tot_adj if tot_adj else float("nan"), "m": m_tot})
    for conf in confidence:
        tag = f"{round(conf * 100):d}"
        um = np.where(settled, model_u[conf], np.nan)
        u = np.array([unc(m, b, conf) for m, b in zip(m_p, adjusted, strict=True)])
        u = np.where(np.isfinite(u), u, um)
        out[f"uncertainty_{tag}"] = np.where(settled, u, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"fsu_{tag}"] = np.where(settled & (raw != 0), u / np.abs(raw), np.nan)
        out[f"uncertainty_model_{tag}"] = um
        umt = float(np.sum(um[s])) if s.any() else float("nan")
        ut = unc(m_tot, tot_adj, conf)
        total[f"uncertainty_{tag}"] = ut if math.isfinite(ut) else umt
        total[f"fsu_{tag}"] = total[f"uncertainty_{tag}"] / abs(tot_raw) if tot_raw else float("inf")
        total[f"uncertainty_model_{tag}"] = umt
    total["compliant"] = bool(total.get("compliant")) and bool(s.any())
    warnings = [w for w in per_bill.warnings if w.code not in ("period_not_settled", "adjustment_in_unsettled_period")]
    for k in np.flatnonzero(~settled & ~np.bool_(disq)):
        warnings.append(MVWarning("period_not_settled",
                                  f"{coverage[k]:.0%} of the period has data (< {min_coverage:.0%}): not settled",
                                  WARNING, iso(p_start[k]), iso(p_end[k]), float(coverage[k])))
    settings = {**per_bill.settings, "period": "apportioned",
                "apportioning": "bills split over their days by the baseline model's predicted use per day"}
    return SavingsResult(out, total, warnings, settings, list(adjustments))
