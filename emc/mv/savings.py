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

Uncertainty: the headline interval is one whose stated coverage is its real coverage (docs/mv.md §3 has the
derivation and the measured coverage). For change-point models it is the prediction-variance ("covariance")
form of the savings over the m reporting points (Reddy & Claridge 2000; ASHRAE G14-2014 Annex B's matrix
form; Kissock et al. RP-1050):

    U = t · sqrt( (n/n'') · ( s'·Cov(β)·s + σ²·Σ days ) ),   s = Σ over reporting rows of days·x

The first term is the error of the fitted coefficients, shared by every reporting day (it does not average
out over a year); the second the day-to-day scatter. σ² and Cov(β) are on n − p degrees of freedom with the
balance points counted as parameters. n'' = n(1 − ρ⁺)/(1 + ρ⁺) uses the lag-1 autocorrelation raised by its
standard error, ρ⁺ = ρ̂ + sqrt((1 − ρ̂²)/n): ρ̂ of a year of residuals runs low (it is biased towards 0
and uncertain by about that much), and an n' that is too large makes every interval too narrow. t is
Student's t at the confidence level with n'' − p degrees of freedom. For the hourly TOWT model, which
stores no covariance (182 coefficients), the same two terms are approximated by

    U = t · CV · Ê · sqrt( (n/n'') · (1 + m/n) / m )

(the level error of a mean over n points carried over m reporting points, plus m points of scatter; Ê the
adjusted baseline, CV the baseline CV(RMSE)); it tracked the covariance form within 1 pp of coverage on
daily meters. Non-routine adjustments are taken as exact (their uncertainty is not modelled).

The ASHRAE Guideline 14-2014 Annex B figure (after Reddy & Claridge 2000) is reported beside it
(``uncertainty_g14_*``, ``fsu_g14_*``) for compliance:

    U_G14 = t · 1.26 · CV · sqrt( (n/n') · (1 + 2/n') / m ) · E_adjusted_baseline,  n' from ρ̂ itself

G14 whole-building compliance asks for FSU = U_G14 / savings < 50 % at 68 % confidence (``compliant``).
Its 1.26·(1 + 2/n') term treats the model's level error as independent from day to day, so over a year of
daily data the G14 interval is about 11 % too narrow: it held the true savings for 56–66 % of meters at a
stated 68 % (docs/mv.md §3), which is why it is not the headline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .adjustments import Adjustment
from .data import prepare
from .metrics import FSU_MAX, FSU_MAX_CONFIDENCE, effective_n, t_two_sided
from .model import BaselineModel, _f
from .warning import DISQUALIFYING, INFO, WARNING, MVWarning, iso

SCHEMA = "emc.mv.savings"
VERSION = 1
G14_FACTOR = 1.26
EXTRAPOLATION_MARGIN_C = 2.0


def savings_uncertainty(
    *, cvrmse: float, n: float, n_effective: float, m: float, p: float, adjusted_baseline: float, confidence: float
) -> float:
    """ASHRAE G14-2014 Annex B absolute savings uncertainty at ``confidence`` (see module docstring)."""
    if m <= 0 or not math.isfinite(cvrmse):
        return float("nan")
    t = t_two_sided(confidence, n_effective - p)
    return t * G14_FACTOR * cvrmse * math.sqrt((n / n_effective) * (1.0 + 2.0 / n_effective) / m) * adjusted_baseline


def fractional_savings_uncertainty(
    *, cvrmse: float, n: float, n_effective: float, m: float, p: float, savings_fraction: float, confidence: float
) -> float:
    """G14 FSU = t·1.26·CV·sqrt((n/n')(1 + 2/n')/m) / F, with F the savings fraction of the adjusted baseline."""
    if savings_fraction == 0:
        return float("inf")
    u = savings_uncertainty(cvrmse=cvrmse, n=n, n_effective=n_effective, m=m, p=p, adjusted_baseline=1.0,
                            confidence=confidence)
    return u / abs(savings_fraction)


def raised_autocorrelation(rho: float, n: float) -> float:
    """ρ⁺ = ρ̂ + sqrt((1 − ρ̂²)/n): the lag-1 autocorrelation raised by its standard error (see module docstring)."""
    if not (math.isfinite(rho) and n > 0):
        return float("nan")
    return rho + math.sqrt(max(1.0 - rho * rho, 0.0) / n)


def level_noise_uncertainty(
    *, cvrmse: float, n: float, n_effective: float, m: float, p: float, adjusted_baseline: float, confidence: float
) -> float:
    """U = t·CV·Ê·sqrt((n/n'')(1 + m/n)/m): the covariance form's two terms for a model without a stored
    covariance (hourly TOWT); ``n_effective`` is n'' from the raised autocorrelation."""
    if m <= 0 or not math.isfinite(cvrmse) or not n_effective > 0:
        return float("nan")
    t = t_two_sided(confidence, n_effective - p)
    return t * cvrmse * abs(adjusted_baseline) * math.sqrt((n / n_effective) * (1.0 + m / n) / m)


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
            rows.append({k: (iso(v) if isinstance(v, pd.Timestamp) else _f(v) if isinstance(v, float) else v)
                         for k, v in rec.items()})
        return {
            "schema": SCHEMA,
            "version": VERSION,
            "periods": rows,
            "total": {k: (_f(v) if isinstance(v, float) else v) for k, v in self.total.items()},
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
    gran = model.granularity
    period = period or ("bill" if gran == "billing" else "M")
    frame = prepare(reporting_data, gran, temperature=temperature, drivers=model.drivers, calendar=model.calendar,
                    never_reads_zero=model.baseline.get("zero_rows") == 0)
    warnings: list[MVWarning] = list(frame.warnings)
    routine = model.predict_frame(frame) if model.model_type != "none" else np.full(frame.n, np.nan)
    actual = frame.usage
    ok = np.isfinite(actual) & np.isfinite(routine)
    days = frame.days
    idx_local = frame.index.tz_localize(None) if frame.index.tz is not None else frame.index
    row_days = idx_local.normalize()
    row_dates = row_days.date

    # Model-change adjustments act on each row; amounts per day act on each row with data.
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
    adj_rows = routine * mult + per_day * days - routine  # non-routine part per row

    # Settlement periods.
    if period in ("bill", "row"):
        p_start, p_end = frame.index, frame.end
        if p_start.tz is not None:
            p_start, p_end = p_start.tz_localize(None), p_end.tz_localize(None)
        p_start, p_end = pd.DatetimeIndex(p_start), pd.DatetimeIndex(p_end)
    else:
        p_start, p_end = _period_keys(frame.index, period)
    span0 = row_days.min() if frame.n else None
    span1 = (frame.end.tz_localize(None) if frame.end.tz is not None else frame.end).max() if frame.n else None
    keys = pd.MultiIndex.from_arrays([p_start, p_end])
    df = pd.DataFrame({
        "key": np.arange(frame.n),
        "ok": ok,
        "days": days,
        "days_ok": np.where(ok, days, 0.0),
        "routine": np.where(ok, routine, 0.0),
        "non_routine": np.where(ok, adj_rows, 0.0),
        "actual": np.where(ok, actual, 0.0),
    }, index=keys)
    g = df.groupby(level=[0, 1], sort=True)
    agg = g[["days", "days_ok", "routine", "non_routine", "actual"]].sum()
    starts = agg.index.get_level_values(0)
    ends = agg.index.get_level_values(1)
    if period in ("bill", "row"):
        span_days = (ends - starts) / pd.Timedelta(days=1)
    else:
        clip0 = starts.where(starts > span0, span0)
        clip1 = ends.where(ends < span1, span1)
        span_days = (clip1 - clip0) / pd.Timedelta(days=1)
    coverage = agg["days_ok"].to_numpy() / np.asarray(span_days, dtype=float)

    # Period-level amounts.
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

    disq = model.disqualified or model.model_type == "none"
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

    # Uncertainty per period and in total: the headline (covariance form, or the level + scatter form for
    # TOWT) and G14 Annex B beside it (module docstring).
    mm = model.metrics
    n, n_eff, p, cv = mm.get("n", np.nan), mm.get("n_effective", np.nan), mm.get("p", np.nan), mm.get("cvrmse", np.nan)
    rho_up = raised_autocorrelation(mm.get("autocorr_lag1", np.nan), n)
    n_up = effective_n(int(n), rho_up) if math.isfinite(rho_up) and math.isfinite(n) else float("nan")
    unit_days = 1.0 / 24.0 if gran == "hourly" else (model.baseline.get("mean_days_per_row") or 1.0)
    m_p = agg["days_ok"].to_numpy() / unit_days

    def unc_g14(m: float, base: float, conf: float) -> float:
        if disq or not math.isfinite(n_eff) or m <= 0:
            return float("nan")
        return savings_uncertainty(cvrmse=cv, n=n, n_effective=n_eff, m=m, p=p, adjusted_baseline=base,
                                   confidence=conf)

    # Prediction variance (change-point models with a stored covariance): per period, and over all settled
    # periods (not the root sum of the periods: the coefficient error is shared by all of them).
    gid = agg.index.get_indexer(keys)
    par_p, noise_p = model.parameter_and_noise_variance(frame, ok, np.where(gid >= 0, gid, 0), len(agg))
    in_settled = ok & settled[gid]
    par_t, noise_t = model.parameter_and_noise_variance(frame, in_settled, np.zeros(frame.n, dtype=np.int64), 1)
    inflation = n / n_up if math.isfinite(n_up) and n_up > 0 else float("nan")

    def unc(var: float, m: float, base: float, conf: float) -> float:
        if disq or not math.isfinite(n_up) or m <= 0:
            return float("nan")
        if math.isfinite(var):
            return t_two_sided(conf, n_up - p) * math.sqrt(inflation * var)
        return level_noise_uncertainty(cvrmse=cv, n=n, n_effective=n_up, m=m, p=p, adjusted_baseline=base,
                                       confidence=conf)

    periods = pd.DataFrame({
        "period_start": starts,
        "period_end": ends,
        "days": np.asarray(span_days, dtype=float),
        "days_with_data": agg["days_ok"].to_numpy(),
        "coverage": coverage,
        "settled": settled,
        "routine_baseline": routine_p,
        "non_routine": nonroutine_p,
        "adjusted_baseline": adjusted,
        "actual": actual_p,
        "savings_raw": raw,
        "savings": booked,
        "cumulative_savings": cumulative,
    })
    with np.errstate(invalid="ignore", divide="ignore"):
        periods["savings_fraction"] = np.where(adjusted != 0, raw / adjusted, np.nan)
    for conf in confidence:
        tag = f"{round(conf * 100):d}"
        u = np.array([unc(a + b, m, e, conf) for a, b, m, e in zip(par_p, noise_p, m_p, adjusted, strict=True)])
        periods[f"uncertainty_{tag}"] = np.where(settled, u, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            periods[f"fsu_{tag}"] = np.where(settled & (raw != 0), u / np.abs(raw), np.nan)
        ug = np.array([unc_g14(m, e, conf) for m, e in zip(m_p, adjusted, strict=True)])
        periods[f"uncertainty_g14_{tag}"] = np.where(settled, ug, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            periods[f"fsu_g14_{tag}"] = np.where(settled & (raw != 0), ug / np.abs(raw), np.nan)

    # Totals over settled periods.
    s = settled
    tot_adj = float(adjusted[s].sum())
    tot_act = float(actual_p[s].sum())
    tot_raw = float(raw[s].sum())
    tot_booked = float(np.nansum(booked[s]))
    total: dict[str, Any] = {
        "periods": int(len(periods)),
        "periods_settled": int(s.sum()),
        "routine_baseline": float(routine_p[s].sum()),
        "non_routine": float(nonroutine_p[s].sum()),
        "adjusted_baseline": tot_adj,
        "actual": tot_act,
        "savings_raw": tot_raw,
        "savings": tot_booked,
        "savings_fraction": tot_raw / tot_adj if tot_adj else float("nan"),
        "m": float(m_p[s].sum()),
    }
    m_tot = float(m_p[s].sum())
    for conf in confidence:
        tag = f"{round(conf * 100):d}"
        u_tot = unc(float(par_t[0] + noise_t[0]), m_tot, tot_adj, conf) if s.any() else float("nan")
        total[f"uncertainty_{tag}"] = u_tot
        total[f"fsu_{tag}"] = u_tot / abs(tot_raw) if tot_raw else float("inf")
        total[f"t_{tag}"] = t_two_sided(conf, n_up - p) if math.isfinite(n_up) else float("nan")
        ug_tot = unc_g14(m_tot, tot_adj, conf) if s.any() else float("nan")
        total[f"uncertainty_g14_{tag}"] = ug_tot
        total[f"fsu_g14_{tag}"] = ug_tot / abs(tot_raw) if tot_raw else float("inf")
    total["autocorr_lag1_raised"] = rho_up
    total["n_effective_raised"] = n_up
    fsu68 = savings_uncertainty(cvrmse=cv, n=n, n_effective=n_eff, m=m_tot, p=p, adjusted_baseline=tot_adj,
                                confidence=FSU_MAX_CONFIDENCE) / abs(tot_raw) if (
        tot_raw and not disq and m_tot > 0) else float("inf")
    total["fsu_68_limit"] = FSU_MAX
    # The G14 compliance test is G14's own: its Annex B FSU at 68 %.
    total["compliant"] = bool(model.accepted and fsu68 < FSU_MAX and s.any())

    # Findings.
    if disq:
        warnings.append(MVWarning("baseline_disqualified", "the baseline is disqualified: no period is settled",
                                  DISQUALIFYING))
    elif not model.gates.get("passed"):
        warnings.append(MVWarning("baseline_fails_g14", "the baseline model fails the ASHRAE G14 acceptance gates "
                                  f"({model.gates.get('cvrmse', float('nan')):.1%} CV(RMSE))", WARNING))
    for i in np.flatnonzero(~settled & ~np.bool_(disq)):
        warnings.append(MVWarning(
            "period_not_settled",
            f"{coverage[i]:.0%} of the period has data (< {min_coverage:.0%}): not settled",
            WARNING, iso(starts[i]), iso(ends[i]), float(coverage[i])))
        if per_amount[i]:
            warnings.append(MVWarning("adjustment_in_unsettled_period", "a non-routine adjustment falls in a period "
                                      "that is not settled", WARNING, iso(starts[i]), iso(ends[i]),
                                      float(per_amount[i])))
    if no_loss_no_gain:
        for i in np.flatnonzero(settled & (raw < 0)):
            warnings.append(MVWarning("no_loss_no_gain", "negative savings booked as zero (no loss / no gain)", INFO,
                                      iso(starts[i]), iso(ends[i]), float(raw[i])))
    if s.any() and not disq and not fsu68 < FSU_MAX:
        warnings.append(MVWarning(
            "savings_uncertainty_high",
            f"fractional savings uncertainty {fsu68:.0%} at 68 % confidence (G14 Annex B) is not below the G14 "
            "limit of "
            f"{FSU_MAX:.0%}: the savings are not distinguishable from model error", WARNING, value=fsu68))
    lo, hi = model.baseline.get("temperature_min"), model.baseline.get("temperature_max")
    tt = frame.day_temp[np.isfinite(frame.day_temp)]
    if lo is not None and hi is not None and tt.size:
        out = (tt < lo - EXTRAPOLATION_MARGIN_C) | (tt > hi + EXTRAPOLATION_MARGIN_C)
        if out.any():
            warnings.append(MVWarning(
                "temperature_outside_baseline",
                f"{int(out.sum())} reporting temperatures lie more than {EXTRAPOLATION_MARGIN_C:g} °C outside the "
                f"baseline range {lo:.1f}–{hi:.1f} °C: the model extrapolates", WARNING, value=float(out.sum())))
    settings = {
        "period": period,
        "confidence": list(confidence),
        "no_loss_no_gain": no_loss_no_gain,
        "min_coverage": min_coverage,
        "uncertainty_method": ("headline: prediction variance with the lag-1 autocorrelation raised by its standard "
                               "error (TOWT: level + scatter form); beside it ASHRAE G14-2014 Annex B FSU "
                               "(uncertainty_g14_*), which decides G14 compliance"),
    }
    return SavingsResult(periods, total, warnings, settings, list(adjustments))
