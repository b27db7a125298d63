"""Apportioning bills to settlement periods (emc.mv.apportion): pure, on synthetic heating/cooling data."""

from __future__ import annotations

import numpy as np
import pandas as pd

from emc.mv import fit_baseline
from emc.mv.apportion import calendar_periods, daily_weights, period_savings
from emc.mv.simulated_meters import MeterSpec, bills_from_daily, daily_meter, daily_weather


def _case():  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(7)
    weather = daily_weather("2022-01-15", 2 * 365 + 31, rng)
    daily = daily_meter(MeterSpec(noise_cv=0.02), weather, rng, reporting_start="2023-01-15")
    starts = [str(d.date()) for d in pd.date_range("2022-01-01", "2024-01-01", freq="MS") + pd.Timedelta(days=14)]
    bills = bills_from_daily(daily, starts[:-1], starts[-1])
    base, rep = bills[bills.index < "2023-01-15"], bills[bills.index >= "2023-01-15"]
    model = fit_baseline(base[["usage", "end"]], granularity="billing", temperature=weather)
    return model, rep[["usage", "end"]], weather


def test_months_add_up_to_the_bills_and_carry_only_their_days() -> None:
    model, rep, weather = _case()
    # 15 Jan 2023 – 14 Jan 2024 cut into calendar months: two half months at the edges, eleven whole ones
    cuts = calendar_periods(pd.Timestamp("2023-01-15"), pd.Timestamp("2024-01-15"))
    assert len(cuts) == 13 and cuts[0] == (pd.Timestamp("2023-01-15"), pd.Timestamp("2023-02-01"))
    result = period_savings(model, rep, cuts, temperature=weather)
    from emc.mv import savings

    per_bill = savings(model, rep, period="bill", temperature=weather)
    assert result.periods["settled"].all()
    assert abs(result.total["savings"] - per_bill.total["savings"]) < 1e-6 * abs(per_bill.total["savings"])
    assert abs(result.total["adjusted_baseline"] - per_bill.total["adjusted_baseline"]) < 1e-3
    # no month saves more than its adjusted baseline, and each is about its own days' share (10 % saved)
    assert (result.periods["savings"] < result.periods["adjusted_baseline"]).all()
    assert result.periods["savings_fraction"].between(0.0, 0.2).all()


def test_a_bill_is_split_by_the_models_predicted_use_per_day() -> None:
    model, rep, weather = _case()
    weights = daily_weights(model, rep, weather)
    assert all(abs(w.sum() - 1) < 1e-12 for w in weights)
    # a winter bill (15 Dec – 14 Jan): colder days carry more of it than equal shares would
    winter = list(rep.index).index(pd.Timestamp("2023-12-15"))
    days = pd.date_range("2023-12-15", "2024-01-14", freq="D")
    temps = weather.reindex(days).to_numpy()
    w = weights[winter]
    weekdays = (days.day_of_week < 5) & (days != pd.Timestamp("2024-01-01"))  # same day type (no holiday)
    cold, warm = np.argmin(np.where(weekdays, temps, np.inf)), np.argmax(np.where(weekdays, temps, -np.inf))
    assert temps[warm] - temps[cold] > 3 and w[cold] > w[warm]


def test_a_month_without_bills_is_not_settled() -> None:
    model, rep, weather = _case()
    result = period_savings(model, rep, [(pd.Timestamp("2024-01-01"), pd.Timestamp("2024-02-01"))],
                            temperature=weather)
    row = result.periods.iloc[0]
    assert not row["settled"] and round(row["coverage"], 4) == round(14 / 31, 4)
    assert result.total["periods_settled"] == 0 and [w.code for w in result.warnings].count("period_not_settled") == 1


def test_apportioned_periods_carry_a_prediction_uncertainty() -> None:
    """Each settled month carries the bills' prediction-variance interval scaled to its share (never NaN);
    a month inside one bill gets that share of the bill's interval, and the months' intervals add up to at
    least the bills' (the coefficient error is shared)."""
    model, rep, weather = _case()
    cuts = calendar_periods(pd.Timestamp("2023-01-15"), pd.Timestamp("2024-01-15"))
    result = period_savings(model, rep, cuts, temperature=weather)
    from emc.mv import savings

    per_bill = savings(model, rep, period="bill", temperature=weather)
    for tag in ("68", "90"):
        u, um = result.periods[f"uncertainty_{tag}"], result.periods[f"uncertainty_model_{tag}"]
        assert np.isfinite(u).all() and np.isfinite(um).all() and (um > 0).all()
        assert np.isfinite(result.total[f"uncertainty_model_{tag}"])
        assert um.sum() >= per_bill.periods[f"uncertainty_{tag}"].sum() * (1 - 1e-9)
    assert (result.periods["uncertainty_model_90"] > result.periods["uncertainty_model_68"]).all()
