""":class:`BaselineModel`: a fitted baseline that predicts, reports its uncertainty terms, and is stored exactly.

A model is built by :func:`emc.mv.fit.fit_baseline` (change-point segments of :mod:`emc.mv.changepoint`, or the
hourly TOWT model of :mod:`emc.mv.towt`). It carries its metrics (:mod:`emc.mv.metrics`), its ASHRAE G14
gates, the selection report and its warnings (sufficiency, gates, calendar) as plain data, and serialises to
a versioned dict from which the same predictions are reproduced bit for bit (:func:`emc.mv.changepoint.dot_fixed`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import changepoint as cp
from . import towt
from .calendar import calendar_version
from .data import Frame, MVInputError, prepare
from .warning import MVWarning

SCHEMA = "emc.mv.baseline"
VERSION = 1
SUPPORTED_VERSIONS = (1,)


def json_float(x: Any) -> Any:
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
            return towt.predict(_towt_from_dict(self.towt), time_of_week_of(frame, self.calendar), frame.temp)
        drivers = dict(frame.drivers)
        if driver_values:
            drivers.update(driver_values)
        rate = np.full(frame.n, np.nan)
        for seg in self.segments:
            F = np.column_stack([fixed_column(name, frame, drivers) for name in seg["fixed"]])
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
            F = np.column_stack([fixed_column(name, frame, frame.drivers) for name in seg["fixed"]])
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
            "metrics": {k: json_float(v) for k, v in self.metrics.items()},
            "gates": {k: (json_float(v) if isinstance(v, float) else v) for k, v in self.gates.items()},
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


def fixed_column(name: str, frame: Frame, drivers: dict[str, np.ndarray]) -> np.ndarray:
    """A fixed (non-weather) column of the design matrix: the intercept, the working-day share, or a driver."""
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


def time_of_week_of(frame: Frame, calendar: str) -> np.ndarray:
    """The frame's hour-of-week indices on ``calendar`` (cached on the frame), for the TOWT model."""
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
