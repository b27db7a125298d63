"""``fit_baseline`` and :class:`BaselineModel`: fit, select, predict, and store a baseline exactly.

Granularities and models:

* ``billing`` (monthly / bimonthly bills of uneven length) and ``daily``: the change-point family of
  :mod:`emc.mv.changepoint` (mean, 2P, 3PH, 3PC, 4P, 5P; balance points searched), as *structures*:
  - pooled: one model for all days;
  - pooled + working days: the share of working days (Chinese official calendar) as an extra column;
  - split by day type (daily data only): separate models for working and non-working days, each chosen by
    the criterion, like eemeter's weekday/weekend split but on the Chinese calendar;
  plus any user drivers (energy users, floor area, operating hours …) as extra columns in every structure.
  The winner is chosen by :mod:`emc.mv.selection` (BIC, simpler model within ΔBIC ≤ 2).
* ``hourly``: time-of-week-and-temperature (:mod:`emc.mv.towt`).

Every model carries its metrics (:mod:`emc.mv.metrics`), its G14 gates, the selection report and its
warnings (sufficiency, gates, calendar) as plain data, and serialises to a versioned dict from which the
same predictions are reproduced bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import changepoint as cp
from . import metrics as mt
from . import sufficiency, towt
from .balance_points import refine
from .calendar import calendar_version
from .data import Frame, MVInputError, prepare
from .selection import DELTA_BIC, Candidate, bic, select
from .warning import DISQUALIFYING, INFO, WARNING, MVWarning, iso

SCHEMA = "emc.mv.baseline"
VERSION = 1
SUPPORTED_VERSIONS = (1,)
MIN_SPLIT_ROWS = 30  # fewest days in a day-type segment before a split model is tried


def _f(x: Any) -> Any:
    """JSON-safe float (NaN and infinities become None)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _unf(x: Any) -> float:
    return float("nan") if x is None else float(x)


@dataclass
class BaselineModel:
    """A fitted baseline. Build with :func:`fit_baseline`; store with :meth:`to_dict`, restore with :meth:`from_dict`.

    ``metrics`` holds n, p, cvrmse, nmbe, r2, adj_r2, autocorr_lag1, n_effective (G14 definitions);
    ``gates`` the G14 acceptance result; ``selection`` the criterion, reason and candidate table;
    ``warnings`` every finding as :class:`~emc.mv.warning.MVWarning`.
    """

    granularity: str
    model_type: str
    segments: list[dict[str, Any]]
    towt: dict[str, Any] | None
    drivers: list[str]
    calendar: str
    metrics: dict[str, float]
    gates: dict[str, Any]
    selection: dict[str, Any]
    warnings: list[MVWarning]
    baseline: dict[str, Any]
    calendar_version: str = field(default_factory=calendar_version)

    # -- status ---------------------------------------------------------------------------------
    @property
    def disqualified(self) -> bool:
        """True when sufficiency or fitting found the baseline unusable for settlement."""
        return any(w.disqualifying for w in self.warnings)

    @property
    def accepted(self) -> bool:
        """Qualified and within the G14 acceptance gates."""
        return not self.disqualified and bool(self.gates.get("passed"))

    # -- prediction -----------------------------------------------------------------------------
    def predict(self, data: pd.DataFrame, *, temperature: pd.Series | None = None) -> pd.Series:
        """Predicted usage for each row of ``data`` (same shape rules as :func:`fit_baseline`).

        Daily/hourly: usage of each day/hour; billing: usage of each bill (usage/day × days). Rows without
        temperature get NaN.
        """
        frame = prepare(
            data, self.granularity, temperature=temperature, drivers=self.drivers, calendar=self.calendar,
            need_usage=False,
        )
        pred = pd.Series(self.predict_frame(frame), index=frame.index, name="predicted")
        if len(pred) != len(data) or not pred.index.equals(data.index):
            pred = pred.reindex(pd.DatetimeIndex(data.index) if not isinstance(data.index, pd.DatetimeIndex)
                                else data.index)
        return pred

    def predict_frame(self, frame: Frame, driver_values: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """Predicted usage per row of a prepared frame; ``driver_values`` overrides driver columns."""
        if self.towt is not None:
            return towt.predict(_towt_from_dict(self.towt), _tow(frame, self.calendar), frame.temp)
        drivers = dict(frame.drivers)
        if driver_values:
            drivers.update(driver_values)
        rate = np.full(frame.n, np.nan)
        for seg in self.segments:
            F = np.column_stack([_fixed_column(name, frame, drivers) for name in seg["fixed"]])
            X = cp.features(frame.day_temp, frame.agg, F, frame.temp, seg["form"],
                            seg["heating_balance_point"], seg["cooling_balance_point"])
            r = cp.dot_fixed(X, np.asarray(seg["coefficients"], dtype=float))
            mask = _segment_mask(seg["applies_to"], frame)
            rate[mask] = r[mask]
        return rate * frame.days if frame.granularity != "hourly" else rate

    def parameter_and_noise_variance(self, frame: Frame, rows: np.ndarray, groups: np.ndarray, n_groups: int
                                     ) -> tuple[np.ndarray, np.ndarray]:
        """Per group of reporting rows: variance of the summed prediction from the coefficient covariance,
        s'·Cov(β)·s with s = Σ days·x, and the residual (noise) variance σ²·Σ days (change-point models).

        Not inflated for autocorrelation here: :func:`emc.mv.savings.savings` applies n/n'. NaN for TOWT,
        whose covariance is not stored.
        """
        if self.towt is not None or not self.segments:
            nan = np.full(n_groups, np.nan)
            return nan, nan
        par = np.zeros(n_groups)
        noise = np.zeros(n_groups)
        for seg in self.segments:
            cov = seg.get("covariance")
            if cov is None:
                return np.full(n_groups, np.nan), np.full(n_groups, np.nan)
            F = np.column_stack([_fixed_column(name, frame, frame.drivers) for name in seg["fixed"]])
            X = cp.features(frame.day_temp, frame.agg, F, frame.temp, seg["form"],
                            seg["heating_balance_point"], seg["cooling_balance_point"])
            sel = rows & _segment_mask(seg["applies_to"], frame)
            g = groups[sel]
            Xd = X[sel] * frame.days[sel, None]
            S = np.zeros((n_groups, X.shape[1]))
            np.add.at(S, g, Xd)
            par += np.einsum("gi,ij,gj->g", S, np.asarray(cov, dtype=float), S)
            noise += float(seg.get("residual_variance", np.nan)) * np.bincount(g, weights=frame.days[sel],
                                                                                 minlength=n_groups)
        return par, noise

    # -- storage --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able, versioned dict that :meth:`from_dict` turns back into an identical model."""
        return {
            "schema": SCHEMA,
            "version": VERSION,
            "granularity": self.granularity,
            "model_type": self.model_type,
            "calendar": self.calendar,
            "calendar_version": self.calendar_version,
            "drivers": list(self.drivers),
            "segments": [_seg_to_dict(s) for s in self.segments],
            "towt": self.towt,
            "metrics": {k: _f(v) for k, v in self.metrics.items()},
            "gates": {k: (_f(v) if isinstance(v, float) else v) for k, v in self.gates.items()},
            "selection": self.selection,
            "warnings": [w.to_dict() for w in self.warnings],
            "baseline": self.baseline,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BaselineModel:
        if d.get("schema") != SCHEMA:
            raise ValueError(f"not a stored baseline (schema {d.get('schema')!r})")
        if d.get("version") not in SUPPORTED_VERSIONS:
            raise ValueError(f"stored baseline version {d.get('version')!r} is not supported {SUPPORTED_VERSIONS}")
        return cls(
            granularity=d["granularity"],
            model_type=d["model_type"],
            segments=[_seg_from_dict(s) for s in d["segments"]],
            towt=d.get("towt"),
            drivers=list(d["drivers"]),
            calendar=d["calendar"],
            metrics={k: _unf(v) for k, v in d["metrics"].items()},
            gates={k: (_unf(v) if k in ("cvrmse", "nmbe", "r2") else v) for k, v in d["gates"].items()},
            selection=d["selection"],
            warnings=[MVWarning.from_dict(w) for w in d["warnings"]],
            baseline=d["baseline"],
            calendar_version=d.get("calendar_version", ""),
        )


def _seg_to_dict(s: dict[str, Any]) -> dict[str, Any]:
    out = dict(s)
    out["coefficients"] = [float(x) for x in s["coefficients"]]
    out["covariance"] = None if s.get("covariance") is None else [[float(x) for x in row] for row in s["covariance"]]
    return out


def _seg_from_dict(s: dict[str, Any]) -> dict[str, Any]:
    out = dict(s)
    out["coefficients"] = [float(x) for x in s["coefficients"]]
    return out


def _fixed_column(name: str, frame: Frame, drivers: dict[str, np.ndarray]) -> np.ndarray:
    if name == "intercept":
        return np.ones(frame.n)
    if name == "workday":
        return frame.workday
    if name not in drivers:
        raise MVInputError(f"the model needs driver column {name!r}")
    return drivers[name]


def _segment_mask(applies_to: str, frame: Frame) -> np.ndarray:
    if applies_to == "all":
        return np.ones(frame.n, dtype=bool)
    if applies_to == "workday":
        return frame.workday >= 0.5
    if applies_to == "non_workday":
        return frame.workday < 0.5
    raise ValueError(f"unknown segment {applies_to!r}")


def _tow(frame: Frame, calendar: str) -> np.ndarray:
    key = ("tow", calendar)
    if key not in frame.cache:
        frame.cache[key] = towt.time_of_week(frame.index, calendar)[0]
    return frame.cache[key]


def _towt_from_dict(d: dict[str, Any]) -> towt.TOWTFit:
    return towt.TOWTFit(
        knots=[float(k) for k in d["knots"]],
        alpha=np.asarray(d["alpha"], dtype=float),
        occupied=np.asarray(d["occupied"], dtype=bool),
        beta_occ=np.asarray(d["beta_occupied"], dtype=float),
        beta_unocc=np.asarray(d["beta_unoccupied"], dtype=float),
        n_params=int(d["n_params"]),
        warnings=[],
    )


# -- fitting ----------------------------------------------------------------------------------------
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
        "temperature_min": _f(np.nanmin(frame.day_temp)) if np.isfinite(frame.day_temp).any() else None,
        "temperature_max": _f(np.nanmax(frame.day_temp)) if np.isfinite(frame.day_temp).any() else None,
    }


def _cpdata(frame: Frame, rows: np.ndarray, fixed: list[str]) -> cp.CPData:
    y = frame.rate[rows]
    w = frame.days[rows] if frame.granularity == "billing" else np.ones(int(rows.sum()))
    F = np.column_stack([_fixed_column(name, frame, frame.drivers)[rows] for name in fixed])
    if frame.granularity == "billing":
        day_temp = frame.day_temp

        def agg(m: np.ndarray) -> np.ndarray:
            return frame.agg(m)[rows]

        min_rows = 3
    else:
        day_temp = frame.temp[rows]

        def agg(m: np.ndarray) -> np.ndarray:
            return m

        min_rows = 10
    return cp.CPData(y, w, F, list(fixed), day_temp, agg, frame.temp[rows], min_rows)


def _fit_forms(d: cp.CPData, forms: list[str]) -> list[cp.CPFit]:
    return cp.fit_forms(d, forms)


def _sst(d: cp.CPData) -> float:
    ybar = float(d.w @ d.y / d.w.sum())
    return float(d.w @ (d.y - ybar) ** 2)


def _sse_floor(y: np.ndarray, w: np.ndarray) -> float:
    """Round-off level of an SSE computed from normal equations (1e-10 of Σw·y²): below it a fit is exact, so
    noise-free fits tie and the criterion decides on the number of parameters alone."""
    return 1e-10 * float(w @ (y * y))


def _candidates(fits: list[cp.CPFit], d: cp.CPData, suffix: str, n: int, sum_w: float) -> list[Candidate]:
    sst = _sst(d)
    floor = _sse_floor(d.y, d.w)
    out = []
    for f in fits:
        name = f.form + suffix
        if not f.qualified:
            out.append(Candidate(name, f.p, math.inf, math.inf, math.nan, False, f.rejection, f))
            continue
        adj = 1 - (f.sse / sst) * (n - 1) / (n - f.p) if sst > 0 and n > f.p else math.nan
        out.append(Candidate(name, f.p, f.sse, bic(max(f.sse, floor), sum_w, n, f.p), adj, True, "", f))
    return out


#: Bills per fitted parameter (coefficients and balance points): a billing model may use at most one parameter
#: per three bills. A year of 12 monthly bills allows 4 (up to 3PH/3PC + working days, or 4P); 6 bimonthly
#: bills allow 2 (mean or 2P); 5 bills only the mean. Without it the criterion happily fits five parameters
#: to six bills — one residual degree of freedom, a CV(RMSE) near zero and a stated uncertainty that means
#: nothing. The rule of thumb is the regression one (Harrell, Regression Modeling Strategies, 2nd ed. §4.4:
#: far fewer parameters than observations); CalTRACK 2.0 §3.4 reaches the same end by allowing only
#: intercept, HDD and CDD terms on bills.
BILLS_PER_PARAMETER = 3


def _apply_parameter_budget(candidates: list[Candidate], n: int) -> None:
    budget = n // BILLS_PER_PARAMETER
    for c in candidates:
        if c.qualified and c.p > budget:
            c.qualified = False
            c.rejection = (f"{c.p} parameters exceed the budget of {budget} for {n} bills (at most one parameter "
                           f"per {BILLS_PER_PARAMETER} bills)")


def _split_candidate(frame: Frame, parts: list[tuple[cp.CPData, list[cp.CPFit]]], n: int, sum_w: float
                     ) -> Candidate | None:
    """Separate models for working and non-working days, each chosen by the criterion within its days."""
    if not parts:
        return None
    best_parts = []
    for d, fits in parts:
        nn = d.y.size
        best = select(_candidates(fits, d, "", nn, float(nn)))[0]
        if best is None:
            return None
        best.payload = cp.finalize(best.payload)
        best.sse = best.payload.sse
        best_parts.append(best)
    pw, po = best_parts
    valid = frame.valid
    sse = pw.sse + po.sse
    floor = _sse_floor(frame.rate[valid], np.ones(n))
    p = pw.p + po.p
    sst = _sst(_cpdata(frame, valid, ["intercept"]))
    adj = 1 - (sse / sst) * (n - 1) / (n - p) if sst > 0 and n > p else math.nan
    return Candidate(f"split by day type: workday {pw.name} | non-workday {po.name}", p, sse,
                     bic(max(sse, floor), sum_w, n, p), adj, True, "", (pw.payload, po.payload))


def _segment(f: cp.CPFit, applies_to: str, fixed: list[str]) -> dict[str, Any]:
    return {
        "applies_to": applies_to,
        "form": f.form,
        "fixed": list(fixed),
        "columns": list(f.columns),
        "coefficients": [float(x) for x in f.beta],
        "heating_balance_point": None if f.heating_bp is None else float(f.heating_bp),
        "cooling_balance_point": None if f.cooling_bp is None else float(f.cooling_bp),
        "covariance": None if f.cov is None else f.cov.tolist(),
        "residual_variance": float(f.extra.get("residual_variance", float("nan"))),
    }


def _fit_cp(
    frame: Frame, drivers: list[str], calendar: str, warnings: list[MVWarning], workday: str | bool,
    forms: list[str],
) -> BaselineModel:
    valid = frame.valid
    n = int(valid.sum())
    base_fixed = ["intercept", *drivers]
    structures: list[tuple[str, list[str]]] = []
    work_varies = np.ptp(frame.workday[valid]) > 0
    if workday in ("auto", False) or not work_varies:
        structures.append(("", base_fixed))
    if workday in ("auto", True) and work_varies:
        structures.append((" + workday", ["intercept", "workday", *drivers]))
    sum_w = float((frame.days[valid] if frame.granularity == "billing" else np.ones(n)).sum())
    # Each structure's candidates, from the balance-point grid; the chosen structure's are then solved exactly.
    pooled: dict[str, tuple[cp.CPData, list[cp.CPFit]]] = {}
    for suffix, fixed in structures:
        d = _cpdata(frame, valid, fixed)
        pooled[suffix] = (d, _fit_forms(d, forms))
    split_parts: list[tuple[cp.CPData, list[cp.CPFit]]] = []
    if frame.granularity == "daily" and workday in ("auto", True) and work_varies:
        w_rows = valid & (frame.workday >= 0.5)
        o_rows = valid & (frame.workday < 0.5)
        if w_rows.sum() >= MIN_SPLIT_ROWS and o_rows.sum() >= MIN_SPLIT_ROWS:
            for rows in (w_rows, o_rows):
                d = _cpdata(frame, rows, base_fixed)
                split_parts.append((d, _fit_forms(d, forms)))

    cache: dict[str, list[Candidate]] = {}

    def all_candidates() -> list[Candidate]:
        out: list[Candidate] = []
        for suffix, (d, fits) in pooled.items():
            if suffix not in cache:
                cache[suffix] = _candidates(fits, d, suffix, n, sum_w)
            out += cache[suffix]
        if "split" not in cache:
            split = _split_candidate(frame, split_parts, n, sum_w)
            cache["split"] = [split] if split is not None else []
        out += cache["split"]
        if frame.granularity == "billing":
            _apply_parameter_budget(out, n)
        return out

    candidates = all_candidates()
    chosen, reason = select(candidates)
    if chosen is not None:
        # Continuous balance points (changepoint.refine) for the structure the grid chose, then the criterion again.
        if isinstance(chosen.payload, tuple):
            split_parts = [(d, refine(fits)) for d, fits in split_parts]
            del cache["split"]
        else:
            suffix = " + workday" if chosen.name.endswith(" + workday") else ""
            d, fits = pooled[suffix]
            pooled[suffix] = (d, refine(fits))
            del cache[suffix]
        candidates = all_candidates()
        chosen, reason = select(candidates)
    if chosen is None:
        warnings.append(MVWarning("no_qualifying_model", "no candidate model qualified", DISQUALIFYING))
        return _empty_model(frame, drivers, calendar, warnings)
    if not isinstance(chosen.payload, tuple):
        chosen.payload = cp.finalize(chosen.payload)
    if isinstance(chosen.payload, tuple):
        segments = [_segment(chosen.payload[0], "workday", base_fixed),
                    _segment(chosen.payload[1], "non_workday", base_fixed)]
    else:
        fixed = ["intercept", "workday", *drivers] if chosen.name.endswith(" + workday") else base_fixed
        segments = [_segment(chosen.payload, "all", fixed)]
    model = BaselineModel(
        granularity=frame.granularity,
        model_type=chosen.name,
        segments=segments,
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
    tow = _tow(frame, calendar)
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
                      f"{frame.granularity} data", WARNING, value=m["cvrmse"])
        )
    if not g["nmbe_pass"]:
        model.warnings.append(
            MVWarning("g14_nmbe", f"NMBE {m['nmbe']:.2%} exceeds the G14 limit ±{g['nmbe_abs_max']:.0%}", WARNING,
                      value=m["nmbe"])
        )
    if math.isfinite(m["r2"]) and m["r2"] < mt.R2_INDICATIVE_MIN:
        model.warnings.append(
            MVWarning("low_r2", f"R² {m['r2']:.2f} is below the indicative {mt.R2_INDICATIVE_MIN}; judge by CV(RMSE) "
                      "and NMBE (a weather-independent load can be modelled well with a low R²)", INFO,
                      value=m["r2"])
        )
