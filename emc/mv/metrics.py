"""Goodness-of-fit metrics, ASHRAE Guideline 14 acceptance gates, and Student-t quantiles (numpy only).

Definitions follow ASHRAE Guideline 14-2014 (§4 and Annex B), with ``p`` the number of *fitted*
parameters — regression coefficients plus every searched balance point (Kissock et al., RP-1050, count the
change point as a parameter; it is estimated from the same data, so it costs a degree of freedom):

* CV(RMSE) = sqrt(Σ w·(y − ŷ)² / Σ w · n / (n − p)) / ȳ_w   (unweighted: the G14 formula exactly)
* NMBE     = Σ w·(y − ŷ) / Σ w · n / (n − p) / ȳ_w            (G14 sign: positive = model under-predicts)
* R², adjusted R² = 1 − (1 − R²)(n − 1)/(n − p)
* lag-1 autocorrelation ρ of residuals over consecutive periods, and the effective number of independent
  observations n' = n (1 − ρ)/(1 + ρ) (G14-2014 Annex B; ρ ≤ 0 is not allowed to *inflate* n'). This n' is
  G14's; the headline savings interval uses ρ raised by its standard error (emc.mv.uncertainty, docs/mv.md §3).

Weights are the days in each period for billing data (usage per day of a bill of d days is a mean of d
days, so its variance is ∝ 1/d); daily and hourly data are unweighted.
"""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist
from typing import Any

import numpy as np

# Acceptance gates by granularity. Constants are data, with their source and status (docs/domain.md:
# [V] checked against a published source, [S] secondary source only, [K] common practice / our choice).
G14_GATES: dict[str, dict[str, Any]] = {
    "billing": {
        "cvrmse_max": 0.15,
        "nmbe_abs_max": 0.05,
        "source": "ASHRAE Guideline 14-2014 acceptance criteria for monthly data: CV(RMSE) ≤ 15 %, |NMBE| ≤ 5 %",
        "status": "V",
    },
    "daily": {
        "cvrmse_max": 0.25,
        "nmbe_abs_max": 0.10,
        "source": (
            "G14 sets no daily calibration limit. CV(RMSE) ≤ 25 %: G14 whole-building compliance for a baseline "
            "model with 12–60 months of post-retrofit data (G14-2002 §5.2.2.4, as quoted in secondary sources); "
            "|NMBE| ≤ 10 %: the hourly (interval-data) limit, our choice"
        ),
        "status": "S",
    },
    "hourly": {
        "cvrmse_max": 0.30,
        "nmbe_abs_max": 0.10,
        "source": "ASHRAE Guideline 14-2014 acceptance criteria for hourly data: CV(RMSE) ≤ 30 %, |NMBE| ≤ 10 %",
        "status": "V",
    },
}
#: Indicative only (not a gate): a weather-independent load can be modelled perfectly with a low R².
R2_INDICATIVE_MIN = 0.75
#: G14 whole-building compliance: savings uncertainty below 50 % of the savings at 68 % confidence.
FSU_MAX = 0.50
FSU_MAX_CONFIDENCE = 0.68


def lag1_autocorrelation(resid: np.ndarray, consecutive: np.ndarray | None = None) -> float:
    """Lag-1 autocorrelation of residuals; ``consecutive[i]`` says period i directly follows period i−1."""
    r = np.asarray(resid, dtype=float)
    if r.size < 3:
        return 0.0
    r = r - r.mean()
    den = float(r @ r)
    if den <= 0.0:
        return 0.0
    prod = r[1:] * r[:-1]
    if consecutive is not None:
        prod = prod[np.asarray(consecutive, dtype=bool)[1:]]
    return float(prod.sum() / den)


def effective_n(n: int, rho: float) -> float:
    """n' = n (1 − ρ)/(1 + ρ) (G14-2014 Annex B); a negative ρ is treated as 0 so n' never exceeds n."""
    rho = min(max(rho, 0.0), 0.999)
    return n * (1.0 - rho) / (1.0 + rho)


def fit_metrics(
    y: np.ndarray,
    yhat: np.ndarray,
    *,
    p: int,
    weights: np.ndarray | None = None,
    consecutive: np.ndarray | None = None,
) -> dict[str, float]:
    """The G14 statistics of a fit (see module docstring), as a plain dict of floats."""
    y = np.asarray(y, dtype=float)
    yhat = np.asarray(yhat, dtype=float)
    n = int(y.size)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    sw = float(w.sum())
    r = y - yhat
    ybar = float(w @ y / sw) if sw > 0 else float("nan")
    dof = n - p
    sse_w = float(w @ (r * r))
    sst_w = float(w @ ((y - ybar) ** 2))
    scale = n / dof if dof > 0 else float("nan")
    rmse = math.sqrt(sse_w / sw * scale) if dof > 0 and sw > 0 else float("nan")
    bias = float(w @ r) / sw * scale if dof > 0 and sw > 0 else float("nan")
    r2 = 1.0 - sse_w / sst_w if sst_w > 0 else float("nan")
    adj = 1.0 - (1.0 - r2) * (n - 1) / dof if dof > 0 and sst_w > 0 else float("nan")
    rho = lag1_autocorrelation(r, consecutive)
    return {
        "n": float(n),
        "p": float(p),
        "dof": float(dof),
        "mean": ybar,
        "rmse": rmse,
        "cvrmse": rmse / ybar if ybar else float("nan"),
        "nmbe": bias / ybar if ybar else float("nan"),
        "r2": r2,
        "adj_r2": adj,
        "autocorr_lag1": rho,
        "n_effective": effective_n(n, rho),
        "sse": sse_w,
    }


def gates(metrics: dict[str, float], granularity: str) -> dict[str, Any]:
    """ASHRAE G14 acceptance gates for ``granularity`` evaluated on ``metrics`` (plain data, shown with every model)."""
    g = G14_GATES[granularity]
    cv, nmbe = metrics.get("cvrmse", float("nan")), metrics.get("nmbe", float("nan"))
    cv_ok = bool(np.isfinite(cv) and cv <= g["cvrmse_max"])
    nmbe_ok = bool(np.isfinite(nmbe) and abs(nmbe) <= g["nmbe_abs_max"])
    r2 = metrics.get("r2", float("nan"))
    return {
        "granularity": granularity,
        "cvrmse": cv,
        "cvrmse_max": g["cvrmse_max"],
        "cvrmse_pass": cv_ok,
        "nmbe": nmbe,
        "nmbe_abs_max": g["nmbe_abs_max"],
        "nmbe_pass": nmbe_ok,
        "passed": cv_ok and nmbe_ok,
        "r2": r2,
        "r2_indicative_min": R2_INDICATIVE_MIN,
        "source": g["source"],
        "status": g["status"],
    }


# -- Student t, without scipy ------------------------------------------------------------------------
def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction for the incomplete beta function (modified Lentz; Numerical Recipes §6.4)."""
    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        de = d * c
        h *= de
        if abs(de - 1.0) < eps:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    lbt = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(lbt) * _betacf(a, b, x) / a
    return 1.0 - math.exp(lbt) * _betacf(b, a, 1.0 - x) / b


def student_t_cdf(t: float, df: float) -> float:
    """P(T ≤ t) for Student's t with ``df`` (real, > 0) degrees of freedom."""
    if df <= 0:
        raise ValueError("degrees of freedom must be positive")
    x = df / (df + t * t)
    tail = 0.5 * _betainc(df / 2.0, 0.5, x)
    return 1.0 - tail if t >= 0 else tail


def _t_pdf(t: float, df: float) -> float:
    return math.exp(math.lgamma((df + 1.0) / 2.0) - math.lgamma(df / 2.0) - 0.5 * math.log(df * math.pi)
                    - (df + 1.0) / 2.0 * math.log1p(t * t / df))


@lru_cache(maxsize=8192)
def student_t_ppf(q: float, df: float) -> float:
    """Quantile of Student's t (|error| < 1e-12): Newton's method on the CDF from the normal quantile, kept
    inside a bracket that a bisection step shrinks whenever Newton would leave it (Numerical Recipes §9.4,
    rtsafe). About six CDF evaluations where plain bisection took ~46: each reporting span's uncertainty asks
    for its own degrees of freedom, so this ran for every contract of a month's settlement."""
    if not 0.0 < q < 1.0:
        raise ValueError("q must lie in (0, 1)")
    if q < 0.5:
        return -student_t_ppf(1.0 - q, df)
    lo, hi = 0.0, 1.0
    while student_t_cdf(hi, df) < q:
        lo, hi = hi, hi * 2.0
        if hi > 1e12:
            return hi
    x = NormalDist().inv_cdf(q)  # below the root (t's tails are heavier than the normal's)
    if not lo < x < hi:
        x = 0.5 * (lo + hi)
    for _ in range(200):
        f = student_t_cdf(x, df) - q
        if f < 0:
            lo = x
        else:
            hi = x
        step = f / _t_pdf(x, df)
        nxt = x - step
        if not lo < nxt < hi:
            nxt = 0.5 * (lo + hi)
        if abs(nxt - x) < 1e-14 * max(1.0, abs(x)) or hi - lo < 1e-13 * max(1.0, hi):
            return nxt
        x = nxt
    return 0.5 * (lo + hi)


def t_two_sided(confidence: float, df: float) -> float:
    """The t-statistic for a two-sided interval at ``confidence`` (e.g. 0.68 → ≈1.0, 0.90 → ≈1.645 for large df)."""
    return student_t_ppf(0.5 + confidence / 2.0, max(df, 1.0))
