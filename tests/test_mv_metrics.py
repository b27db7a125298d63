"""G14 statistics, Student-t quantiles and the fractional savings uncertainty, checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emc.mv import G14_GATES, fractional_savings_uncertainty
from emc.mv.metrics import effective_n, fit_metrics, gates, lag1_autocorrelation, t_two_sided


def test_fit_metrics_by_hand() -> None:
    y = np.array([10.0, 12.0, 14.0, 16.0])
    yhat = np.array([9.0, 11.0, 15.0, 17.0])  # residuals 1, 1, -1, -1
    m = fit_metrics(y, yhat, p=2)
    # SSE = 4, n - p = 2 -> RMSE = sqrt(2); mean 13
    assert m["rmse"] == pytest.approx(math.sqrt(2.0))
    assert m["cvrmse"] == pytest.approx(math.sqrt(2.0) / 13.0)
    assert m["nmbe"] == pytest.approx(0.0)
    # SST = 9 + 1 + 1 + 9 = 20 -> R² = 0.8; adjusted 1 - 0.2 * 3 / 2 = 0.7
    assert m["r2"] == pytest.approx(0.8)
    assert m["adj_r2"] == pytest.approx(0.7)
    # lag-1: (1*1 + 1*(-1) + (-1)*(-1)) / 4 = 0.25; n' = 4 * 0.75 / 1.25 = 2.4
    assert m["autocorr_lag1"] == pytest.approx(0.25)
    assert m["n_effective"] == pytest.approx(2.4)


def test_nmbe_sign_and_weights() -> None:
    y = np.array([10.0, 10.0, 10.0])
    m = fit_metrics(y, np.array([9.0, 9.0, 9.0]), p=1, weights=np.array([30.0, 31.0, 29.0]))
    # G14: NMBE = Σ(y - ŷ) / ((n - p) ȳ): under-prediction is positive; 1 * 3 / 2 / 10
    assert m["nmbe"] == pytest.approx(0.15)


def test_autocorrelation_skips_non_consecutive_pairs_and_negative_rho_does_not_inflate_n() -> None:
    r = np.array([1.0, 1.0, -1.0, -1.0])
    assert lag1_autocorrelation(r, np.array([False, True, False, True])) == pytest.approx(0.5)
    assert effective_n(100, -0.3) == 100


def test_student_t_against_tables() -> None:
    assert t_two_sided(0.90, 6) == pytest.approx(1.943180, abs=1e-6)
    assert t_two_sided(0.90, 20) == pytest.approx(1.724718, abs=1e-6)
    assert t_two_sided(0.95, 3) == pytest.approx(3.182446, abs=1e-6)
    assert t_two_sided(0.68, 20) == pytest.approx(1.019804, abs=1e-5)
    assert t_two_sided(0.90, 1e7) == pytest.approx(1.644854, abs=1e-5)


def test_fractional_savings_uncertainty_by_hand() -> None:
    """ASHRAE G14-2014 Annex B: FSU = t · 1.26 · CV · sqrt((n/n')(1 + 2/n')/m) / F.

    Monthly baseline, n = 12 bills, lag-1 autocorrelation ρ = 0.2, p = 2 parameters, CV(RMSE) = 5 %,
    m = 12 reporting months, savings fraction F = 10 %, 90 % confidence:
      n'          = 12 · (1 − 0.2)/(1 + 0.2)          = 8
      t           = t(0.95, n' − p = 6)               = 1.943180   (two-sided 90 %, from tables)
      n/n'        = 1.5;  1 + 2/n' = 1.25;  (1.5 · 1.25)/12 = 0.15625;  sqrt = 0.3952847
      1.26 · 0.05 · 0.3952847 = 0.02490294;  / F = 0.2490294
      FSU         = 1.943180 · 0.2490294              = 0.483909
    """
    n_eff = effective_n(12, 0.2)
    assert n_eff == pytest.approx(8.0)
    fsu = fractional_savings_uncertainty(cvrmse=0.05, n=12, n_effective=n_eff, m=12, p=2, savings_fraction=0.10,
                                         confidence=0.90)
    assert fsu == pytest.approx(0.483909, abs=2e-6)


def test_gates_by_granularity() -> None:
    assert G14_GATES["billing"]["cvrmse_max"] == 0.15 and G14_GATES["billing"]["nmbe_abs_max"] == 0.05
    assert G14_GATES["hourly"]["cvrmse_max"] == 0.30 and G14_GATES["hourly"]["nmbe_abs_max"] == 0.10
    g = gates({"cvrmse": 0.2, "nmbe": 0.0, "r2": 0.9}, "daily")
    assert g["passed"] and g["cvrmse_max"] == 0.25 and g["source"]
    g = gates({"cvrmse": 0.2, "nmbe": 0.0, "r2": 0.9}, "billing")
    assert not g["passed"] and not g["cvrmse_pass"] and g["nmbe_pass"]
