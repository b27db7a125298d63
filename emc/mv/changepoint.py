"""Change-point regression (ASHRAE RP-1050 inverse models, Kissock, Haberl & Claridge 2003) with searched
balance points, solved in closed form for many candidate balance points at once.

Forms (usage per day y against daily mean temperature T; HDD(h) = max(0, h − T), CDD(c) = max(0, T − c)):

==== ======================================== ===================================================
mean y = β0                                    weather-independent
2P   y = β0 + β1·T                             linear
3PH  y = β0 + βh·HDD(h)                        heating change-point, βh > 0
3PC  y = β0 + βc·CDD(c)                        cooling change-point, βc > 0
4P   y = β0 + βh·HDD(b) + βc·CDD(b)            one change point b, slopes differ (convex: βh + βc > 0)
5P   y = β0 + βh·HDD(h) + βc·CDD(c), h < c     heating and cooling with a dead band, βh, βc > 0
==== ======================================== ===================================================

Every form may carry fixed extra columns (working-day share, energy users, …: "multivariable"). For billing
data each column is the *mean over the bill's days* of the daily quantity (CalTRACK 2.0 billing method: usage
per day against degree-days per day, weighted by the days in the bill).

Balance points are searched, not fixed: a 1 °C grid over the observed temperatures, then a 0.1 °C grid
around the best candidate of each form. For one candidate the fit is ordinary (weighted) least squares, so
all candidates are solved at once from Gram matrices built with a few matrix products (``_solve_batch``).
A candidate qualifies when its heating/cooling slopes have the required sign and are significant at
p < 0.10 (CalTRACK 2.0 §3.4 daily/billing model qualification) and its degree-days have support: at least
``min_rows_dd`` rows with non-zero degree-days and at least 20 °F·days (≈ 11.1 °C·days) in total
(CalTRACK 2.0 §3.2 balance-point search constraints).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .metrics import t_two_sided

FORMS = ("mean", "2P", "3PH", "3PC", "4P", "5P")
#: Balance points counted as fitted parameters for each form (RP-1050 counts the change point).
N_BALANCE_POINTS = {"mean": 0, "2P": 0, "3PH": 1, "3PC": 1, "4P": 1, "5P": 2}
MIN_TOTAL_DD = 20.0 / 1.8  # CalTRACK 2.0: 20 °F·day of degree-days over the baseline, in °C·day
COARSE_STEP = 1.0
FINE_STEP = 0.1
SIGNIFICANCE = 0.10  # CalTRACK 2.0: slopes must be significant at p < 0.1


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


def _solve_batch(
    F: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    H: np.ndarray | None,
    C: np.ndarray | None,
    kh: np.ndarray | None,
    kc: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted least squares for B candidate designs X_b = [F, H[:, kh[b]], C[:, kc[b]]] at once.

    Returns (beta (B, P), weighted SSE (B,), diag((X'WX)^-1) (B, P)). Built from Gram blocks so the cost
    is a few (n × K) matrix products instead of B separate regressions.
    """
    q = F.shape[1]
    Fw = F * w[:, None]
    FF = F.T @ Fw
    Fy = Fw.T @ y
    yy = float(y @ (w * y))
    blocks: list[tuple[str, np.ndarray, np.ndarray]] = []
    if H is not None:
        blocks.append(("h", H, kh))  # type: ignore[arg-type]
    if C is not None:
        blocks.append(("c", C, kc))  # type: ignore[arg-type]
    B = len(kh) if kh is not None else len(kc) if kc is not None else 1
    P = q + len(blocks)
    G = np.empty((B, P, P))
    g = np.empty((B, P))
    G[:, :q, :q] = FF
    g[:, :q] = Fy
    wcols = []
    for j, (_, M, k) in enumerate(blocks):
        Mw = M * w[:, None]
        wcols.append(Mw)
        FM = Fw.T @ M  # (q, K)
        G[:, :q, q + j] = FM[:, k].T
        G[:, q + j, :q] = FM[:, k].T
        G[:, q + j, q + j] = np.einsum("ij,ij->j", Mw, M)[k]
        g[:, q + j] = (Mw.T @ y)[k]
    if len(blocks) == 2:
        HC = wcols[0].T @ blocks[1][1]  # (Kh, Kc)
        G[:, q, q + 1] = G[:, q + 1, q] = HC[kh, kc]
    # A tiny ridge on the diagonal guards exactly singular candidates (e.g. an all-zero degree-day column);
    # such candidates fail the support test anyway.
    scale = np.maximum(np.abs(np.diagonal(G, axis1=1, axis2=2)), 1e-300)
    Gs = G / np.sqrt(scale[:, :, None] * scale[:, None, :])
    Gs = Gs + np.eye(P) * 1e-12
    inv = np.linalg.inv(Gs)
    inv = inv / np.sqrt(scale[:, :, None] * scale[:, None, :])
    beta = np.einsum("bij,bj->bi", inv, g)
    sse = yy - np.einsum("bi,bi->b", beta, g)
    return beta, np.maximum(sse, 0.0), np.diagonal(inv, axis1=1, axis2=2).copy()


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


def _support(M: np.ndarray, w: np.ndarray, min_rows: int) -> np.ndarray:
    """Degree-day support per candidate column (CalTRACK 2.0 §3.2)."""
    rows = (M > 0).sum(axis=0)
    total = (M * w[:, None]).sum(axis=0)
    return (rows >= min_rows) & (total >= MIN_TOTAL_DD)


def _evaluate(
    d: CPData, form: str, hb: np.ndarray | None, cb: np.ndarray | None, pairs: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All candidates of ``form`` on the given grids: (beta, sse, qualified, h, c, reject_code, tstats)."""
    n, q = d.F.shape
    H = d.dd("h", hb) if hb is not None else None
    C = d.dd("c", cb) if cb is not None else None
    if pairs == "h":
        kh, kc = np.arange(len(hb)), None  # type: ignore[arg-type]
    elif pairs == "c":
        kh, kc = None, np.arange(len(cb))  # type: ignore[arg-type]
    elif pairs == "same":  # 4P: one change point
        kh = kc = np.arange(len(hb))  # type: ignore[arg-type]
    else:  # 5P: h < c
        ih, ic = np.meshgrid(np.arange(len(hb)), np.arange(len(cb)), indexing="ij")  # type: ignore[arg-type]
        ok = hb[ih] < cb[ic]  # type: ignore[index]
        kh, kc = ih[ok], ic[ok]
    if (kh is not None and len(kh) == 0) or (kc is not None and len(kc) == 0):
        empty = np.zeros(0)
        return np.zeros((0, q + 2)), empty, empty.astype(bool), empty, empty, empty, np.zeros((0, 2))
    with np.errstate(all="ignore"):
        beta, sse, dinv = _solve_batch(d.F, d.y, d.w, H, C, kh, kc)
    P = beta.shape[1]
    dof = n - P
    sigma2 = sse / max(dof, 1)
    with np.errstate(all="ignore"):
        se = np.sqrt(np.maximum(dinv * sigma2[:, None], 0.0))
        t = np.where(se > 0, beta / np.where(se > 0, se, 1.0), np.inf * np.sign(beta))
    tcrit = t_two_sided(1.0 - SIGNIFICANCE, max(dof, 1))
    ok = np.ones(len(sse), dtype=bool)
    reason = np.zeros(len(sse), dtype=np.int8)  # 0 ok, 1 support, 2 sign, 3 significance, 4 dof
    if H is not None:
        sup = _support(H, d.w, d.min_rows_dd)[kh]
        reason[~sup & ok] = 1
        ok &= sup
    if C is not None:
        sup = _support(C, d.w, d.min_rows_dd)[kc]
        reason[~sup & ok] = 1
        ok &= sup
    th = t[:, q] if H is not None else None
    tc = t[:, q + (1 if H is not None else 0)] if C is not None else None
    if form == "4P":
        bh, bc = beta[:, q], beta[:, q + 1]
        convex = (bh + bc) > 0
        steep = np.where(np.abs(bh) >= np.abs(bc), np.abs(th), np.abs(tc))  # type: ignore[arg-type]
        reason[~convex & ok] = 2
        ok &= convex
        reason[~(steep >= tcrit) & ok] = 3
        ok &= steep >= tcrit
    else:
        for tt, col in ((th, q if H is not None else None), (tc, P - 1 if C is not None else None)):
            if tt is None:
                continue
            pos = beta[:, col] > 0
            reason[~pos & ok] = 2
            ok &= pos
            sig = tt >= tcrit
            reason[~sig & ok] = 3
            ok &= sig
    hv = hb[kh] if kh is not None else np.full(len(sse), np.nan)  # type: ignore[index]
    cv = cb[kc] if kc is not None else np.full(len(sse), np.nan)  # type: ignore[index]
    tstats = np.stack([th if th is not None else np.full(len(sse), np.nan),
                       tc if tc is not None else np.full(len(sse), np.nan)], axis=1)
    return beta, sse, ok, hv, cv, reason, tstats


_REJECT = {
    1: "too few days with degree-days at every candidate balance point (CalTRACK 2.0 §3.2)",
    2: "slope of the wrong sign at every qualifying balance point",
    3: "slope not significant (p ≥ 0.10) at every qualifying balance point (CalTRACK 2.0 §3.4)",
    4: "too few observations for the parameters",
}


def _best_on_grid(d: CPData, form: str, hb: np.ndarray | None, cb: np.ndarray | None, pairs: str):
    beta, sse, ok, hv, cv, reason, _ = _evaluate(d, form, hb, cb, pairs)
    if len(sse) == 0:
        return None, 1
    if not ok.any():
        codes = reason[reason > 0]
        return None, int(np.bincount(codes).argmax()) if codes.size else 1
    i = int(np.flatnonzero(ok)[np.argmin(sse[ok])])
    return (float(hv[i]), float(cv[i])), 0


def _refine(center: float, step: float, fine: float) -> np.ndarray:
    return np.round(center + np.arange(-step, step + fine / 2, fine), 6)


def fit_form(d: CPData, form: str) -> CPFit:
    """Best qualifying candidate of one form: coarse grid search, then a fine grid around its optimum."""
    n = d.y.size
    names = list(d.fixed_names)
    if form in ("mean", "2P"):
        X = d.F if form == "mean" else np.column_stack([d.F, d.row_temp])
        cols = names + ([] if form == "mean" else ["temperature"])
        return _final(d, form, X, cols, None, None)
    grid = _grid(d.day_temp[np.isfinite(d.day_temp)], COARSE_STEP)
    pairs = {"3PH": "h", "3PC": "c", "4P": "same", "5P": "pair"}[form]
    hb = grid if pairs in ("h", "same", "pair") else None
    cb = grid if pairs in ("c", "same", "pair") else None
    best, code = _best_on_grid(d, form, hb, cb, pairs)
    if best is None:
        return CPFit(form, names, np.zeros(0), None, None, np.inf, n, float(d.w.sum()), False, _REJECT[code])
    h0, c0 = best
    hb2 = _refine(h0, COARSE_STEP, FINE_STEP) if hb is not None else None
    cb2 = _refine(c0, COARSE_STEP, FINE_STEP) if cb is not None else None
    fine, _ = _best_on_grid(d, form, hb2, cb2, pairs)
    h, c = fine if fine is not None else best
    h = None if hb is None else h
    c = None if cb is None else c
    if form == "4P":
        c = h
    cols = list(names)
    mats = []
    if h is not None:
        cols.append("heating_slope")
        mats.append(d.dd("h", np.array([h]))[:, 0])
    if c is not None:
        cols.append("cooling_slope")
        mats.append(d.dd("c", np.array([c]))[:, 0])
    X = np.column_stack([d.F, *mats])
    return _final(d, form, X, cols, h, c)


def _final(d: CPData, form: str, X: np.ndarray, cols: list[str], h: float | None, c: float | None) -> CPFit:
    """Exact weighted least squares (QR via lstsq) for the chosen balance points, with the coefficient covariance."""
    n, P = X.shape
    sw = np.sqrt(d.w)
    beta, *_ = np.linalg.lstsq(X * sw[:, None], d.y * sw, rcond=None)
    r = d.y - X @ beta
    sse = float(d.w @ (r * r))
    dof = n - P - N_BALANCE_POINTS[form]
    fit = CPFit(form, cols, beta, h, c, sse, n, float(d.w.sum()), dof > 0, "" if dof > 0 else _REJECT[4])
    try:
        xtwx_inv = np.linalg.inv(X.T @ (X * d.w[:, None]))
        fit.cov = xtwx_inv * (sse / max(n - P, 1))
    except np.linalg.LinAlgError:
        fit.cov = None
    return fit


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
