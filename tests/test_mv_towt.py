"""Time-of-week-and-temperature (Mathieu et al. 2011) recovers an hourly model drawn from its own form."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emc.mv import fit_baseline, savings
from emc.mv.simulated_meters import MeterSpec, daily_weather, hourly_meter, hourly_weather
from emc.mv.towt import KNOTS_C, components, merge_knots, time_of_week


def _hourly_truth(seed: int = 4) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    th = hourly_weather(daily_weather("2023-01-01", 365, rng), rng)
    tow, _ = time_of_week(th.index, "cn")
    alpha = 20.0 + 5.0 * np.sin(np.arange(168) / 168 * 2 * np.pi) ** 2
    occupied = (np.arange(168) % 24 >= 8) & (np.arange(168) % 24 < 18) & (np.arange(168) // 24 < 5)
    knots = merge_knots(th.to_numpy())
    nk = len(knots) + 1
    b_occ = np.linspace(-3.0, 4.0, nk)
    b_unocc = np.linspace(-1.0, 1.0, nk)
    comp = components(th.to_numpy(), knots)
    slopes = np.where(occupied[tow][:, None], b_occ, b_unocc)
    y = alpha[tow] + (comp * slopes).sum(axis=1) + 60.0 * occupied[tow]
    return pd.DataFrame({"usage": y, "temperature": th.to_numpy()}, index=th.index), alpha, occupied


def test_noise_free_towt_is_recovered_exactly() -> None:
    df, _, occupied = _hourly_truth()
    m = fit_baseline(df, granularity="hourly")
    assert m.model_type == "TOWT"
    assert m.metrics["cvrmse"] < 1e-9
    np.testing.assert_allclose(m.predict(df).to_numpy(), df["usage"].to_numpy(), rtol=1e-9)
    # occupancy found by the residual-sign rule matches the schedule on working days
    assert np.array_equal(np.asarray(m.towt["occupied"])[:120], occupied[:120])


def test_knots_are_caltrack_bins_in_celsius_and_sparse_bins_merge() -> None:
    assert KNOTS_C[0] == pytest.approx(-1.1111, abs=1e-4) and KNOTS_C[-1] == pytest.approx(32.2222, abs=1e-4)
    t = np.concatenate([np.full(100, 5.0), np.full(100, 20.0), np.full(5, 40.0)])
    # no hours below −1.1 °C or above 23.9 °C, none between 7.2 and 18.3 °C: two bins remain, split at 7.2 °C
    assert merge_knots(t) == [pytest.approx(KNOTS_C[1])]


def test_hourly_savings_recovered() -> None:
    rng = np.random.default_rng(12)
    t = daily_weather("2023-01-01", 731, rng)
    df = hourly_meter(MeterSpec(savings=0.12, noise_cv=0.03), hourly_weather(t, rng), rng,
                      reporting_start="2024-01-01")
    m = fit_baseline(df.loc[:"2023-12-31 23:00", ["usage", "temperature"]], granularity="hourly")
    assert m.gates["passed"]
    rep = df.loc["2024-01-01":]
    r = savings(m, rep[["usage", "temperature"]])
    true = 1 - rep["usage"].sum() / rep["counterfactual"].sum()
    assert r.total["savings_fraction"] == pytest.approx(true, abs=0.01)
    assert r.total["periods_settled"] == 12
