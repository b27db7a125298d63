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
FINE_STEP = 0.25
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


class _Blocks:
    """Gram blocks of the weighted least-squares problems X_b = [F, H[:, kh[b]], C[:, kc[b]]].

    Built once per grid with a few (n × K) matrix products; any batch of candidates is then assembled and
    solved from them (``solve``) instead of running one regression per candidate.
    """

    def __init__(self, d: CPData, H: np.ndarray | None, C: np.ndarray | None) -> None:
        F, y, w = d.F, d.y, d.w
        Fw = F * w[:, None]
        self.q = F.shape[1]
        self.n = y.size
        self.FF = F.T @ Fw
        self.Fy = Fw.T @ y
        self.yy = float(y @ (w * y))
        self.H, self.C = H, C
        self.parts: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        wcols = {}
        for key, M in (("h", H), ("c", C)):
            if M is None:
                continue
            Mw = M * w[:, None]
            wcols[key] = Mw
            support = ((M > 0).sum(axis=0) >= d.min_rows_dd) & (Mw.sum(axis=0) >= MIN_TOTAL_DD)
            self.parts[key] = (Fw.T @ M, np.einsum("ij,ij->j", Mw, M), Mw.T @ y, support)
        self.HC = wcols["h"].T @ C if H is not None and C is not None else None

    def solve(self, kh: np.ndarray | None, kc: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(beta (B, P), weighted SSE (B,), diag((X'WX)^-1) (B, P)) for candidate index arrays."""
        q = self.q
        sel = [(key, k) for key, k in (("h", kh), ("c", kc)) if k is not None]
        B = len(sel[0][1]) if sel else 1
        P = q + len(sel)
        G = np.empty((B, P, P))
        g = np.empty((B, P))
        G[:, :q, :q] = self.FF
        g[:, :q] = self.Fy
        for j, (key, k) in enumerate(sel):
            FM, MM, My, _ = self.parts[key]
            G[:, :q, q + j] = FM[:, k].T
            G[:, q + j, :q] = FM[:, k].T
            G[:, q + j, q + j] = MM[k]
            g[:, q + j] = My[k]
        if len(sel) == 2:
            G[:, q, q + 1] = G[:, q + 1, q] = self.HC[kh, kc]  # type: ignore[index]
        # Scale to unit diagonal before inverting; a tiny ridge guards exactly singular candidates (an
        # all-zero degree-day column), which fail the support test anyway.
        scale = np.maximum(np.abs(np.diagonal(G, axis1=1, axis2=2)), 1e-300)
        root = np.sqrt(scale[:, :, None] * scale[:, None, :])
        inv = np.linalg.inv(G / root + np.eye(P) * 1e-12) / root
        beta = np.einsum("bij,bj->bi", inv, g)
        sse = self.yy - np.einsum("bi,bi->b", beta, g)
        return beta, np.maximum(sse, 0.0), np.diagonal(inv, axis1=1, axis2=2).copy()

    def support(self, key: str, k: np.ndarray) -> np.ndarray:
        return self.parts[key][3][k]


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


def _best(blocks: _Blocks, form: str, kh: np.ndarray | None, kc: np.ndarray | None) -> tuple[int | None, int]:
    """Index (into kh/kc) of the qualifying candidate with the lowest SSE, or (None, rejection code)."""
    B = len(kh) if kh is not None else len(kc) if kc is not None else 0
    if B == 0:
        return None, 1
    with np.errstate(all="ignore"):
        beta, sse, dinv = blocks.solve(kh, kc)
    q, P = blocks.q, beta.shape[1]
    dof = blocks.n - P
    tcrit = t_two_sided(1.0 - SIGNIFICANCE, max(dof, 1))
    with np.errstate(all="ignore"):
        se = np.sqrt(np.maximum(dinv * (sse / max(dof, 1))[:, None], 0.0))
        t = np.where(se > 0, beta / np.where(se > 0, se, 1.0), np.inf * np.sign(beta))
    ok = np.ones(B, dtype=bool)
    reason = np.zeros(B, dtype=np.int8)  # 0 ok, 1 support, 2 sign, 3 significance

    def gate(cond: np.ndarray, code: int) -> None:
        nonlocal ok
        reason[~cond & ok] = code
        ok = ok & cond

    if kh is not None:
        gate(blocks.support("h", kh), 1)
    if kc is not None:
        gate(blocks.support("c", kc), 1)
    if form == "4P":
        bh, bc = beta[:, q], beta[:, q + 1]
        gate((bh + bc) > 0, 2)
        steep = np.where(np.abs(bh) >= np.abs(bc), np.abs(t[:, q]), np.abs(t[:, q + 1]))
        gate(steep >= tcrit, 3)
    else:
        for col in range(q, P):
            gate(beta[:, col] > 0, 2)
            gate(t[:, col] >= tcrit, 3)
    if not ok.any():
        codes = reason[reason > 0]
        return None, int(np.bincount(codes).argmax()) if codes.size else 1
    return int(np.flatnonzero(ok)[np.argmin(sse[ok])]), 0


def _pairs(hb: np.ndarray, cb: np.ndarray, h_off: int = 0, c_off: int = 0) -> tuple[np.ndarray, np.ndarray]:
    ih, ic = np.meshgrid(np.arange(len(hb)), np.arange(len(cb)), indexing="ij")
    ok = hb[ih] < cb[ic]
    return ih[ok] + h_off, ic[ok] + c_off


def _index_sets(form: str, hb: np.ndarray, cb: np.ndarray, h_off: int, c_off: int):
    if form == "3PH":
        return np.arange(len(hb)) + h_off, None
    if form == "3PC":
        return None, np.arange(len(cb)) + c_off
    if form == "4P":
        return np.arange(len(hb)) + h_off, np.arange(len(cb)) + c_off
    return _pairs(hb, cb, h_off, c_off)


def fit_forms(d: CPData, forms: list[str]) -> list[CPFit]:
    """Best qualifying candidate of each form: a 1 °C grid, then a 0.25 °C grid around each form's optimum.

    All change-point forms share the Gram blocks of one grid, so the search costs two block builds.
    """
    n = d.y.size
    names = list(d.fixed_names)
    out: dict[str, CPFit] = {}
    for form in forms:
        if form in ("mean", "2P"):
            X = d.F if form == "mean" else np.column_stack([d.F, d.row_temp])
            out[form] = _final(d, form, X, names + ([] if form == "mean" else ["temperature"]), None, None)
    cpf = [f for f in forms if f in N_BALANCE_POINTS and N_BALANCE_POINTS[f] > 0]
    if cpf:
        # Balance points that leave fewer than min_rows_dd rows with degree-days cannot qualify: skip them.
        rt = np.sort(d.row_temp[np.isfinite(d.row_temp)])
        k = min(d.min_rows_dd, rt.size) - 1
        grid = _grid(d.day_temp[np.isfinite(d.day_temp)], COARSE_STEP)
        hg = grid[grid > rt[k] - COARSE_STEP] if rt.size else grid
        cg = grid[grid < rt[-k - 1] + COARSE_STEP] if rt.size else grid
        if hg.size == 0:
            hg = grid[-1:]
        if cg.size == 0:
            cg = grid[:1]
        coarse = _Blocks(d, d.dd("h", hg), d.dd("c", cg))
        found: dict[str, tuple[float, float]] = {}
        for form in cpf:
            if form == "4P":
                common = np.intersect1d(hg, cg)
                kh = np.searchsorted(hg, common)
                kc = np.searchsorted(cg, common)
            else:
                kh, kc = _index_sets(form, hg, cg, 0, 0)
            i, code = _best(coarse, form, kh, kc)
            if i is None:
                out[form] = CPFit(form, names, np.zeros(0), None, None, np.inf, n, float(d.w.sum()), False,
                                  _REJECT[code])
            else:
                found[form] = (hg[kh[i]] if kh is not None else np.nan, cg[kc[i]] if kc is not None else np.nan)
        # Fine grids of all forms side by side in one block build.
        hs, cs, where = [], [], {}
        for form, (h0, c0) in found.items():
            fh = _refine(h0, COARSE_STEP, FINE_STEP) if form != "3PC" else np.zeros(0)
            fc = _refine(c0 if form != "4P" else h0, COARSE_STEP, FINE_STEP) if form != "3PH" else np.zeros(0)
            where[form] = (sum(map(len, hs)), sum(map(len, cs)), fh, fc)
            hs.append(fh)
            cs.append(fc)
        if found:
            hcat, ccat = np.concatenate(hs), np.concatenate(cs)
            fine = _Blocks(d, d.dd("h", hcat) if hcat.size else None, d.dd("c", ccat) if ccat.size else None)
            for form, (ho, co, fh, fc) in where.items():
                kh, kc = _index_sets(form, fh, fc, ho, co)
                i, _ = _best(fine, form, kh, kc)
                if i is None:
                    h, c = found[form]
                else:
                    h = hcat[kh[i]] if kh is not None else np.nan
                    c = ccat[kc[i]] if kc is not None else np.nan
                out[form] = _final_cp(d, form, None if form == "3PC" else float(h), None if form == "3PH" else float(c))
    return [out[f] for f in forms]


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
    fit.extra["residual_variance"] = sse / max(n - P, 1)
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
