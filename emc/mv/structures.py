"""Change-point baseline structures and the choice among them (billing and daily data).

The structures tried for one baseline:

* pooled: one model for all days;
* pooled + working days: the share of working days (Chinese official calendar) as an extra column;
* split by day type (daily data only): separate models for working and non-working days, each chosen by the
  criterion, like eemeter's weekday/weekend split but on the Chinese calendar;

each with the change-point forms of :mod:`emc.mv.changepoint` and any user drivers as extra columns. Every
structure's candidates are ranked on the balance-point grid, the chosen structure's balance points are then
solved exactly (:mod:`emc.mv.balance_points`) and the criterion applied again (:mod:`emc.mv.selection`: BIC,
simpler model within ΔBIC ≤ 2). Billing models are held to a parameter budget (``BILLS_PER_PARAMETER``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import changepoint as cp
from .balance_points import refine
from .data import Frame
from .model import fixed_column
from .selection import Candidate, bic, select

MIN_SPLIT_ROWS = 30  # fewest days in a day-type segment before a split model is tried
WORKDAY = " + workday"  # name suffix of the pooled structure with the working-day share

Parts = list[tuple[cp.CPData, list[cp.CPFit]]]


def _cpdata(frame: Frame, rows: np.ndarray, fixed: list[str]) -> cp.CPData:
    """``rows`` as change-point data: usage per day, weights (days per bill for billing data, CalTRACK 2.0) and
    degree-days as each row's mean over its days."""
    y = frame.rate[rows]
    w = frame.days[rows] if frame.granularity == "billing" else np.ones(int(rows.sum()))
    F = np.column_stack([fixed_column(name, frame, frame.drivers)[rows] for name in fixed])
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


class _Structures:
    """The structures tried for one baseline, their fitted forms, and their candidates (cached per structure
    until its balance points are refined)."""

    def __init__(self, frame: Frame, drivers: list[str], workday: str | bool, forms: list[str]) -> None:
        valid = frame.valid
        self.frame = frame
        self.n = n = int(valid.sum())
        self.base_fixed = ["intercept", *drivers]
        self.workday_fixed = ["intercept", "workday", *drivers]
        work_varies = bool(np.ptp(frame.workday[valid]) > 0)
        structures: list[tuple[str, list[str]]] = []
        if workday in ("auto", False) or not work_varies:
            structures.append(("", self.base_fixed))
        if workday in ("auto", True) and work_varies:
            structures.append((WORKDAY, self.workday_fixed))
        self.sum_w = float((frame.days[valid] if frame.granularity == "billing" else np.ones(n)).sum())
        # Each structure's candidates, from the balance-point grid; the chosen structure's are then solved exactly.
        self.pooled: dict[str, tuple[cp.CPData, list[cp.CPFit]]] = {}
        for suffix, fixed in structures:
            d = _cpdata(frame, valid, fixed)
            self.pooled[suffix] = (d, cp.fit_forms(d, forms))
        split = frame.granularity == "daily" and workday in ("auto", True) and work_varies
        self.split_parts: Parts = _split_parts(frame, self.base_fixed, forms) if split else []
        self.cache: dict[str, list[Candidate]] = {}

    def candidates(self) -> list[Candidate]:
        """Every structure's candidates, the split by day type as one candidate."""
        out: list[Candidate] = []
        for suffix, (d, fits) in self.pooled.items():
            if suffix not in self.cache:
                self.cache[suffix] = _candidates(fits, d, suffix, self.n, self.sum_w)
            out += self.cache[suffix]
        if "split" not in self.cache:
            split = _split_candidate(self.frame, self.split_parts, self.n, self.sum_w)
            self.cache["split"] = [split] if split is not None else []
        out += self.cache["split"]
        if self.frame.granularity == "billing":
            _apply_parameter_budget(out, self.n)
        return out

    def refine(self, chosen: Candidate) -> None:
        """Continuous balance points (:func:`emc.mv.balance_points.refine`) for the structure the grid chose."""
        if isinstance(chosen.payload, tuple):
            self.split_parts = [(d, refine(fits)) for d, fits in self.split_parts]
            del self.cache["split"]
        else:
            suffix = WORKDAY if chosen.name.endswith(WORKDAY) else ""
            d, fits = self.pooled[suffix]
            self.pooled[suffix] = (d, refine(fits))
            del self.cache[suffix]


def _split_parts(frame: Frame, fixed: list[str], forms: list[str]) -> Parts:
    """Fitted forms for working and non-working days apart, when each has ``MIN_SPLIT_ROWS`` days."""
    valid = frame.valid
    w_rows = valid & (frame.workday >= 0.5)
    o_rows = valid & (frame.workday < 0.5)
    parts: Parts = []
    if w_rows.sum() >= MIN_SPLIT_ROWS and o_rows.sum() >= MIN_SPLIT_ROWS:
        for rows in (w_rows, o_rows):
            d = _cpdata(frame, rows, fixed)
            parts.append((d, cp.fit_forms(d, forms)))
    return parts


def choose_structure(frame: Frame, drivers: list[str], workday: str | bool, forms: list[str]
                     ) -> tuple[Candidate | None, str, list[Candidate]]:
    """The chosen candidate (its coefficients final), the reason, and the candidate table; None if none qualified.

    ``workday``: ``"auto"`` tries the structures with and without working days (and the split), ``True`` /
    ``False`` force the working-day share in or out.
    """
    structures = _Structures(frame, drivers, workday, forms)
    candidates = structures.candidates()
    chosen, reason = select(candidates)
    if chosen is not None:
        # Continuous balance points (balance_points.refine) for the structure the grid chose, then the criterion again.
        structures.refine(chosen)
        candidates = structures.candidates()
        chosen, reason = select(candidates)
    if chosen is not None and not isinstance(chosen.payload, tuple):
        chosen.payload = cp.finalize(chosen.payload)
    return chosen, reason, candidates


def chosen_segments(chosen: Candidate, drivers: list[str]) -> list[dict[str, Any]]:
    """The stored segments of a chosen candidate: one for a pooled structure, two for the split by day type."""
    base_fixed = ["intercept", *drivers]
    if isinstance(chosen.payload, tuple):
        return [_segment(chosen.payload[0], "workday", base_fixed),
                _segment(chosen.payload[1], "non_workday", base_fixed)]
    fixed = ["intercept", "workday", *drivers] if chosen.name.endswith(WORKDAY) else base_fixed
    return [_segment(chosen.payload, "all", fixed)]
