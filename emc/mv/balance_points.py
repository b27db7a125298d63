"""Exact balance points of change-point models near the grid optimum (Hudson 1966, "Fitting segmented curves
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
qualification (support, physical sign, significance; :mod:`emc.mv.batched_lsq`) and the lowest qualifying
sum of squares wins. The grid search itself is :func:`emc.mv.changepoint.fit_forms` (docs/mv.md §1).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .batched_lsq import Blocks, Group, best_of_groups
from .changepoint import FINE_STEP, N_BALANCE_POINTS, CPData, CPFit, pending

EXACT_WINDOW = FINE_STEP  # °C either side of the grid optimum searched exactly (see _exact)

Point = tuple[float | None, float | None]  # (heating balance point, cooling balance point)
#: One batch of interval fits: (form, kind, bank columns, interval indices j per column group).
Job = tuple[str, str, tuple[np.ndarray, ...], tuple[np.ndarray, ...]]


def refine(fits: list[CPFit]) -> list[CPFit]:
    """The same candidates with their balance points solved exactly near the grid optimum (:func:`_exact`).

    Mean and 2P fits and candidates that did not qualify are returned as they are. The grid search ranks the
    structures (pooled, with working days, split by day type); the candidates of the structure chosen are then
    refined and the criterion applied again (:func:`emc.mv.structures.fit_change_point`), so the cost of the
    exact step is paid once or twice per fit, not for every structure tried.
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
            f = pending(d, f.form, h, c, sse)
            f.extra["exact"] = True
        out.append(f)
    return out


def _exact(d: CPData, found: dict[str, Point]) -> dict[str, tuple[float | None, float | None, float | None]]:
    """Continuous least-squares balance points near each grid optimum (module docstring).

    Returns per form (heating point, cooling point, weighted SSE), SSE None when nothing qualified.
    """
    t = d.day_temp
    fin = np.isfinite(t)
    U = np.unique(t[fin])
    if U.size < 3:
        return {f: (h, c, None) for f, (h, c) in found.items()}
    none = np.zeros(0, dtype=np.int64)
    wins = {form: (_window(U, h0) if h0 is not None else none, _window(U, c0) if c0 is not None else none)
            for form, (h0, c0) in found.items()}
    bank = _Bank(U, np.where(fin, t, 0.0)[:, None], fin[:, None])
    jobs = _interval_jobs(bank, wins)
    blocks = Blocks(d, d.agg(np.hstack(bank.parts).astype(float)))
    cand: dict[str, list[Point]] = {form: [hc] for form, hc in found.items()}
    _add_observed(cand, U, wins)
    with np.errstate(all="ignore"):
        _add_interior(cand, blocks, jobs, U)
    return _qualify(d, cand, found)


def _window(U: np.ndarray, center: float) -> np.ndarray:
    """Indices of the observed temperatures within ``EXACT_WINDOW`` of ``center``, plus one on each side."""
    lo = max(int(np.searchsorted(U, center - EXACT_WINDOW, "left")) - 1, 0)
    hi = min(int(np.searchsorted(U, center + EXACT_WINDOW, "right")) + 1, U.size)
    return np.arange(lo, hi)


class _Bank:
    """One bank of columns for every form: [t ≤ u_j] and t·[t ≤ u_j] for heating-side intervals,
    [t ≥ u_{j+1}] and t·[t ≥ u_{j+1}] for cooling-side ones, HDD/CDD at observed temperatures (5P's mixed
    cases). Each ``add`` returns the bank indices of the columns it appended."""

    def __init__(self, U: np.ndarray, tz: np.ndarray, finc: np.ndarray) -> None:
        self.U, self.tz, self.finc = U, tz, finc
        self.parts: list[np.ndarray] = []
        self.width = 0

    def add(self, m: np.ndarray) -> np.ndarray:
        self.parts.append(m)
        self.width += m.shape[1]
        return np.arange(self.width - m.shape[1], self.width)

    def below(self, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = (self.tz <= self.U[j][None, :]) & self.finc
        return self.add(m), self.add(self.tz * m)

    def above(self, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = (self.tz >= self.U[j + 1][None, :]) & self.finc
        return self.add(m), self.add(self.tz * m)


def _interval_jobs(bank: _Bank, wins: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[int, list[Job]]:
    """Bank columns of every interval fit, grouped by their number of bank columns (one batched solve each)."""
    U, tz, finc = bank.U, bank.tz, bank.finc
    jobs: dict[int, list[Job]] = {2: [], 3: [], 4: []}
    for form, (wh, wc) in wins.items():
        if form == "3PH":
            j = wh[:-1]
            jobs[2].append((form, "h", bank.below(j), (j,)))
        elif form == "3PC":
            j = wc[:-1]
            jobs[2].append((form, "c", bank.above(j), (j,)))
        elif form == "4P":
            j = wh[:-1]
            b0, b1 = bank.below(j)
            jobs[3].append((form, "b", (b0, b1, bank.above(j)[1]), (j,)))
        else:
            jh, jc = wh[:-1], wc[:-1]
            bb, bt = bank.below(jh)
            ab, at = bank.above(jc)
            hp = bank.add(np.maximum(U[wh][None, :] - tz, 0.0) * finc)
            cpt = bank.add(np.maximum(tz - U[wc][None, :], 0.0) * finc)
            ih, ic = np.nonzero(U[jh + 1][:, None] <= U[jc][None, :])  # interval × interval
            jobs[4].append((form, "hc", (bb[ih], bt[ih], ab[ic], at[ic]), (jh[ih], jc[ic])))
            ih, ic = np.nonzero(U[wh][:, None] <= U[jc][None, :])  # observed heating point × cooling interval
            jobs[3].append((form, "Pc", (hp[ih], ab[ic], at[ic]), (wh[ih], jc[ic])))
            ih, ic = np.nonzero(U[jh + 1][:, None] <= U[wc][None, :])  # heating interval × observed cooling point
            jobs[3].append((form, "hP", (bb[ih], bt[ih], cpt[ic]), (jh[ih], wc[ic])))
    return jobs


def _add_observed(cand: dict[str, list[Point]], U: np.ndarray, wins: dict[str, tuple[np.ndarray, np.ndarray]]
                  ) -> None:
    """Observed temperatures (the interval ends) in each window are candidates too."""
    for form, (wh, wc) in wins.items():
        if form == "3PH":
            cand[form] += [(float(x), None) for x in U[wh]]
        elif form == "3PC":
            cand[form] += [(None, float(x)) for x in U[wc]]
        elif form == "4P":
            cand[form] += [(float(x), float(x)) for x in U[wh]]
        else:
            ih, ic = np.nonzero(U[wh][:, None] < U[wc][None, :])
            cand[form] += list(zip(U[wh][ih].tolist(), U[wc][ic].tolist(), strict=True))


def _inside(U: np.ndarray, x: np.ndarray, j: np.ndarray) -> np.ndarray:
    return np.isfinite(x) & (x > U[j]) & (x < U[j + 1])


def _heating(b: np.ndarray, q: int, js: tuple[np.ndarray, ...], U: np.ndarray) -> list[Point]:
    """3PH: HDD = h·[t ≤ u_j] − t·[t ≤ u_j]."""
    hs = -b[:, q] / b[:, q + 1]
    ok = _inside(U, hs, js[0]) & (b[:, q + 1] < 0)
    return [(float(x), None) for x in hs[ok]]


def _cooling(b: np.ndarray, q: int, js: tuple[np.ndarray, ...], U: np.ndarray) -> list[Point]:
    """3PC: CDD = t·[t ≥ u_{j+1}] − c·[t ≥ u_{j+1}]."""
    cs = -b[:, q] / b[:, q + 1]
    ok = _inside(U, cs, js[0]) & (b[:, q + 1] > 0)
    return [(None, float(x)) for x in cs[ok]]


def _single_point(b: np.ndarray, q: int, js: tuple[np.ndarray, ...], U: np.ndarray) -> list[Point]:
    """4P: (βh + βc)·b·[t ≤ u_j] − βh·t·[t ≤ u_j] + βc·t·[t ≥ u_{j+1}] + const."""
    bh, bc = -b[:, q + 1], b[:, q + 2]
    bs = b[:, q] / (bh + bc)
    ok = _inside(U, bs, js[0]) & (bh > 0) & (bc > 0)
    return [(float(x), float(x)) for x in bs[ok]]


def _both_intervals(b: np.ndarray, q: int, js: tuple[np.ndarray, ...], U: np.ndarray) -> list[Point]:
    """5P, heating interval × cooling interval."""
    hs, cs = -b[:, q] / b[:, q + 1], -b[:, q + 2] / b[:, q + 3]
    ok = (_inside(U, hs, js[0]) & _inside(U, cs, js[1]) & (b[:, q + 1] < 0) & (b[:, q + 3] > 0)
          & (hs < cs))
    return list(zip(hs[ok].tolist(), cs[ok].tolist(), strict=True))


def _observed_heating(b: np.ndarray, q: int, js: tuple[np.ndarray, ...], U: np.ndarray) -> list[Point]:
    """5P, observed heating point × cooling interval."""
    cs = -b[:, q + 1] / b[:, q + 2]
    ok = _inside(U, cs, js[1]) & (b[:, q] > 0) & (b[:, q + 2] > 0)
    return list(zip(U[js[0][ok]].tolist(), cs[ok].tolist(), strict=True))


def _observed_cooling(b: np.ndarray, q: int, js: tuple[np.ndarray, ...], U: np.ndarray) -> list[Point]:
    """5P, heating interval × observed cooling point."""
    hs = -b[:, q] / b[:, q + 1]
    ok = _inside(U, hs, js[0]) & (b[:, q + 1] < 0) & (b[:, q + 2] > 0)
    return list(zip(hs[ok].tolist(), U[js[1][ok]].tolist(), strict=True))


#: Interior optimum of each kind of interval fit: balance points from the linear coefficients.
_INTERIOR: dict[str, Callable[[np.ndarray, int, tuple[np.ndarray, ...], np.ndarray], list[Point]]] = {
    "h": _heating, "c": _cooling, "b": _single_point, "hc": _both_intervals, "Pc": _observed_heating,
    "hP": _observed_cooling,
}


def _add_interior(cand: dict[str, list[Point]], blocks: Blocks, jobs: dict[int, list[Job]], U: np.ndarray) -> None:
    """Solve every interval fit (one batch per column count) and add the optima that fall inside their interval."""
    q = blocks.q
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
            cand[form] += _INTERIOR[kind](b, q, js, U)


def _qualify(d: CPData, cand: dict[str, list[Point]], found: dict[str, Point]
             ) -> dict[str, tuple[float | None, float | None, float | None]]:
    """Evaluate every candidate with the common qualification rules, all forms in one block build."""
    hv = np.unique(np.array([h for cs in cand.values() for h, _ in cs if h is not None], dtype=float))
    cv = np.unique(np.array([c for cs in cand.values() for _, c in cs if c is not None], dtype=float))
    final = Blocks(d, np.hstack([d.dd("h", hv), d.dd("c", cv)]))
    singles: list[Group] = []
    pairs: list[Group] = []
    for form, cs in cand.items():
        hs = np.array([h for h, _ in cs], dtype=float)
        cs_ = np.array([c for _, c in cs], dtype=float)
        if form == "3PH":
            singles.append((form, np.searchsorted(hv, hs), None))
        elif form == "3PC":
            singles.append((form, np.searchsorted(cv, cs_) + hv.size, None))
        else:
            pairs.append((form, np.searchsorted(hv, hs), np.searchsorted(cv, cs_) + hv.size))
    res = best_of_groups(final, singles, pairs)
    out: dict[str, tuple[float | None, float | None, float | None]] = {}
    for form, cs in cand.items():
        i, sse = res[form]
        if i is None:  # nothing qualifies near the optimum any more: keep the grid point's own verdict
            h0, c0 = found[form]
            out[form] = (h0, c0, None)
        else:
            h, c = cs[i]
            out[form] = (h, c, float(sse))
    return out
