"""Change-point baselines recover the models they were drawn from (ASHRAE RP-1050 forms, CalTRACK billing)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emc.mv import fit_baseline
from emc.mv.simulated_meters import bills_from_daily, daily_weather

YEAR = pd.date_range("2023-01-01", periods=365, freq="D")


def _temps(seed: int = 3) -> pd.Series:
    return daily_weather("2023-01-01", 365, np.random.default_rng(seed))


def _frame(usage: np.ndarray, t: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({"usage": usage, "temperature": t.to_numpy()}, index=t.index)


TRUE = {  # form -> (usage/day as a function of T, expected coefficients, heating bp, cooling bp)
    "mean": (lambda t: np.full(t.size, 800.0), {"intercept": 800.0}, None, None),
    "2P": (lambda t: 300.0 + 25.0 * t, {"intercept": 300.0, "temperature": 25.0}, None, None),
    "3PH": (lambda t: 500.0 + 30.0 * np.maximum(15.0 - t, 0), {"intercept": 500.0, "heating_slope": 30.0}, 15.0, None),
    "3PC": (lambda t: 500.0 + 45.0 * np.maximum(t - 21.5, 0), {"intercept": 500.0, "cooling_slope": 45.0}, None, 21.5),
    "4P": (lambda t: 600.0 + 40.0 * np.maximum(18.0 - t, 0) + 10.0 * np.maximum(t - 18.0, 0),
           {"intercept": 600.0, "heating_slope": 40.0, "cooling_slope": 10.0}, 18.0, 18.0),
    "5P": (lambda t: 700.0 + 35.0 * np.maximum(13.25 - t, 0) + 55.0 * np.maximum(t - 23.0, 0),
           {"intercept": 700.0, "heating_slope": 35.0, "cooling_slope": 55.0}, 13.25, 23.0),
}


@pytest.mark.parametrize("form", list(TRUE))
def test_noise_free_daily_recovers_form_and_parameters(form: str) -> None:
    f, coefs, h, c = TRUE[form]
    t = _temps()
    m = fit_baseline(_frame(f(t.to_numpy()), t), granularity="daily", calendar="weekday")
    assert m.model_type == form, m.selection["reason"]
    seg = m.segments[0]
    got = dict(zip(seg["columns"], seg["coefficients"], strict=True))
    assert got == pytest.approx(coefs, rel=1e-8, abs=1e-6)
    assert seg["heating_balance_point"] == (None if h is None else pytest.approx(h))
    assert seg["cooling_balance_point"] == (None if c is None else pytest.approx(c))
    assert m.metrics["cvrmse"] < 1e-9
    assert not m.disqualified


@pytest.mark.parametrize("form", list(TRUE))
def test_noisy_daily_recovers_parameters_within_tolerance(form: str) -> None:
    f, coefs, h, c = TRUE[form]
    t = _temps(11)
    rng = np.random.default_rng(5)
    y = f(t.to_numpy()) * (1 + rng.normal(0, 0.03, t.size))
    m = fit_baseline(_frame(y, t), granularity="daily", calendar="weekday", workday=False)
    assert m.model_type == form
    seg = m.segments[0]
    got = dict(zip(seg["columns"], seg["coefficients"], strict=True))
    for k, v in coefs.items():
        assert got[k] == pytest.approx(v, rel=0.08), k
    if h is not None:
        assert abs(seg["heating_balance_point"] - h) <= 1.0
    if c is not None:
        assert abs(seg["cooling_balance_point"] - c) <= 1.0
    assert 0.01 < m.metrics["cvrmse"] < 0.05
    assert m.metrics["p"] == len(coefs) + (h is not None) + (c is not None and form != "4P")
    assert m.gates["passed"]


def test_bills_of_uneven_length_recover_daily_model() -> None:
    """Usage/day against mean degree-days/day per bill, weighted by days (CalTRACK 2.0 billing); balance points
    off any grid are solved exactly on bills too. Two years of bills: 24 bills allow five parameters (one per
    three bills), a single year of 12 would not."""
    def f(t: np.ndarray) -> np.ndarray:
        return 700.0 + 35.0 * np.maximum(12.37 - t, 0) + 55.0 * np.maximum(t - 21.63, 0)

    t = daily_weather("2022-12-20", 800, np.random.default_rng(8))
    daily = pd.DataFrame({"usage": f(t.to_numpy()), "temperature": t.to_numpy()}, index=t.index)
    rng = np.random.default_rng(4)
    starts = pd.Timestamp("2022-12-20") + pd.to_timedelta(np.cumsum([0] + list(rng.integers(28, 34, 23))), unit="D")
    bills = bills_from_daily(daily, [str(s.date()) for s in starts], str((starts[-1] + pd.Timedelta(days=31)).date()))
    bills = bills.drop(columns="temperature")
    m = fit_baseline(bills, granularity="billing", temperature=t, calendar="weekday")
    assert m.model_type == "5P", m.selection["reason"]
    seg = m.segments[0]
    got = dict(zip(seg["columns"], seg["coefficients"], strict=True))
    assert got == pytest.approx({"intercept": 700.0, "heating_slope": 35.0, "cooling_slope": 55.0}, rel=1e-6)
    assert abs(seg["heating_balance_point"] - 12.37) < 1e-6 and abs(seg["cooling_balance_point"] - 21.63) < 1e-6
    pred = m.predict(bills, temperature=t)
    np.testing.assert_allclose(pred.to_numpy(), bills["usage"].to_numpy(), rtol=1e-9)
    assert m.metrics["n"] == 24


def test_multivariable_with_chinese_working_days_and_energy_users() -> None:
    t = _temps(4)
    rng = np.random.default_rng(1)
    from emc.mv.calendar import workdays

    work, _ = workdays(t.index)
    users = rng.integers(300, 500, t.size).astype(float)
    y = 400.0 + 350.0 * work + 1.5 * users + 50.0 * np.maximum(t.to_numpy() - 24.0, 0)
    df = _frame(y, t).assign(users=users)
    m = fit_baseline(df, granularity="daily", drivers=["users"])
    assert m.model_type == "3PC + workday"
    seg = m.segments[0]
    got = dict(zip(seg["columns"], seg["coefficients"], strict=True))
    assert got == pytest.approx({"intercept": 400.0, "workday": 350.0, "users": 1.5, "cooling_slope": 50.0}, rel=1e-8)
    # 2023-01-28 (Saturday) was an adjusted working day after Spring Festival; 2023-01-23 (Monday) a holiday.
    assert work[t.index.get_loc(pd.Timestamp("2023-01-28"))]
    assert not work[t.index.get_loc(pd.Timestamp("2023-01-23"))]


def test_split_by_day_type_when_hvac_runs_only_on_working_days() -> None:
    t = _temps(6)
    from emc.mv.calendar import workdays

    work, _ = workdays(t.index)
    tt = t.to_numpy()
    y = np.where(work, 1500.0 + 60.0 * np.maximum(tt - 22.0, 0) + 30.0 * np.maximum(14.0 - tt, 0), 700.0)
    y = y * (1 + np.random.default_rng(2).normal(0, 0.02, t.size))
    m = fit_baseline(_frame(y, t), granularity="daily")
    assert m.model_type.startswith("split by day type: workday 5P | non-workday mean")
    assert [s["applies_to"] for s in m.segments] == ["workday", "non_workday"]
    assert m.segments[1]["coefficients"][0] == pytest.approx(700.0, rel=0.01)


def test_constant_driver_is_dropped_with_a_warning() -> None:
    t = _temps()
    df = _frame(TRUE["3PH"][0](t.to_numpy()), t).assign(floor_area=12000.0)
    m = fit_baseline(df, granularity="daily", drivers=["floor_area"], calendar="weekday")
    assert "driver_constant" in [w.code for w in m.warnings]
    assert m.drivers == []
