"""Savings for a reporting period, with ASHRAE Guideline 14 fractional savings uncertainty.

adjusted baseline = routine prediction under reporting-period conditions (weather, working days, drivers)
                    + non-routine adjustments                                      (IPMVP Core Concepts 2022)
savings           = adjusted baseline − actual use                        (positive = saved; docs/domain.md §3)

Missing data rule (stated): a settlement period is *settled* only when at least ``min_coverage`` (90 %) of its
days (hours) have both actual use and a prediction; savings compare like with like — the adjusted baseline
and the actual use are summed over the same days with data. Periods below the threshold are reported with
their coverage and left out of totals and cumulative savings (``period_not_settled`` warnings).

No loss / no gain (EnergyCAP practice, only when the contract says so): a settled period whose savings are
negative is booked as zero; the raw figure is kept in ``savings_raw``.

Uncertainty (:mod:`emc.mv.uncertainty`): the headline interval, whose stated coverage is its real coverage
(prediction variance with the lag-1 autocorrelation raised; Reddy & Claridge 2000), and ASHRAE G14-2014
Annex B beside it (``uncertainty_g14_*``, ``fsu_g14_*``), which decides G14 compliance: FSU < 50 % at 68 %
confidence (``compliant``). Non-routine adjustments are taken as exact.

The steps, one function each: align the reporting rows with the model's prediction (``_rows``), apply the
non-routine adjustments per row and per period (``_row_adjustments``, ``_period_amounts``), group rows into
settlement periods — a bill's own, or calendar periods clipped to the data (``_period_bounds``,
``_span_days``) — book each period (``_book``), add the uncertainty (``_add_uncertainty``, ``_totals``) and
the findings (``_findings``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .adjustments import Adjustment
from .data import Frame, prepare
from .metrics import FSU_MAX, FSU_MAX_CONFIDENCE
from .model import BaselineModel, json_float
from .uncertainty import SavingsUncertainty, savings_uncertainty
from .warning import DISQUALIFYING, INFO, WARNING, MVWarning, iso

SCHEMA = "emc.mv.savings"
VERSION = 1
EXTRAPOLATION_MARGIN_C = 2.0
UNCERTAINTY_METHOD = ("headline: prediction variance with the lag-1 autocorrelation raised by its standard "
                      "error (TOWT: level + scatter form); beside it ASHRAE G14-2014 Annex B FSU "
                      "(uncertainty_g14_*), which decides G14 compliance")


@dataclass
class SavingsResult:
    """Per-period and total savings, their uncertainty, and every finding as warnings."""

    periods: pd.DataFrame
    total: dict[str, Any]
    warnings: list[MVWarning]
    settings: dict[str, Any]
    adjustments: list[Adjustment] = field(default_factory=list)

    @property
    def compliant(self) -> bool:
        """Baseline qualified, within the G14 gates, and total FSU < 50 % at 68 % confidence."""
        return bool(self.total.get("compliant"))

    def to_dict(self) -> dict[str, Any]:
        rows = []
        for rec in self.periods.to_dict(orient="records"):
            rows.append({k: (iso(v) if isinstance(v, pd.Timestamp) else json_float(v) if isinstance(v, float) else v)
                         for k, v in rec.items()})
        return {
            "schema": SCHEMA,
            "version": VERSION,
            "periods": rows,
            "total": {k: (json_float(v) if isinstance(v, float) else v) for k, v in self.total.items()},
            "warnings": [w.to_dict() for w in self.warnings],
            "settings": self.settings,
            "adjustments": [a.to_dict() for a in self.adjustments],
        }


def _period_keys(frame_index: pd.DatetimeIndex, period: str) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    idx = frame_index.tz_localize(None) if frame_index.tz is not None else frame_index
    per = idx.to_period(period)
    return per.start_time, (per + 1).start_time


def savings(
    model: BaselineModel,
    reporting_data: pd.DataFrame,
    *,
    adjustments: Sequence[Adjustment] = (),
    confidence: Sequence[float] = (0.68, 0.90),
    period: str | None = None,
    no_loss_no_gain: bool = False,
    min_coverage: float = 0.90,
    temperature: pd.Series | None = None,
) -> SavingsResult:
    """Savings of ``reporting_data`` against ``model`` (see module docstring for the rules).

    ``period``: pandas period alias for settlement periods ("M" months — default for daily/hourly data,
    "Q", "Y"), or "bill" (default for billing data: each bill is a period).
    """
    period = period or ("bill" if model.granularity == "billing" else "M")
    frame = prepare(reporting_data, model.granularity, temperature=temperature, drivers=model.drivers,
                    calendar=model.calendar, never_reads_zero=model.baseline.get("zero_rows") == 0)
    rows = _rows(model, frame, adjustments)
    keys = pd.MultiIndex.from_arrays(_period_bounds(frame, period))
    agg = _aggregate(frame, rows, keys)
    disq = model.disqualified or model.model_type == "none"
    pp = _book(agg, _span_days(frame, rows, period, agg), _period_amounts(adjustments, agg), disq,
               min_coverage=min_coverage, no_loss_no_gain=no_loss_no_gain)
    unit_days = 1.0 / 24.0 if model.granularity == "hourly" else (model.baseline.get("mean_days_per_row") or 1.0)
    m_p = agg["days_ok"].to_numpy() / unit_days
    unc = SavingsUncertainty(model, disq)
    # Prediction variance (change-point models with a stored covariance): per period, and over all settled
    # periods (not the root sum of the periods: the coefficient error is shared by all of them).
    gid = agg.index.get_indexer(keys)
    per_period = model.parameter_and_noise_variance(frame, rows.ok, np.where(gid >= 0, gid, 0), len(agg))
    in_settled = rows.ok & pp.settled[gid]
    overall = model.parameter_and_noise_variance(frame, in_settled, np.zeros(frame.n, dtype=np.int64), 1)
    periods = pp.frame()
    _add_uncertainty(periods, pp, unc, per_period, m_p, confidence)
    total, fsu68 = _totals(pp, unc, overall, m_p, confidence, model)
    warnings = [*frame.warnings, *_findings(model, frame, pp, disq, fsu68, min_coverage, no_loss_no_gain)]
    settings = {
        "period": period,
        "confidence": list(confidence),
        "no_loss_no_gain": no_loss_no_gain,
        "min_coverage": min_coverage,
        "uncertainty_method": UNCERTAINTY_METHOD,
    }
    return SavingsResult(periods, total, warnings, settings, list(adjustments))


@dataclass
class _Rows:
    """Reporting rows aligned with the model: routine prediction, actual use, which rows have both, and the
    non-routine part of each row."""

    routine: np.ndarray
    actual: np.ndarray
    ok: np.ndarray
    row_days: pd.DatetimeIndex
    non_routine: np.ndarray


def _rows(model: BaselineModel, frame: Frame, adjustments: Sequence[Adjustment]) -> _Rows:
    routine = model.predict_frame(frame) if model.model_type != "none" else np.full(frame.n, np.nan)
    actual = frame.usage
    ok = np.isfinite(actual) & np.isfinite(routine)
    idx_local = frame.index.tz_localize(None) if frame.index.tz is not None else frame.index
    row_days = idx_local.normalize()
    return _Rows(routine, actual, ok, row_days, _row_adjustments(adjustments, frame, routine, row_days.date))


def _row_adjustments(adjustments: Sequence[Adjustment], frame: Frame, routine: np.ndarray, row_dates: np.ndarray
                     ) -> np.ndarray:
    """Non-routine part per row (IPMVP): model-change adjustments act on each row; amounts per day act on each
    row with data."""
    mult = np.ones(frame.n)
    per_day = np.zeros(frame.n)
    for a in adjustments:
        if a.kind != "continuous":
            continue
        active = np.fromiter((a.active(d) for d in row_dates), dtype=bool, count=frame.n)
        if a.multiplier is not None:
            mult = np.where(active, mult * a.multiplier, mult)
        else:
            per_day = per_day + np.where(active, float(a.amount), 0.0)  # type: ignore[arg-type]
    return routine * mult + per_day * frame.days - routine


def _period_bounds(frame: Frame, period: str) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """(start, end) of each row's settlement period: the bill (row) itself, or the calendar period holding it."""
    if period not in ("bill", "row"):
        return _period_keys(frame.index, period)
    p_start, p_end = frame.index, frame.end
    if p_start.tz is not None:
        p_start, p_end = p_start.tz_localize(None), p_end.tz_localize(None)
    return pd.DatetimeIndex(p_start), pd.DatetimeIndex(p_end)


def _aggregate(frame: Frame, rows: _Rows, keys: pd.MultiIndex) -> pd.DataFrame:
    """Per settlement period: days, days with data, and routine, non-routine and actual use over the days with
    data (like with like)."""
    ok = rows.ok
    df = pd.DataFrame({
        "days": frame.days,
        "days_ok": np.where(ok, frame.days, 0.0),
        "routine": np.where(ok, rows.routine, 0.0),
        "non_routine": np.where(ok, rows.non_routine, 0.0),
        "actual": np.where(ok, rows.actual, 0.0),
    }, index=keys)
    return df.groupby(level=[0, 1], sort=True)[["days", "days_ok", "routine", "non_routine", "actual"]].sum()


def _span_days(frame: Frame, rows: _Rows, period: str, agg: pd.DataFrame) -> np.ndarray:
    """Days in each period: a bill's own days; a calendar period's, clipped to the span of the reporting data."""
    starts = agg.index.get_level_values(0)
    ends = agg.index.get_level_values(1)
    if period in ("bill", "row"):
        span_days = (ends - starts) / pd.Timedelta(days=1)
    else:
        span0 = rows.row_days.min() if frame.n else None
        span1 = (frame.end.tz_localize(None) if frame.end.tz is not None else frame.end).max() if frame.n else None
        clip0 = starts.where(starts > span0, span0)
        clip1 = ends.where(ends < span1, span1)
        span_days = (clip1 - clip0) / pd.Timedelta(days=1)
    return np.asarray(span_days, dtype=float)


def _period_amounts(adjustments: Sequence[Adjustment], agg: pd.DataFrame) -> np.ndarray:
    """One-time amounts (in the period holding their start) and recurring amounts (every period starting in
    their range), per settlement period."""
    starts = agg.index.get_level_values(0)
    ends = agg.index.get_level_values(1)
    per_amount = np.zeros(len(agg))
    for a in adjustments:
        if a.kind == "continuous":
            continue
        s = pd.Timestamp(a.start)
        e = pd.Timestamp(a.end) if a.end is not None else None
        if a.kind == "one_time":
            hit = (starts <= s) & (s < ends)
        else:
            hit = (starts >= s) & ((starts < e) if e is not None else True)
        per_amount += np.where(hit, float(a.amount), 0.0)  # type: ignore[arg-type]
    return per_amount


@dataclass
class _Periods:
    """The settlement periods booked: amounts per period, which are settled, and the savings booked."""

    starts: pd.Index
    ends: pd.Index
    span_days: np.ndarray
    days_ok: np.ndarray
    coverage: np.ndarray
    settled: np.ndarray
    per_amount: np.ndarray
    routine: np.ndarray
    non_routine: np.ndarray
    adjusted: np.ndarray
    actual: np.ndarray
    raw: np.ndarray
    booked: np.ndarray
    cumulative: np.ndarray

    def frame(self) -> pd.DataFrame:
        periods = pd.DataFrame({
            "period_start": self.starts,
            "period_end": self.ends,
            "days": self.span_days,
            "days_with_data": self.days_ok,
            "coverage": self.coverage,
            "settled": self.settled,
            "routine_baseline": self.routine,
            "non_routine": self.non_routine,
            "adjusted_baseline": self.adjusted,
            "actual": self.actual,
            "savings_raw": self.raw,
            "savings": self.booked,
            "cumulative_savings": self.cumulative,
        })
        with np.errstate(invalid="ignore", divide="ignore"):
            periods["savings_fraction"] = np.where(self.adjusted != 0, self.raw / self.adjusted, np.nan)
        return periods


def _book(agg: pd.DataFrame, span_days: np.ndarray, per_amount: np.ndarray, disq: bool, *, min_coverage: float,
          no_loss_no_gain: bool) -> _Periods:
    """Settle the periods with enough data and book their savings (no loss / no gain when the contract says so)."""
    days_ok = agg["days_ok"].to_numpy()
    coverage = days_ok / span_days
    settled = (coverage >= min_coverage - 1e-12) & (not disq)
    routine_p = agg["routine"].to_numpy()
    nonroutine_p = agg["non_routine"].to_numpy() + per_amount
    adjusted = routine_p + nonroutine_p
    actual_p = agg["actual"].to_numpy()
    raw = adjusted - actual_p
    booked = np.where(no_loss_no_gain & (raw < 0), 0.0, raw)
    booked = np.where(settled, booked, np.nan)
    cumulative = np.nancumsum(np.where(settled, booked, 0.0))
    cumulative = np.where(settled, cumulative, np.nan)
    return _Periods(agg.index.get_level_values(0), agg.index.get_level_values(1), span_days, days_ok, coverage,
                    settled, per_amount, routine_p, nonroutine_p, adjusted, actual_p, raw, booked, cumulative)


def _add_uncertainty(periods: pd.DataFrame, pp: _Periods, unc: SavingsUncertainty,
                     per_period: tuple[np.ndarray, np.ndarray], m_p: np.ndarray, confidence: Sequence[float]) -> None:
    """Per period and confidence: the headline uncertainty and FSU, and G14 Annex B's beside them."""
    par_p, noise_p = per_period
    settled, raw, adjusted = pp.settled, pp.raw, pp.adjusted
    for conf in confidence:
        tag = f"{round(conf * 100):d}"
        u = np.array([unc.headline(a + b, m, e, conf)
                      for a, b, m, e in zip(par_p, noise_p, m_p, adjusted, strict=True)])
        periods[f"uncertainty_{tag}"] = np.where(settled, u, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            periods[f"fsu_{tag}"] = np.where(settled & (raw != 0), u / np.abs(raw), np.nan)
        ug = np.array([unc.g14(m, e, conf) for m, e in zip(m_p, adjusted, strict=True)])
        periods[f"uncertainty_g14_{tag}"] = np.where(settled, ug, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            periods[f"fsu_g14_{tag}"] = np.where(settled & (raw != 0), ug / np.abs(raw), np.nan)


def _totals(pp: _Periods, unc: SavingsUncertainty, overall: tuple[np.ndarray, np.ndarray], m_p: np.ndarray,
            confidence: Sequence[float], model: BaselineModel) -> tuple[dict[str, Any], float]:
    """Totals over the settled periods with their uncertainty, and the G14 Annex B FSU at 68 % that decides
    compliance."""
    s = pp.settled
    tot_adj = float(pp.adjusted[s].sum())
    tot_raw = float(pp.raw[s].sum())
    m_tot = float(m_p[s].sum())
    total: dict[str, Any] = {
        "periods": len(s),
        "periods_settled": int(s.sum()),
        "routine_baseline": float(pp.routine[s].sum()),
        "non_routine": float(pp.non_routine[s].sum()),
        "adjusted_baseline": tot_adj,
        "actual": float(pp.actual[s].sum()),
        "savings_raw": tot_raw,
        "savings": float(np.nansum(pp.booked[s])),
        "savings_fraction": tot_raw / tot_adj if tot_adj else float("nan"),
        "m": m_tot,
    }
    par_t, noise_t = overall
    for conf in confidence:
        tag = f"{round(conf * 100):d}"
        u_tot = unc.headline(float(par_t[0] + noise_t[0]), m_tot, tot_adj, conf) if s.any() else float("nan")
        total[f"uncertainty_{tag}"] = u_tot
        total[f"fsu_{tag}"] = u_tot / abs(tot_raw) if tot_raw else float("inf")
        total[f"t_{tag}"] = unc.t(conf)
        ug_tot = unc.g14(m_tot, tot_adj, conf) if s.any() else float("nan")
        total[f"uncertainty_g14_{tag}"] = ug_tot
        total[f"fsu_g14_{tag}"] = ug_tot / abs(tot_raw) if tot_raw else float("inf")
    total["autocorr_lag1_raised"] = unc.rho_raised
    total["n_effective_raised"] = unc.n_raised
    fsu68 = savings_uncertainty(cvrmse=unc.cv, n=unc.n, n_effective=unc.n_eff, m=m_tot, p=unc.p,
                                adjusted_baseline=tot_adj, confidence=FSU_MAX_CONFIDENCE) / abs(tot_raw) if (
        tot_raw and not unc.disqualified and m_tot > 0) else float("inf")
    total["fsu_68_limit"] = FSU_MAX
    # The G14 compliance test is G14's own: its Annex B FSU at 68 %.
    total["compliant"] = bool(model.accepted and fsu68 < FSU_MAX and s.any())
    return total, fsu68


def _findings(model: BaselineModel, frame: Frame, pp: _Periods, disq: bool, fsu68: float, min_coverage: float,
              no_loss_no_gain: bool) -> list[MVWarning]:
    """Every finding of the savings run, in order: baseline, periods, uncertainty, extrapolation."""
    warnings: list[MVWarning] = []
    if disq:
        warnings.append(MVWarning("baseline_disqualified", "the baseline is disqualified: no period is settled",
                                  DISQUALIFYING))
    elif not model.gates.get("passed"):
        warnings.append(MVWarning("baseline_fails_g14", "the baseline model fails the ASHRAE G14 acceptance gates "
                                  f"({model.gates.get('cvrmse', float('nan')):.1%} CV(RMSE))", WARNING,
                                  detail={"cvrmse": float(model.gates.get("cvrmse", float("nan")))}))
    warnings += _period_findings(pp, disq, min_coverage, no_loss_no_gain)
    if pp.settled.any() and not disq and not fsu68 < FSU_MAX:
        warnings.append(MVWarning(
            "savings_uncertainty_high",
            f"fractional savings uncertainty {fsu68:.0%} at 68 % confidence (G14 Annex B) is not below the G14 "
            "limit of "
            f"{FSU_MAX:.0%}: the savings are not distinguishable from model error", WARNING, value=fsu68,
            detail={"limit": FSU_MAX}))
    warnings += _extrapolation_findings(model, frame)
    return warnings


def _period_findings(pp: _Periods, disq: bool, min_coverage: float, no_loss_no_gain: bool) -> list[MVWarning]:
    """Periods not settled (and adjustments lost with them), and savings booked as zero."""
    warnings: list[MVWarning] = []
    starts, ends = pp.starts, pp.ends
    for i in np.flatnonzero(~pp.settled & ~np.bool_(disq)):
        warnings.append(MVWarning(
            "period_not_settled",
            f"{pp.coverage[i]:.0%} of the period has data (< {min_coverage:.0%}): not settled",
            WARNING, iso(starts[i]), iso(ends[i]), float(pp.coverage[i])))
        if pp.per_amount[i]:
            warnings.append(MVWarning("adjustment_in_unsettled_period", "a non-routine adjustment falls in a period "
                                      "that is not settled", WARNING, iso(starts[i]), iso(ends[i]),
                                      float(pp.per_amount[i])))
    if no_loss_no_gain:
        for i in np.flatnonzero(pp.settled & (pp.raw < 0)):
            warnings.append(MVWarning("no_loss_no_gain", "negative savings booked as zero (no loss / no gain)", INFO,
                                      iso(starts[i]), iso(ends[i]), float(pp.raw[i])))
    return warnings


def _extrapolation_findings(model: BaselineModel, frame: Frame) -> list[MVWarning]:
    """Reporting temperatures well outside the baseline's range: the model extrapolates."""
    lo, hi = model.baseline.get("temperature_min"), model.baseline.get("temperature_max")
    tt = frame.day_temp[np.isfinite(frame.day_temp)]
    if lo is None or hi is None or not tt.size:
        return []
    out = (tt < lo - EXTRAPOLATION_MARGIN_C) | (tt > hi + EXTRAPOLATION_MARGIN_C)
    if not out.any():
        return []
    return [MVWarning(
        "temperature_outside_baseline",
        f"{int(out.sum())} reporting temperatures lie more than {EXTRAPOLATION_MARGIN_C:g} °C outside the "
        f"baseline range {lo:.1f}–{hi:.1f} °C: the model extrapolates", WARNING, value=float(out.sum()),
        detail={"margin": EXTRAPOLATION_MARGIN_C, "low": round(float(lo), 1), "high": round(float(hi), 1)})]
