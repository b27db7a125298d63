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
0.25 °C grid around the best candidate of each form, rank the candidates; :func:`refine` then solves the
balance points of the chosen structure's candidates exactly (least squares over the intervals between sorted
temperatures, Hudson 1966). For one candidate the fit is ordinary (weighted) least squares, so all candidates
are solved at once from Gram matrices built with a few matrix products (``_Blocks``). A candidate qualifies
when its heating and cooling slopes have their physical sign (both > 0, 4P included: a 4P that needs a
negative slope is compensating for a misplaced change point) and are significant at p < 0.10 (CalTRACK 2.0
§3.4 daily/billing model qualification; for 4P the steeper slope) and its degree-days have support: at least
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
EXACT_WINDOW = FINE_STEP  # °C either side of the grid optimum searched exactly (see _exact)
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

    def solve(self, k1: np.ndarray, k2: np.ndarray | None = None, *more: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(beta (B, P), weighted SSE (B,), diag((X'WX)^-1) (B, P)) for candidate column indices: candidate b
        uses the fixed columns and bank columns k1[b] (, k2[b], …)."""
        q = self.q
        ks = [k for k in (k1, k2, *more) if k is not None]
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
        # Physical signs for every form: heating use rises as it gets colder below the heating point, cooling
        # use as it gets warmer above the cooling point. A 4P fit that needs a negative slope on one side is
        # compensating for a misplaced change point, not describing the building: not a candidate.
        gate((bh > 0) & (bc > 0), 2)
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
    """Best qualifying candidate of each form on the grid: 1 °C, then 0.25 °C around each form's optimum
    (:func:`refine` then solves the chosen structure's balance points exactly).

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


# -- exact balance points ---------------------------------------------------------------------------
def refine(fits: list[CPFit]) -> list[CPFit]:
    """The same candidates with their balance points solved exactly near the grid optimum (:func:`_exact`).

    Mean and 2P fits and candidates that did not qualify are returned as they are. The grid search ranks the
    structures (pooled, with working days, split by day type); the candidates of the structure chosen are then
    refined and the criterion applied again (:func:`emc.mv.model.fit_baseline`), so the cost of the exact step
    is paid once or twice per fit, not for every structure tried.
    """
    todo = {f.form: f for f in fits if f.qualified and N_BALANCE_POINTS[f.form] > 0 and "pending" in f.extra}
    if not todo:
        return fits
    d = next(iter(todo.values())).extra["pending"]
    res = _exact(d, {form: (f.heating_bp, f.cooling_bp) for form, f in todo.items()})
    out = []
    for f in fits:
        if f.form in res and res[f.form][2] is not None:
            h, c, sse = res[f.form]
            f = _pending(d, f.form, h, c, sse)
            f.extra["exact"] = True
        out.append(f)
    return out


def _exact(d: CPData, found: dict[str, tuple[float | None, float | None]]
           ) -> dict[str, tuple[float | None, float | None, float | None]]:
    """Continuous least-squares balance points near each grid optimum (Hudson 1966, "Fitting segmented curves
    whose join points have to be estimated", J. Am. Stat. Assoc. 61:1097).

    Between two neighbouring observed temperatures u_j < u_{j+1} the set of days below a balance point h is
    fixed, so HDD(h) = h·[t ≤ u_j] − t·[t ≤ u_j] and the model is *linear* in (β0, βh·h, βh): one ordinary
    least-squares fit per interval gives the best h of that interval, h* = (βh·h)/βh, exact when it falls
    inside the interval. Otherwise the best h of the interval is one of its ends, an observed temperature,
    because the fitted sum of squares is unimodal in h on an interval. The same holds for cooling points,
    for the single change point of 4P (days above b are the complement of days below) and, pairwise, for
    the two points of 5P (interval × interval, interval × observed temperature and observed × observed).
    Billing rows use each bill's mean over its days of these columns, which keeps the model linear.

    The search looks within ``FINE_STEP`` (plus one observed temperature) of the grid optimum, then every
    candidate — observed temperatures, interior optima, and the grid point itself — goes through the same
    qualification (support, physical sign, significance) and the lowest qualifying sum of squares wins.
    Returns per form (heating point, cooling point, weighted SSE), SSE None when nothing qualified.
    """
    t = d.day_temp
    fin = np.isfinite(t)
    U = np.unique(t[fin])
    out: dict[str, tuple[float | None, float | None, float | None]] = {}
    if U.size < 3:
        return {f: (h, c, None) for f, (h, c) in found.items()}

    def window(center: float) -> np.ndarray:
        lo = max(int(np.searchsorted(U, center - EXACT_WINDOW, "left")) - 1, 0)
        hi = min(int(np.searchsorted(U, center + EXACT_WINDOW, "right")) + 1, U.size)
        return np.arange(lo, hi)

    tz = np.where(fin, t, 0.0)[:, None]
    finc = fin[:, None]
    # One bank of columns for every form: [t ≤ u_j] and t·[t ≤ u_j] for heating-side intervals, [t ≥ u_{j+1}]
    # and t·[t ≥ u_{j+1}] for cooling-side ones, HDD/CDD at observed temperatures (5P's mixed cases).
    parts: list[np.ndarray] = []
    width = 0

    def add(m: np.ndarray) -> np.ndarray:
        nonlocal width
        parts.append(m)
        width += m.shape[1]
        return np.arange(width - m.shape[1], width)

    def below(j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = (tz <= U[j][None, :]) & finc
        return add(m), add(tz * m)

    def above(j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = (tz >= U[j + 1][None, :]) & finc
        return add(m), add(tz * m)

    def inside(x: np.ndarray, j: np.ndarray) -> np.ndarray:
        return np.isfinite(x) & (x > U[j]) & (x < U[j + 1])

    wins = {form: (window(h0) if h0 is not None else np.zeros(0, dtype=np.int64),
                   window(c0) if c0 is not None else np.zeros(0, dtype=np.int64)) for form, (h0, c0) in found.items()}
    # Column index arrays, and the solves grouped by their number of bank columns (one batched solve each).
    jobs: dict[int, list[tuple[str, str, tuple[np.ndarray, ...], tuple[np.ndarray, ...]]]] = {2: [], 3: [], 4: []}
    for form, (wh, wc) in wins.items():
        if form == "3PH":
            j = wh[:-1]
            jobs[2].append((form, "h", below(j), (j,)))
        elif form == "3PC":
            j = wc[:-1]
            jobs[2].append((form, "c", above(j), (j,)))
        elif form == "4P":
            j = wh[:-1]
            b0, b1 = below(j)
            jobs[3].append((form, "b", (b0, b1, above(j)[1]), (j,)))
        else:
            jh, jc = wh[:-1], wc[:-1]
            bb, bt = below(jh)
            ab, at = above(jc)
            hp = add(np.maximum(U[wh][None, :] - tz, 0.0) * finc)
            cpt = add(np.maximum(tz - U[wc][None, :], 0.0) * finc)
            ih, ic = np.nonzero(U[jh + 1][:, None] <= U[jc][None, :])  # interval × interval
            jobs[4].append((form, "hc", (bb[ih], bt[ih], ab[ic], at[ic]), (jh[ih], jc[ic])))
            ih, ic = np.nonzero(U[wh][:, None] <= U[jc][None, :])  # observed heating point × cooling interval
            jobs[3].append((form, "Pc", (hp[ih], ab[ic], at[ic]), (wh[ih], jc[ic])))
            ih, ic = np.nonzero(U[jh + 1][:, None] <= U[wc][None, :])  # heating interval × observed cooling point
            jobs[3].append((form, "hP", (bb[ih], bt[ih], cpt[ic]), (jh[ih], wc[ic])))
    blocks = _Blocks(d, d.agg(np.hstack(parts).astype(float)))
    q = blocks.q
    cand: dict[str, list[tuple[float | None, float | None]]] = {form: [hc] for form, hc in found.items()}
    for form, (wh, wc) in wins.items():  # observed temperatures (interval ends) are candidates too
        if form == "3PH":
            cand[form] += [(float(x), None) for x in U[wh]]
        elif form == "3PC":
            cand[form] += [(None, float(x)) for x in U[wc]]
        elif form == "4P":
            cand[form] += [(float(x), float(x)) for x in U[wh]]
        else:
            ih, ic = np.nonzero(U[wh][:, None] < U[wc][None, :])
            cand[form] += list(zip(U[wh][ih].tolist(), U[wc][ic].tolist(), strict=True))
    with np.errstate(all="ignore"):
        for ncol, todo in jobs.items():
            todo = [job for job in todo if job[2][0].size]
            if not todo:
                continue
            cols = [np.concatenate([job[2][k] for job in todo]) for k in range(ncol)]
            beta = blocks.solve(*cols)[0]
            start = 0
            for form, kind, idx, js in todo:
                b = beta[start:start + idx[0].size]
                start += idx[0].size
                if kind == "h":  # 3PH: HDD = h·[t ≤ u_j] − t·[t ≤ u_j]
                    hs = -b[:, q] / b[:, q + 1]
                    ok = inside(hs, js[0]) & (b[:, q + 1] < 0)
                    cand[form] += [(float(x), None) for x in hs[ok]]
                elif kind == "c":  # 3PC: CDD = t·[t ≥ u_{j+1}] − c·[t ≥ u_{j+1}]
                    cs = -b[:, q] / b[:, q + 1]
                    ok = inside(cs, js[0]) & (b[:, q + 1] > 0)
                    cand[form] += [(None, float(x)) for x in cs[ok]]
                elif kind == "b":  # 4P: (βh + βc)·b·[t ≤ u_j] − βh·t·[t ≤ u_j] + βc·t·[t ≥ u_{j+1}] + const
                    bh, bc = -b[:, q + 1], b[:, q + 2]
                    bs = b[:, q] / (bh + bc)
                    ok = inside(bs, js[0]) & (bh > 0) & (bc > 0)
                    cand[form] += [(float(x), float(x)) for x in bs[ok]]
                elif kind == "hc":
                    hs, cs = -b[:, q] / b[:, q + 1], -b[:, q + 2] / b[:, q + 3]
                    ok = (inside(hs, js[0]) & inside(cs, js[1]) & (b[:, q + 1] < 0) & (b[:, q + 3] > 0)
                          & (hs < cs))
                    cand[form] += list(zip(hs[ok].tolist(), cs[ok].tolist(), strict=True))
                elif kind == "Pc":
                    cs = -b[:, q + 1] / b[:, q + 2]
                    ok = inside(cs, js[1]) & (b[:, q] > 0) & (b[:, q + 2] > 0)
                    cand[form] += list(zip(U[js[0][ok]].tolist(), cs[ok].tolist(), strict=True))
                else:  # "hP"
                    hs = -b[:, q] / b[:, q + 1]
                    ok = inside(hs, js[0]) & (b[:, q + 1] < 0) & (b[:, q + 2] > 0)
                    cand[form] += list(zip(hs[ok].tolist(), U[js[1][ok]].tolist(), strict=True))
    # Evaluate every candidate with the common qualification rules, all forms in one block build.
    hv = np.unique(np.array([h for cs in cand.values() for h, _ in cs if h is not None], dtype=float))
    cv = np.unique(np.array([c for cs in cand.values() for _, c in cs if c is not None], dtype=float))
    final = _Blocks(d, np.hstack([d.dd("h", hv), d.dd("c", cv)]))
    singles: list[tuple[str, np.ndarray, np.ndarray | None]] = []
    pairs: list[tuple[str, np.ndarray, np.ndarray | None]] = []
    for form, cs in cand.items():
        hs = np.array([h for h, _ in cs], dtype=float)
        cs_ = np.array([c for _, c in cs], dtype=float)
        if form == "3PH":
            singles.append((form, np.searchsorted(hv, hs), None))
        elif form == "3PC":
            singles.append((form, np.searchsorted(cv, cs_) + hv.size, None))
        else:
            pairs.append((form, np.searchsorted(hv, hs), np.searchsorted(cv, cs_) + hv.size))
    res: dict[str, tuple[int | None, Any]] = {}
    for grp in (singles, pairs):
        if grp:
            res.update(_best_many(final, grp))
    for form, cs in cand.items():
        i, sse = res[form]
        if i is None:  # nothing qualifies near the optimum any more: keep the grid point's own verdict
            h0, c0 = found[form]
            out[form] = (h0, c0, None)
        else:
            h, c = cs[i]
            out[form] = (h, c, float(sse))
    return out


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
