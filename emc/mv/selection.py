"""Model selection: the stated criterion, applied to the candidates that qualify.

Criterion: the Bayesian information criterion of the (weighted) fit,

    BIC = n · ln(SSE_w / Σw) + p · ln(n),

with p counting coefficients *and* searched balance points. The candidate with the lowest BIC wins, except
that a simpler candidate (fewer parameters) is preferred when its BIC is within ``DELTA_BIC`` = 2 of the
lowest: a difference below 2 is "not worth more than a bare mention" (Kass & Raftery 1995, J. Am. Stat.
Assoc. 90:773), so the more complex model has not improved the fit meaningfully. BIC rather than adjusted
R² because adjusted R² keeps rewarding extra balance points on a year of daily data; CalTRACK 2.0 uses
adjusted R² among qualifying daily candidates, which is reported alongside for comparison.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

DELTA_BIC = 2.0


def bic(sse_w: float, sum_w: float, n: int, p: int) -> float:
    if sse_w <= 0 or sum_w <= 0:
        # A perfect fit: rank by parameter count alone (more parameters, worse).
        return -1e300 + p
    return n * math.log(sse_w / sum_w) + p * math.log(n)


@dataclass
class Candidate:
    """A model candidate as shown in the selection report."""

    name: str  # e.g. "5P + workday", "split: 5P | 3PH"
    p: int
    sse: float
    bic: float
    adj_r2: float
    qualified: bool
    rejection: str = ""
    payload: Any = None  # the fitted object; not serialised

    def row(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "p": self.p,
            "bic": None if not math.isfinite(self.bic) else self.bic,
            "adj_r2": None if not math.isfinite(self.adj_r2) else self.adj_r2,
            "qualified": self.qualified,
            "rejection": self.rejection,
        }


def select(candidates: list[Candidate]) -> tuple[Candidate | None, str]:
    """The chosen candidate and the reason, in words."""
    ok = [c for c in candidates if c.qualified and math.isfinite(c.bic)]
    if not ok:
        return None, "no candidate qualified"
    best = min(ok, key=lambda c: (c.bic, c.p))
    near = [c for c in ok if c.bic <= best.bic + DELTA_BIC]
    chosen = min(near, key=lambda c: (c.p, c.bic))
    if chosen is best:
        runner = [c for c in ok if c is not best]
        nxt = min(runner, key=lambda c: c.bic) if runner else None
        tail = f"; next {nxt.name} (BIC {nxt.bic:.1f}, p={nxt.p})" if nxt else ""
        reason = f"{best.name} has the lowest BIC ({best.bic:.1f}, p={best.p}){tail}"
    else:
        reason = (
            f"{chosen.name} (BIC {chosen.bic:.1f}, p={chosen.p}) is within ΔBIC ≤ {DELTA_BIC:g} of {best.name} "
            f"(BIC {best.bic:.1f}, p={best.p}) with fewer parameters: the more complex model does not improve "
            "the fit meaningfully"
        )
    return chosen, reason
