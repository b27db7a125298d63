"""Change-point regression (ASHRAE RP-1050 inverse models, Kissock, Haberl & Claridge 2003) with searched
balance points, solved in closed form for many candidate balance points at once.

Forms (usage per day y against daily mean temperature T; HDD(h) = max(0, h − T), CDD(c) = max(0, T − c)):

==== ======================================== ===================================================
mean y = β0                                    weather-independent
2P   y = β0 + β1·T                             linear
3PH  y = β0 + βh·HDD(h)                        heating change-point, βh > 0
3PC  y = β0 + βc·CDD(c)                        cooling change-point, βc > 0
4P   y = β0 + βh·HDD(b) + βc·CDD(b)            one change point b, slopes differ, βh, βc > 0
5P   y = β0 + βh·HDD(h) + βc·CDD(c), h < c     heating and cooling with a dead band, βh, βc > 0
==== ======================================== ===================================================

Every form may carry fixed extra columns (working-day share, energy users, …: "multivariable"). For billing
data each column is the *mean over the bill's days* of the daily quantity (CalTRACK 2.0 billing method: usage
per day against degree-days per day, weighted by the days in the bill).

Balance points are estimated continuously (docs/mv.md §1): a 1 °C grid over the observed temperatures, then a
0.25 °C grid around the best candidate of each form, rank the candidates (this module);
:func:`emc.mv.balance_points.refine` then solves the balance points of the chosen structure's candidates
exactly (least squares over the intervals between sorted temperatures, Hudson 1966). For one candidate the fit
is ordinary (weighted) least squares, so all candidates are solved at once from Gram matrices built with a few
matrix products (:mod:`emc.mv.batched_lsq`). A candidate qualifies when its heating and cooling slopes have
their physical sign (both > 0, 4P included: a 4P that needs a negative slope is compensating for a misplaced
change point) and are significant at p < 0.10 (CalTRACK 2.0 §3.4 daily/billing model qualification; for 4P the
steeper slope) and its degree-days have support: at least ``min_rows_dd`` rows with non-zero degree-days and
at least 20 °F·days (≈ 11.1 °C·days) in total (CalTRACK 2.0 §3.2 balance-point search constraints).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .batched_lsq import Blocks, Group, best_of_groups

FORMS = ("mean", "2P", "3PH", "3PC", "4P", "5P")
#: Balance points counted as fitted parameters for each form (RP-1050 counts the change point).
N_BALANCE_POINTS = {"mean": 0, "2P": 0, "3PH": 1, "3PC": 1, "4P": 1, "5P": 2}
COARSE_STEP = 1.0
FINE_STEP = 0.25
Point = tuple[float | None, float | None]  # (heating balance point, cooling balance point)


@dataclass
class CPFit:
    """One fitted change-point candidate (the best of its form for one subset of rows)."""

    form: str
    columns: list[str]  # coefficient names in order
    beta: np.ndarray
    heating_bp: float | None
    cooling_bp: float | None
    sse: float  # weighted SSE
    n: int
    sum_w: float
    qualified: bool
    rejection: str = ""
    cov: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def p(self) -> int:
        """Fitted parameters: coefficients plus searched balance points."""
        return len(self.columns) + N_BALANCE_POINTS[self.form]


def hdd(t: np.ndarray, bp: np.ndarray | float) -> np.ndarray:
    """Heating degree-days per day for base ``bp`` (broadcasts: t (n,1) × bp (K,) → (n, K))."""
    return np.maximum(bp - t, 0.0)


def cdd(t: np.ndarray, bp: np.ndarray | float) -> np.ndarray:
    return np.maximum(t - bp, 0.0)


def _grid(t: np.ndarray, step: float) -> np.ndarray:
    lo = np.floor(np.nanmin(t) / step) * step
    hi = np.ceil(np.nanmax(t) / step) * step
    return np.round(np.arange(lo, hi + step / 2, step), 6)


@dataclass
class CPData:
    """Rows to fit: y (usage/day), weights, fixed columns, and a way to build degree-day columns."""

    y: np.ndarray
    w: np.ndarray
    F: np.ndarray
    fixed_names: list[str]
    day_temp: np.ndarray  # temperatures of the days behind the rows (may be longer than y for bills)
    agg: Any  # callable: day-level (n_days × K) → row-level (n × K)
    row_temp: np.ndarray
    min_rows_dd: int

    def dd(self, kind: str, bps: np.ndarray) -> np.ndarray:
        t = self.day_temp[:, None]
        m = hdd(t, bps[None, :]) if kind == "h" else cdd(t, bps[None, :])
        return self.agg(m)


_REJECT = {
    1: "too few days with degree-days at every candidate balance point (CalTRACK 2.0 §3.2)",
    2: "slope of the wrong sign at every qualifying balance point",
    3: "slope not significant (p ≥ 0.10) at every qualifying balance point (CalTRACK 2.0 §3.4)",
    4: "too few observations for the parameters",
}


def _groups(forms: list[str], hb: dict[str, np.ndarray] | np.ndarray, cb: dict[str, np.ndarray] | np.ndarray,
            ho: dict[str, int] | int, co: dict[str, int] | int, kh_total: int) -> tuple[list[Group], list[Group]]:
    """Candidate index groups into D = [H | C] for each form: singles (3PH, 3PC) and pairs (4P, 5P)."""
    singles: list[Group] = []
    pairs: list[Group] = []
    for form in forms:
        h = hb[form] if isinstance(hb, dict) else hb
        c = cb[form] if isinstance(cb, dict) else cb
        oh = ho[form] if isinstance(ho, dict) else ho
        oc = (co[form] if isinstance(co, dict) else co) + kh_total
        if form == "3PH":
            singles.append((form, np.arange(len(h)) + oh, None))
        elif form == "3PC":
            singles.append((form, np.arange(len(c)) + oc, None))
        elif form == "4P":
            common = np.intersect1d(h, c)
            pairs.append((form, np.searchsorted(h, common) + oh, np.searchsorted(c, common) + oc))
        else:
            ih, ic = np.meshgrid(np.arange(len(h)), np.arange(len(c)), indexing="ij")
            m = h[ih] < c[ic]
            pairs.append((form, ih[m] + oh, ic[m] + oc))
    return singles, pairs


def fit_forms(d: CPData, forms: list[str]) -> list[CPFit]:
    """Best qualifying candidate of each form on the grid: 1 °C, then 0.25 °C around each form's optimum
    (:func:`emc.mv.balance_points.refine` then solves the chosen structure's balance points exactly).

    All change-point forms share the Gram blocks of one grid, so the search costs two block builds and
    at most four batched solves.
    """
    names = list(d.fixed_names)
    out: dict[str, CPFit] = {}
    for form in forms:
        if form in ("mean", "2P"):
            X = d.F if form == "mean" else np.column_stack([d.F, d.row_temp])
            out[form] = _final(d, form, X, names + ([] if form == "mean" else ["temperature"]), None, None)
    cpf = [f for f in forms if N_BALANCE_POINTS.get(f, 0) > 0]
    if cpf:
        found = _coarse_search(d, cpf, out)
        if found:
            out.update(_fine_search(d, found))
    return [out[f] for f in forms]


def _coarse_grids(d: CPData) -> tuple[np.ndarray, np.ndarray]:
    """1 °C grids of heating and cooling points over the observed temperatures. Balance points that leave
    fewer than min_rows_dd rows with degree-days cannot qualify: they are skipped."""
    rt = np.sort(d.row_temp[np.isfinite(d.row_temp)])
    k = max(min(d.min_rows_dd, rt.size) - 1, 0)
    grid = _grid(d.day_temp[np.isfinite(d.day_temp)], COARSE_STEP)
    hg = grid[grid > rt[k] - COARSE_STEP] if rt.size else grid
    cg = grid[grid < rt[-k - 1] + COARSE_STEP] if rt.size else grid
    hg = hg if hg.size else grid[-1:]
    cg = cg if cg.size else grid[:1]
    return hg, cg


def _coarse_search(d: CPData, cpf: list[str], out: dict[str, CPFit]) -> dict[str, Point]:
    """Best grid point of each change-point form on the coarse grid; forms with none go to ``out`` rejected."""
    n = d.y.size
    hg, cg = _coarse_grids(d)
    coarse = Blocks(d, np.hstack([d.dd("h", hg), d.dd("c", cg)]))
    singles, pairs = _groups(cpf, hg, cg, 0, 0, len(hg))
    res = best_of_groups(coarse, singles, pairs)
    found: dict[str, Point] = {}
    idx = {g[0]: g for g in singles + pairs}
    for form in cpf:
        i, code = res[form]
        if i is None:
            out[form] = CPFit(form, list(d.fixed_names), np.zeros(0), None, None, np.inf, n, float(d.w.sum()), False,
                              _REJECT[code])
            continue
        _, k1, k2 = idx[form]
        v1 = float(hg[k1[i]] if k1[i] < len(hg) else cg[k1[i] - len(hg)])
        if form == "3PH":
            found[form] = (v1, None)
        elif form == "3PC":
            found[form] = (None, v1)
        else:
            found[form] = (v1, float(cg[k2[i] - len(hg)]))  # type: ignore[index]
    return found


def _fine_search(d: CPData, found: dict[str, Point]) -> dict[str, CPFit]:
    """0.25 °C grids around each form's coarse optimum, all forms side by side in one block build."""
    fh: dict[str, np.ndarray] = {}
    fc: dict[str, np.ndarray] = {}
    ho: dict[str, int] = {}
    co: dict[str, int] = {}
    nh = nc = 0
    for form, (h0, c0) in found.items():
        fh[form] = _refine(h0, COARSE_STEP, FINE_STEP) if h0 is not None else np.zeros(0)
        fc[form] = _refine(c0, COARSE_STEP, FINE_STEP) if c0 is not None else np.zeros(0)
        ho[form], co[form] = nh, nc
        nh += len(fh[form])
        nc += len(fc[form])
    hcat = np.concatenate(list(fh.values()))
    ccat = np.concatenate(list(fc.values()))
    fine = Blocks(d, np.hstack([d.dd("h", hcat), d.dd("c", ccat)]))
    singles, pairs = _groups(list(found), fh, fc, ho, co, nh)
    res = best_of_groups(fine, singles, pairs)
    idx = {g[0]: g for g in singles + pairs}
    out: dict[str, CPFit] = {}
    for form, (h0, c0) in found.items():
        i, sse = res[form]
        h, c = h0, c0
        if i is not None:
            _, k1, k2 = idx[form]
            if form == "3PH":
                h = float(hcat[k1[i]])
            elif form == "3PC":
                c = float(ccat[k1[i] - nh])
            else:
                h, c = float(hcat[k1[i]]), float(ccat[k2[i] - nh])  # type: ignore[index]
        out[form] = pending(d, form, None if h is None else float(h), None if c is None else float(c),
                            sse if i is not None else None)
    return out


def pending(d: CPData, form: str, h: float | None, c: float | None, sse: float | None) -> CPFit:
    """A searched candidate whose exact coefficients are computed only if it is chosen (:func:`finalize`)."""
    if sse is None:
        return _final_cp(d, form, h, c)
    cols = list(d.fixed_names) + (["heating_slope"] if h is not None else []) + (
        ["cooling_slope"] if c is not None else [])
    n = d.y.size
    dof = n - len(cols) - N_BALANCE_POINTS[form]
    fit = CPFit(form, cols, np.zeros(0), h, c, float(sse), n, float(d.w.sum()), dof > 0, "" if dof > 0 else _REJECT[4])
    fit.extra["pending"] = d
    return fit


def finalize(fit: CPFit) -> CPFit:
    """Exact coefficients, covariance and SSE of a candidate found by the batched search."""
    d = fit.extra.get("pending")
    if d is None:
        return fit
    return _final_cp(d, fit.form, fit.heating_bp, fit.cooling_bp)


def _refine(center: float, step: float, fine: float) -> np.ndarray:
    return np.round(center + np.arange(-step, step + fine / 2, fine), 6)


def _final_cp(d: CPData, form: str, h: float | None, c: float | None) -> CPFit:
    cols = list(d.fixed_names)
    mats = []
    if h is not None:
        cols.append("heating_slope")
        mats.append(d.dd("h", np.array([h]))[:, 0])
    if c is not None:
        cols.append("cooling_slope")
        mats.append(d.dd("c", np.array([c]))[:, 0])
    return _final(d, form, np.column_stack([d.F, *mats]), cols, h, c)


def _final(d: CPData, form: str, X: np.ndarray, cols: list[str], h: float | None, c: float | None) -> CPFit:
    """Exact weighted least squares (QR via lstsq) for the chosen balance points, with the coefficient covariance."""
    n, P = X.shape
    sw = np.sqrt(d.w)
    beta, *_ = np.linalg.lstsq(X * sw[:, None], d.y * sw, rcond=None)
    r = d.y - X @ beta
    sse = float(d.w @ (r * r))
    dof = n - P - N_BALANCE_POINTS[form]
    fit = CPFit(form, cols, beta, h, c, sse, n, float(d.w.sum()), dof > 0, "" if dof > 0 else _REJECT[4])
    # σ² on the residual degrees of freedom with searched balance points counted as parameters (RP-1050):
    # they were fitted to the same data, and the savings uncertainty is built from this variance.
    fit.extra["residual_variance"] = sse / max(dof, 1)
    try:
        xtwx_inv = np.linalg.inv(X.T @ (X * d.w[:, None]))
        fit.cov = xtwx_inv * (sse / max(dof, 1))
    except np.linalg.LinAlgError:
        fit.cov = None
    return fit


def dot_fixed(X: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """X @ beta summed column by column in a fixed order, without BLAS: bit-identical on every machine, so a
    stored baseline reproduces its predictions exactly wherever it is evaluated."""
    out = X[:, 0] * beta[0]
    for j in range(1, X.shape[1]):
        out = out + X[:, j] * beta[j]
    return out


def features(
    day_temp: np.ndarray, agg: Any, F: np.ndarray, row_temp: np.ndarray, form: str, h: float | None, c: float | None
) -> np.ndarray:
    """Design matrix of a fitted form for new data (same column order as the fit)."""
    mats = [F]
    if form == "2P":
        mats.append(row_temp[:, None])
    if h is not None:
        mats.append(agg(hdd(day_temp[:, None], np.array([h])[None, :])))
    if c is not None:
        mats.append(agg(cdd(day_temp[:, None], np.array([c])[None, :])))
    return np.column_stack(mats)
