"""Time-of-week-and-temperature (TOWT) model for hourly data (Mathieu, Price, Kiliccote & Piette 2011,
"Quantifying changes in building electricity use, with application to demand response", IEEE Trans. Smart
Grid 2(3); the CalTRACK 2.0 hourly method builds on it).

usage_h = α[tow(h)] + Σ_j β_j^{occ(tow)} · Tc_j(h)

* ``tow`` is one of 168 hours of the week. The day type comes from the Chinese official calendar: a public
  holiday on a weekday is operated like a Sunday, an adjusted working weekend (调休) like a Wednesday.
* ``Tc_j`` are the piecewise-linear temperature components of Mathieu et al. (eq. 2) between knots; the knots
  are CalTRACK's hourly bin edges 30, 45, 55, 65, 75, 90 °F expressed in °C, and a bin holding fewer than
  20 baseline hours is merged into its neighbour (CalTRACK 2.0 §4).
* Occupancy (Mathieu et al. §II-B): a preliminary temperature-only regression is fitted; a time-of-week
  is "occupied" when more than 65 % of its residuals are positive. Occupied and unoccupied hours get
  separate temperature slopes.

CalTRACK's three-month weighted segmentation is not implemented: one model covers the baseline year.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .calendar import day_types
from .warning import INFO, MVWarning

KNOTS_F = (30.0, 45.0, 55.0, 65.0, 75.0, 90.0)
KNOTS_C = tuple(round((f - 32.0) / 1.8, 4) for f in KNOTS_F)
MIN_HOURS_PER_BIN = 20
OCCUPANCY_THRESHOLD = 0.65


def time_of_week(index: pd.DatetimeIndex, calendar: str) -> tuple[np.ndarray, list[MVWarning]]:
    """Hour-of-week 0..167 (day type × 24 + hour) for hourly timestamps in local time."""
    local = index.tz_localize(None) if index.tz is not None else index
    v = local.values
    days = v.astype("datetime64[D]")
    hours = (v.astype("datetime64[h]") - days).astype(np.int64)
    types, warnings = day_types(days, calendar)
    return types * 24 + hours, warnings


def merge_knots(temp: np.ndarray, knots: tuple[float, ...] = KNOTS_C) -> list[float]:
    """Drop knots so every temperature bin holds at least MIN_HOURS_PER_BIN baseline hours."""
    t = temp[np.isfinite(temp)]
    k = list(knots)
    while k and (t < k[0]).sum() < MIN_HOURS_PER_BIN:
        k.pop(0)
    while k and (t >= k[-1]).sum() < MIN_HOURS_PER_BIN:
        k.pop()
    i = 0
    while i < len(k) - 1:
        if ((t >= k[i]) & (t < k[i + 1])).sum() < MIN_HOURS_PER_BIN:
            k.pop(i + 1)
        else:
            i += 1
    return k


def components(temp: np.ndarray, knots: list[float]) -> np.ndarray:
    """Piecewise-linear temperature components Tc_1..Tc_{K+1} (Mathieu et al. 2011, eq. 2); sum equals T."""
    t = temp[:, None]
    if not knots:
        return t.copy()
    k = np.asarray(knots)
    lower = np.concatenate([[-np.inf], k])
    upper = np.concatenate([k, [np.inf]])
    base = np.concatenate([[0.0], k])
    out = np.clip(t, lower, upper) - base
    out[:, 0] = np.minimum(temp, k[0])
    return out


@dataclass
class TOWTFit:
    knots: list[float]
    alpha: np.ndarray  # (168,) intercept per time of week
    occupied: np.ndarray  # (168,) bool
    beta_occ: np.ndarray  # (K+1,)
    beta_unocc: np.ndarray  # (K+1,)
    n_params: int
    warnings: list[MVWarning]


def design(tow: np.ndarray, temp: np.ndarray, knots: list[float], occupied: np.ndarray) -> np.ndarray:
    comp = components(temp, knots)
    occ = occupied[tow][:, None]
    onehot = np.zeros((tow.size, 168))
    onehot[np.arange(tow.size), tow] = 1.0
    return np.hstack([onehot, comp * occ, comp * ~occ])


def fit(tow: np.ndarray, temp: np.ndarray, y: np.ndarray) -> TOWTFit:
    """Fit TOWT on valid hours (all arrays already filtered to valid rows)."""
    warnings: list[MVWarning] = []
    knots = merge_knots(temp)
    comp = components(temp, knots)
    # Occupancy: residual sign frequency per time of week of a temperature-only fit (Mathieu et al. §II-B).
    X0 = np.column_stack([np.ones(y.size), comp])
    try:
        b0 = np.linalg.solve(X0.T @ X0, X0.T @ y)
    except np.linalg.LinAlgError:
        b0 = np.linalg.lstsq(X0, y, rcond=None)[0]
    pos = (y - X0 @ b0) > 0
    counts = np.bincount(tow, minlength=168).astype(float)
    share = np.bincount(tow, weights=pos.astype(float), minlength=168) / np.maximum(counts, 1.0)
    occupied = share > OCCUPANCY_THRESHOLD
    # Normal equations from the block structure [one-hot(tow) | Z]: the one-hot block is diagonal, so
    # X'X costs a few bincounts instead of an (n × 182) product.
    occ = occupied[tow][:, None]
    Z = np.hstack([comp * occ, comp * ~occ])
    nk2 = Z.shape[1]
    G = np.zeros((168 + nk2, 168 + nk2))
    G[np.arange(168), np.arange(168)] = counts
    TZ = np.stack([np.bincount(tow, weights=Z[:, j], minlength=168) for j in range(nk2)], axis=1)
    G[:168, 168:] = TZ
    G[168:, :168] = TZ.T
    G[168:, 168:] = Z.T @ Z
    g = np.concatenate([np.bincount(tow, weights=y, minlength=168), Z.T @ y])
    keep = np.concatenate([counts > 0, np.abs(Z).sum(axis=0) > 0])
    Gk = G[np.ix_(keep, keep)]
    try:
        b = np.linalg.solve(Gk, g[keep])
    except np.linalg.LinAlgError:
        b = np.linalg.lstsq(Gk, g[keep], rcond=None)[0]
    full = np.zeros(168 + nk2)
    full[keep] = b
    nk = comp.shape[1]
    alpha = full[:168]
    empty = counts == 0
    if empty.any():
        # A time of week never seen in the baseline borrows the mean intercept of the same hour of day.
        hours = np.arange(168) % 24
        for tw in np.flatnonzero(empty):
            same = (~empty) & (hours == hours[tw])
            alpha[tw] = alpha[same].mean() if same.any() else alpha[~empty].mean()
        warnings.append(
            MVWarning(
                "towt_empty_time_of_week",
                f"{int(empty.sum())} hour(s) of the week have no baseline data; their intercept is the mean of "
                "the same hour on other days",
                INFO,
                value=float(empty.sum()),
            )
        )
    return TOWTFit(knots, alpha, occupied, full[168 : 168 + nk], full[168 + nk :], int(keep.sum()), warnings)


def predict(fit_: TOWTFit, tow: np.ndarray, temp: np.ndarray) -> np.ndarray:
    comp = components(temp, fit_.knots)
    occ = fit_.occupied[tow]
    out = fit_.alpha[tow]
    # column by column in a fixed order (no BLAS, no pairwise reductions): bit-identical everywhere
    for j in range(comp.shape[1]):
        out = out + comp[:, j] * np.where(occ, fit_.beta_occ[j], fit_.beta_unocc[j])
    return out
