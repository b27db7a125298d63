"""``fit_baseline``: fit a baseline to its data and return a :class:`~emc.mv.model.BaselineModel`.

Granularities and models:

* ``billing`` (monthly / bimonthly bills of uneven length) and ``daily``: the change-point family of
  :mod:`emc.mv.changepoint` (mean, 2P, 3PH, 3PC, 4P, 5P; balance points searched) in the structures of
  :mod:`emc.mv.structures` (pooled, pooled + working days, split by day type), plus any user drivers (energy
  users, floor area, operating hours …) as extra columns. The winner is chosen by :mod:`emc.mv.selection`
  (BIC, simpler model within ΔBIC ≤ 2).
* ``hourly``: time-of-week-and-temperature (:mod:`emc.mv.towt`, Mathieu et al. 2011).

Every model carries its metrics and G14 gates (ASHRAE Guideline 14-2014, :mod:`emc.mv.metrics`), the selection
report and its warnings (sufficiency per CalTRACK 2.0, gates, calendar) as plain data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import changepoint as cp
from . import metrics as mt
from . import sufficiency, towt
from .data import Frame, MVInputError, prepare
from .model import BaselineModel, json_float, time_of_week_of
from .selection import DELTA_BIC
from .structures import choose_structure, chosen_segments
from .warning import DISQUALIFYING, INFO, WARNING, MVWarning, iso


def fit_baseline(
    data: pd.DataFrame,
    *,
    granularity: str,
    temperature: pd.Series | None = None,
    drivers: Sequence[str] = (),
    calendar: str = "cn",
    workday: str | bool = "auto",
    forms: Sequence[str] = cp.FORMS,
    min_days: int = 365,
    min_coverage: float = 0.90,
    month_min_coverage: float = 0.50,
) -> BaselineModel:
    """Fit a baseline model to ``data`` and select among candidates by BIC (see :mod:`emc.mv.selection`).

    ``data``: indexed by timestamp, columns ``usage`` and ``temperature`` (°C) — for ``granularity="billing"``
    one row per bill with ``end`` and daily temperatures passed as ``temperature=`` (see :mod:`emc.mv.data`).
    ``drivers``: extra numeric columns (energy users, floor area …) used as linear terms; a driver constant
    over the baseline cannot be estimated and is dropped with a warning (use a non-routine adjustment).
    ``workday``: ``"auto"`` tries models with and without the working-day driver (and, for daily data, the
    split by day type) and lets the criterion decide; ``True``/``False`` force it in or out.
    ``calendar``: ``"cn"`` official Chinese working days (``chinese_calendar``), ``"weekday"`` Monday–Friday.
    Sufficiency problems never raise: they are warnings, and a disqualified baseline says so
    (:attr:`BaselineModel.disqualified`).
    """
    frame = prepare(data, granularity, temperature=temperature, drivers=drivers, calendar=calendar)
    warnings = list(frame.warnings)
    warnings.extend(
        sufficiency.check(frame, min_days=min_days, min_coverage=min_coverage, month_min_coverage=month_min_coverage)
    )
    valid = frame.valid
    if valid.sum() < 3:
        warnings.append(MVWarning("no_usable_rows", "fewer than 3 usable rows: no model fitted", DISQUALIFYING))
        return _empty_model(frame, drivers, calendar, warnings)
    used_drivers = []
    for name in drivers:
        col = frame.drivers[name][valid]
        if not np.all(np.isfinite(col)):
            raise MVInputError(f"driver {name!r} has missing values in usable baseline rows")
        if np.ptp(col) == 0:
            warnings.append(
                MVWarning(
                    "driver_constant",
                    f"driver {name!r} does not vary over the baseline, so its effect cannot be estimated; it was "
                    "left out — a later change must enter as a non-routine adjustment",
                    WARNING,
                    value=float(col[0]),
                )
            )
        else:
            used_drivers.append(name)
    if granularity == "hourly":
        return _fit_towt(frame, used_drivers, calendar, warnings)
    return _fit_cp(frame, used_drivers, calendar, warnings, workday, list(forms))


def _empty_model(frame: Frame, drivers: Sequence[str], calendar: str, warnings: list[MVWarning]) -> BaselineModel:
    return BaselineModel(
        granularity=frame.granularity, model_type="none", segments=[], towt=None, drivers=list(drivers),
        calendar=calendar, metrics={}, gates={"passed": False}, selection={"reason": "no data"},
        warnings=warnings, baseline=_baseline_summary(frame),
    )


def _baseline_summary(frame: Frame) -> dict[str, Any]:
    valid = frame.valid
    return {
        "start": iso(frame.index[0]) if frame.n else None,
        "end": iso(frame.end.max()) if frame.n else None,
        "rows": int(frame.n),
        "rows_used": int(valid.sum()),
        "days_used": float(frame.days[valid].sum()),
        "usage_used": float(np.nansum(frame.usage[valid])),
        # zero readings kept as data (a stuck meter's runs were made missing): 0 means the meter never reads
        # zero, and the reporting period is judged with that (emc.mv.data._stuck_as_missing)
        "zero_rows": int(np.sum(frame.usage[valid] == 0)),
        "mean_days_per_row": float(frame.days[valid].mean()) if valid.any() else None,
        "temperature_min": json_float(np.nanmin(frame.day_temp)) if np.isfinite(frame.day_temp).any() else None,
        "temperature_max": json_float(np.nanmax(frame.day_temp)) if np.isfinite(frame.day_temp).any() else None,
    }


def _fit_cp(
    frame: Frame, drivers: list[str], calendar: str, warnings: list[MVWarning], workday: str | bool,
    forms: list[str],
) -> BaselineModel:
    chosen, reason, candidates = choose_structure(frame, drivers, workday, forms)
    if chosen is None:
        warnings.append(MVWarning("no_qualifying_model", "no candidate model qualified", DISQUALIFYING))
        return _empty_model(frame, drivers, calendar, warnings)
    model = BaselineModel(
        granularity=frame.granularity,
        model_type=chosen.name,
        segments=chosen_segments(chosen, drivers),
        towt=None,
        drivers=list(drivers),
        calendar=calendar,
        metrics={},
        gates={},
        selection={
            "criterion": f"BIC = n·ln(SSE/Σw) + p·ln(n); simpler model preferred within ΔBIC ≤ {DELTA_BIC:g}",
            "reason": reason,
            "chosen": chosen.name,
            "candidates": [c.row() for c in candidates],
        },
        warnings=warnings,
        baseline=_baseline_summary(frame),
    )
    _finish(model, frame, chosen.p)
    return model


def _fit_towt(frame: Frame, drivers: list[str], calendar: str, warnings: list[MVWarning]) -> BaselineModel:
    if drivers:
        warnings.append(MVWarning("drivers_ignored", "the hourly TOWT model takes no extra drivers; ignored", INFO))
    valid = frame.valid
    tow = time_of_week_of(frame, calendar)
    fit = towt.fit(tow[valid], frame.temp[valid], frame.usage[valid])
    warnings.extend(fit.warnings)
    model = BaselineModel(
        granularity="hourly",
        model_type="TOWT",
        segments=[],
        towt={
            "knots": [float(k) for k in fit.knots],
            "alpha": [float(a) for a in fit.alpha],
            "occupied": [bool(o) for o in fit.occupied],
            "beta_occupied": [float(b) for b in fit.beta_occ],
            "beta_unoccupied": [float(b) for b in fit.beta_unocc],
            "n_params": fit.n_params,
        },
        drivers=[],
        calendar=calendar,
        metrics={},
        gates={},
        selection={
            "criterion": "hourly data: time-of-week-and-temperature (Mathieu et al. 2011)",
            "reason": "TOWT is the hourly model; occupied hours of the week: "
            f"{int(fit.occupied.sum())} of 168",
            "chosen": "TOWT",
            "candidates": [{"name": "TOWT", "p": fit.n_params, "qualified": True}],
        },
        warnings=warnings,
        baseline=_baseline_summary(frame),
    )
    _finish(model, frame, fit.n_params)
    return model


def _finish(model: BaselineModel, frame: Frame, p: int) -> None:
    """Metrics, gates and gate warnings from the model's own predictions on its baseline."""
    valid = frame.valid
    pred = model.predict_frame(frame)
    if frame.granularity == "hourly":
        y, yhat, w = frame.usage[valid], pred[valid], None
    else:
        y, yhat = frame.rate[valid], pred[valid] / frame.days[valid]
        w = frame.days[valid] if frame.granularity == "billing" else None
    pos = np.flatnonzero(valid)
    consecutive = np.concatenate([[False], (np.diff(pos) == 1) & frame.consecutive[pos[1:]]])
    m = mt.fit_metrics(y, yhat, p=p, weights=w, consecutive=consecutive)
    model.metrics = m
    model.gates = mt.gates(m, frame.granularity)
    g = model.gates
    if not g["cvrmse_pass"]:
        model.warnings.append(
            MVWarning("g14_cvrmse", f"CV(RMSE) {m['cvrmse']:.1%} exceeds the G14 limit {g['cvrmse_max']:.0%} for "
                      f"{frame.granularity} data", WARNING, value=m["cvrmse"],
                      detail={"limit": g["cvrmse_max"], "granularity": frame.granularity})
        )
    if not g["nmbe_pass"]:
        model.warnings.append(
            MVWarning("g14_nmbe", f"NMBE {m['nmbe']:.2%} exceeds the G14 limit ±{g['nmbe_abs_max']:.0%}", WARNING,
                      value=m["nmbe"], detail={"limit": g["nmbe_abs_max"]})
        )
    if math.isfinite(m["r2"]) and m["r2"] < mt.R2_INDICATIVE_MIN:
        model.warnings.append(
            MVWarning("low_r2", f"R² {m['r2']:.2f} is below the indicative {mt.R2_INDICATIVE_MIN}; judge by CV(RMSE) "
                      "and NMBE (a weather-independent load can be modelled well with a low R²)", INFO,
                      value=m["r2"], detail={"limit": mt.R2_INDICATIVE_MIN})
        )
