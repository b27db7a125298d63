"""Uncertainty of savings: the headline interval and ASHRAE Guideline 14-2014 Annex B beside it.

The headline interval is one whose stated coverage is its real coverage (docs/mv.md §3 has the
derivation and the measured coverage). For change-point models it is the prediction-variance ("covariance")
form of the savings over the m reporting points (Reddy & Claridge 2000; ASHRAE G14-2014 Annex B's matrix
form; Kissock et al. RP-1050):

    U = t · sqrt( (n/n'') · ( s'·Cov(β)·s + σ²·Σ days ) ),   s = Σ over reporting rows of days·x

The first term is the error of the fitted coefficients, shared by every reporting day (it does not average
out over a year); the second the day-to-day scatter. σ² and Cov(β) are on n − p degrees of freedom with the
balance points counted as parameters. n'' = n(1 − ρ⁺)/(1 + ρ⁺) uses the lag-1 autocorrelation raised by its
standard error, ρ⁺ = ρ̂ + sqrt((1 − ρ̂²)/n): ρ̂ of a year of residuals runs low (it is biased towards 0
and uncertain by about that much), and an n' that is too large makes every interval too narrow. t is
Student's t at the confidence level with n'' − p degrees of freedom. For the hourly TOWT model, which
stores no covariance (182 coefficients), the same two terms are approximated by

    U = t · CV · Ê · sqrt( (n/n'') · (1 + m/n) / m )

(the level error of a mean over n points carried over m reporting points, plus m points of scatter; Ê the
adjusted baseline, CV the baseline CV(RMSE)); it tracked the covariance form within 1 pp of coverage on
daily meters. Non-routine adjustments are taken as exact (their uncertainty is not modelled).

The ASHRAE Guideline 14-2014 Annex B figure (after Reddy & Claridge 2000) is reported beside it
(``uncertainty_g14_*``, ``fsu_g14_*``) for compliance:

    U_G14 = t · 1.26 · CV · sqrt( (n/n') · (1 + 2/n') / m ) · E_adjusted_baseline,  n' from ρ̂ itself

G14 whole-building compliance asks for FSU = U_G14 / savings < 50 % at 68 % confidence (``compliant``).
Its 1.26·(1 + 2/n') term treats the model's level error as independent from day to day, so over a year of
daily data the G14 interval is about 11 % too narrow: it held the true savings for 56–66 % of meters at a
stated 68 % (docs/mv.md §3), which is why it is not the headline.
"""

from __future__ import annotations

import math

import numpy as np

from .metrics import effective_n, t_two_sided
from .model import BaselineModel

G14_FACTOR = 1.26


def savings_uncertainty(
    *, cvrmse: float, n: float, n_effective: float, m: float, p: float, adjusted_baseline: float, confidence: float
) -> float:
    """ASHRAE G14-2014 Annex B absolute savings uncertainty at ``confidence`` (see module docstring)."""
    if m <= 0 or not math.isfinite(cvrmse):
        return float("nan")
    t = t_two_sided(confidence, n_effective - p)
    return t * G14_FACTOR * cvrmse * math.sqrt((n / n_effective) * (1.0 + 2.0 / n_effective) / m) * adjusted_baseline


def fractional_savings_uncertainty(
    *, cvrmse: float, n: float, n_effective: float, m: float, p: float, savings_fraction: float, confidence: float
) -> float:
    """G14 FSU = t·1.26·CV·sqrt((n/n')(1 + 2/n')/m) / F, with F the savings fraction of the adjusted baseline."""
    if savings_fraction == 0:
        return float("inf")
    u = savings_uncertainty(cvrmse=cvrmse, n=n, n_effective=n_effective, m=m, p=p, adjusted_baseline=1.0,
                            confidence=confidence)
    return u / abs(savings_fraction)


def raised_autocorrelation(rho: float, n: float) -> float:
    """ρ⁺ = ρ̂ + sqrt((1 − ρ̂²)/n): the lag-1 autocorrelation raised by its standard error (see module docstring)."""
    if not (math.isfinite(rho) and n > 0):
        return float("nan")
    return rho + math.sqrt(max(1.0 - rho * rho, 0.0) / n)


def level_noise_uncertainty(
    *, cvrmse: float, n: float, n_effective: float, m: float, p: float, adjusted_baseline: float, confidence: float
) -> float:
    """U = t·CV·Ê·sqrt((n/n'')(1 + m/n)/m): the covariance form's two terms for a model without a stored
    covariance (hourly TOWT); ``n_effective`` is n'' from the raised autocorrelation."""
    if m <= 0 or not math.isfinite(cvrmse) or not n_effective > 0:
        return float("nan")
    t = t_two_sided(confidence, n_effective - p)
    return t * cvrmse * abs(adjusted_baseline) * math.sqrt((n / n_effective) * (1.0 + m / n) / m)


class SavingsUncertainty:
    """The headline and the G14 Annex B uncertainty of savings under one baseline model (module docstring).

    ``n_raised`` is n'' from the lag-1 autocorrelation raised by its standard error; ``inflation`` is n/n''.
    A disqualified baseline has no uncertainty (NaN).
    """

    def __init__(self, model: BaselineModel, disqualified: bool) -> None:
        mm = model.metrics
        self.disqualified = disqualified
        self.n, self.n_eff = mm.get("n", np.nan), mm.get("n_effective", np.nan)
        self.p, self.cv = mm.get("p", np.nan), mm.get("cvrmse", np.nan)
        self.rho_raised = raised_autocorrelation(mm.get("autocorr_lag1", np.nan), self.n)
        self.n_raised = (effective_n(int(self.n), self.rho_raised)
                         if math.isfinite(self.rho_raised) and math.isfinite(self.n) else float("nan"))
        self.inflation = self.n / self.n_raised if math.isfinite(self.n_raised) and self.n_raised > 0 else float("nan")

    def g14(self, m: float, base: float, conf: float) -> float:
        """G14 Annex B absolute uncertainty of savings over ``m`` reporting points with adjusted baseline ``base``."""
        if self.disqualified or not math.isfinite(self.n_eff) or m <= 0:
            return float("nan")
        return savings_uncertainty(cvrmse=self.cv, n=self.n, n_effective=self.n_eff, m=m, p=self.p,
                                   adjusted_baseline=base, confidence=conf)

    def headline(self, var: float, m: float, base: float, conf: float) -> float:
        """The headline uncertainty: from the prediction variance ``var`` where the model stores a covariance,
        else the level + scatter form (TOWT)."""
        if self.disqualified or not math.isfinite(self.n_raised) or m <= 0:
            return float("nan")
        if math.isfinite(var):
            return t_two_sided(conf, self.n_raised - self.p) * math.sqrt(self.inflation * var)
        return level_noise_uncertainty(cvrmse=self.cv, n=self.n, n_effective=self.n_raised, m=m, p=self.p,
                                       adjusted_baseline=base, confidence=conf)

    def t(self, conf: float) -> float:
        """Student's t of the headline interval (n'' − p degrees of freedom)."""
        return t_two_sided(conf, self.n_raised - self.p) if math.isfinite(self.n_raised) else float("nan")
