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
    """Gram blocks of the weighted least-squares problems X_b = [F, D[:, k1[b]] (, D[:, k2[b]])].

    ``D`` holds every candidate degree-day column (heating columns, then cooling columns). The blocks are
    built once per grid with a few matrix products; any batch of candidates is then assembled and solved
    from them (``solve``) instead of running one regression per candidate.
    """

    def __init__(self, d: CPData, D: np.ndarray) -> None:
        F, y, w = d.F, d.y, d.w
        Fw = F * w[:, None]
        Dw = D * w[:, None]
        self.q = F.shape[1]
        self.n = y.size
        self.FF = F.T @ Fw
        self.Fy = Fw.T @ y
        self.yy = float(y @ (w * y))
        self.FD = Fw.T @ D
        self.DD = Dw.T @ D
        self.Dy = Dw.T @ y
        self.support = ((D > 0).sum(axis=0) >= d.min_rows_dd) & (Dw.sum(axis=0) >= MIN_TOTAL_DD)

    def solve(self, k1: np.ndarray, k2: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(beta (B, P), weighted SSE (B,), diag((X'WX)^-1) (B, P)) for candidate column indices."""
        q = self.q
        ks = [k1] if k2 is None else [k1, k2]
        B, P = len(k1), q + len(ks)
        G = np.empty((B, P, P))
        g = np.empty((B, P))
        G[:, :q, :q] = self.FF
        g[:, :q] = self.Fy
        for j, k in enumerate(ks):
            G[:, :q, q + j] = G[:, q + j, :q] = self.FD[:, k].T
            g[:, q + j] = self.Dy[k]
            for i, kk in enumerate(ks):
                G[:, q + i, q + j] = self.DD[kk, k]
        # Scale to unit diagonal before inverting; a tiny ridge guards exactly singular candidates (an
        # all-zero degree-day column), which fail the support test anyway.
        scale = np.maximum(np.abs(np.diagonal(G, axis1=1, axis2=2)), 1e-300)
        root = np.sqrt(scale[:, :, None] * scale[:, None, :])
        inv = np.linalg.inv(G / root + np.eye(P) * 1e-12) / root
        beta = np.einsum("bij,bj->bi", inv, g)
        sse = self.yy - np.einsum("bi,bi->b", beta, g)
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


_REJECT = {
    1: "too few days with degree-days at every candidate balance point (CalTRACK 2.0 §3.2)",
    2: "slope of the wrong sign at every qualifying balance point",
    3: "slope not significant (p ≥ 0.10) at every qualifying balance point (CalTRACK 2.0 §3.4)",
    4: "too few observations for the parameters",
}


def _best_many(
    blocks: _Blocks, groups: list[tuple[str, np.ndarray, np.ndarray | None]]
) -> dict[str, tuple[int | None, Any]]:
    """For each (form, k1, k2) group: (index of its qualifying candidate with the lowest SSE, SSE), or
    (None, rejection code). All groups have the same number of degree-day columns and are solved as one batch.
    """
    sizes = [len(k1) for _, k1, _ in groups]
    if sum(sizes) == 0:
        return {form: (None, 1) for form, _, _ in groups}
    k1 = np.concatenate([g[1] for g in groups])
    pair = groups[0][2] is not None
    k2 = np.concatenate([g[2] for g in groups]) if pair else None  # type: ignore[misc]
    with np.errstate(all="ignore"):
        beta, sse, dinv = blocks.solve(k1, k2)
    q, P = blocks.q, beta.shape[1]
    dof = blocks.n - P
    tcrit = t_two_sided(1.0 - SIGNIFICANCE, max(dof, 1))
    with np.errstate(all="ignore"):
        se = np.sqrt(np.maximum(dinv * (sse / max(dof, 1))[:, None], 0.0))
        t = np.where(se > 0, beta / np.where(se > 0, se, 1.0), np.inf * np.sign(beta))
    B = len(sse)
    four = np.concatenate([np.full(n, form == "4P") for (form, _, _), n in zip(groups, sizes, strict=True)])
    ok = np.ones(B, dtype=bool)
    reason = np.zeros(B, dtype=np.int8)  # 0 ok, 1 support, 2 sign, 3 significance

    def gate(cond: np.ndarray, code: int) -> None:
        nonlocal ok
        reason[~cond & ok] = code
        ok = ok & cond

    gate(blocks.support[k1] & (blocks.support[k2] if k2 is not None else True), 1)
    if pair:
        bh, bc = beta[:, q], beta[:, q + 1]
        # 4P: one change point, convex (slope rises through it), steeper slope significant.
        # 3PH, 3PC, 5P: every degree-day slope positive and significant.
        steep = np.where(np.abs(bh) >= np.abs(bc), np.abs(t[:, q]), np.abs(t[:, q + 1]))
        gate(np.where(four, (bh + bc) > 0, (bh > 0) & (bc > 0)), 2)
        gate(np.where(four, steep >= tcrit, (t[:, q] >= tcrit) & (t[:, q + 1] >= tcrit)), 3)
    else:
        gate(beta[:, q] > 0, 2)
        gate(t[:, q] >= tcrit, 3)
    out: dict[str, tuple[int | None, Any]] = {}
    start = 0
    for (form, _, _), n in zip(groups, sizes, strict=True):
        sl = slice(start, start + n)
        start += n
        okg = ok[sl]
        if n == 0:
            out[form] = (None, 1)
        elif not okg.any():
            codes = reason[sl][reason[sl] > 0]
            out[form] = (None, int(np.bincount(codes).argmax()) if codes.size else 1)
        else:
            i = int(np.flatnonzero(okg)[np.argmin(sse[sl][okg])])
            out[form] = (i, float(sse[sl][i]))
    return out


def _groups(forms: list[str], hb: list[np.ndarray] | np.ndarray, cb: list[np.ndarray] | np.ndarray,
            ho: dict[str, int] | int, co: dict[str, int] | int, kh_total: int):
    """Candidate index groups into D = [H | C] for each form: singles (3PH, 3PC) and pairs (4P, 5P)."""
    singles, pairs = [], []
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
    """Best qualifying candidate of each form: a 1 °C grid, then a 0.25 °C grid around each form's optimum.

    All change-point forms share the Gram blocks of one grid, so the search costs two block builds and
    at most four batched solves.
    """
    n = d.y.size
    names = list(d.fixed_names)
    out: dict[str, CPFit] = {}
    for form in forms:
        if form in ("mean", "2P"):
            X = d.F if form == "mean" else np.column_stack([d.F, d.row_temp])
            out[form] = _final(d, form, X, names + ([] if form == "mean" else ["temperature"]), None, None)
    cpf = [f for f in forms if N_BALANCE_POINTS.get(f, 0) > 0]
    if not cpf:
        return [out[f] for f in forms]
    # Balance points that leave fewer than min_rows_dd rows with degree-days cannot qualify: skip them.
    rt = np.sort(d.row_temp[np.isfinite(d.row_temp)])
    k = max(min(d.min_rows_dd, rt.size) - 1, 0)
    grid = _grid(d.day_temp[np.isfinite(d.day_temp)], COARSE_STEP)
    hg = grid[grid > rt[k] - COARSE_STEP] if rt.size else grid
    cg = grid[grid < rt[-k - 1] + COARSE_STEP] if rt.size else grid
    hg = hg if hg.size else grid[-1:]
    cg = cg if cg.size else grid[:1]
    coarse = _Blocks(d, np.hstack([d.dd("h", hg), d.dd("c", cg)]))
    singles, pairs = _groups(cpf, hg, cg, 0, 0, len(hg))
    res: dict[str, tuple[int | None, Any]] = {}
    for grp in (singles, pairs):
        if grp:
            res.update(_best_many(coarse, grp))
    found: dict[str, tuple[float | None, float | None]] = {}
    idx = {g[0]: g for g in singles + pairs}
    for form in cpf:
        i, code = res[form]
        if i is None:
            out[form] = CPFit(form, names, np.zeros(0), None, None, np.inf, n, float(d.w.sum()), False, _REJECT[code])
            continue
        _, k1, k2 = idx[form]
        v1 = hg[k1[i]] if k1[i] < len(hg) else cg[k1[i] - len(hg)]
        if form == "3PH":
            found[form] = (v1, None)
        elif form == "3PC":
            found[form] = (None, v1)
        else:
            found[form] = (v1, cg[k2[i] - len(hg)])  # type: ignore[index]
    if not found:
        return [out[f] for f in forms]
    # Fine grids of all forms side by side in one block build.
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
    fine = _Blocks(d, np.hstack([d.dd("h", hcat), d.dd("c", ccat)]))
    singles, pairs = _groups(list(found), fh, fc, ho, co, nh)
    res = {}
    for grp in (singles, pairs):
        if grp:
            res.update(_best_many(fine, grp))
    idx = {g[0]: g for g in singles + pairs}
    for form, (h0, c0) in found.items():
        i, sse = res[form]
        h, c = h0, c0
        if i is not None:
            _, k1, k2 = idx[form]
            if form == "3PH":
                h = hcat[k1[i]]
            elif form == "3PC":
                c = ccat[k1[i] - nh]
            else:
                h, c = hcat[k1[i]], ccat[k2[i] - nh]  # type: ignore[index]
        out[form] = _pending(d, form, None if h is None else float(h), None if c is None else float(c),
                             sse if i is not None else None)
    return [out[f] for f in forms]


def _pending(d: CPData, form: str, h: float | None, c: float | None, sse: float | None) -> CPFit:
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
    fit.extra["residual_variance"] = sse / max(n - P, 1)
    try:
        xtwx_inv = np.linalg.inv(X.T @ (X * d.w[:, None]))
        fit.cov = xtwx_inv * (sse / max(n - P, 1))
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
