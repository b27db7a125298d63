"""Batched weighted least squares for change-point candidates: every candidate balance point of a grid solved
at once from shared Gram blocks, then qualified by the CalTRACK 2.0 rules.

For one candidate the fit is ordinary (weighted) least squares, so all candidates are solved from Gram matrices
built with a few matrix products (:class:`Blocks`) instead of one regression each. A candidate qualifies when
its degree-days have support — at least ``min_rows_dd`` rows with non-zero degree-days and at least
20 °F·days (≈ 11.1 °C·days) in total (CalTRACK 2.0 §3.2 balance-point search constraints) — its heating and
cooling slopes have their physical sign, and they are significant at p < 0.10 (CalTRACK 2.0 §3.4; for 4P the
steeper slope). Used by the grid search (:mod:`emc.mv.changepoint`) and the exact step
(:mod:`emc.mv.balance_points`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .metrics import t_two_sided

if TYPE_CHECKING:
    from .changepoint import CPData

MIN_TOTAL_DD = 20.0 / 1.8  # CalTRACK 2.0: 20 °F·day of degree-days over the baseline, in °C·day
SIGNIFICANCE = 0.10  # CalTRACK 2.0: slopes must be significant at p < 0.1
#: A group of candidates of one form: (form, first bank column per candidate, second bank column or None).
Group = tuple[str, np.ndarray, np.ndarray | None]


class Blocks:
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


def best_many(
    blocks: Blocks, groups: list[Group]
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


def best_of_groups(blocks: Blocks, singles: list[Group], pairs: list[Group]) -> dict[str, tuple[int | None, Any]]:
    """:func:`best_many` over the single-column groups (3PH, 3PC) and the two-column groups (4P, 5P)."""
    res: dict[str, tuple[int | None, Any]] = {}
    for grp in (singles, pairs):
        if grp:
            res.update(best_many(blocks, grp))
    return res
