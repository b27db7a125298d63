"""Balance points are estimated continuously, with physical slope signs: exact models whose balance points lie
off any grid are recovered exactly, and so is the money a contract pays on them (issue: a 0.25 °C grid cost a
month's shared-savings payment about −34 CNY and turned a 3PC building into a 4P with a negative heating slope).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emc.contracts.spec import load_contract_file
from emc.mv import fit_baseline, savings
from emc.mv.simulated_meters import MeterSpec, daily_meter, daily_weather
from emc.settlement.core import PeriodData, UtilitySavings, settle_period, settlement_periods

SMALL = Path(__file__).resolve().parent / "data" / "small-shared.toml"  # 0.6832 CNY/kWh, ESCO share 85 %
WEATHER = daily_weather("2023-01-01", 731, np.random.default_rng(3))

EXACT = {
    "5P": (lambda t: 700.0 + 35.0 * np.maximum(12.37 - t, 0) + 55.0 * np.maximum(t - 21.63, 0), 12.37, 21.63),
    "3PC": (lambda t: 500.0 + 45.0 * np.maximum(t - 20.13, 0), None, 20.13),
}


def _frame(f) -> pd.DataFrame:
    return pd.DataFrame({"usage": f(WEATHER.to_numpy()), "temperature": WEATHER.to_numpy()}, index=WEATHER.index)


def _payment(adjusted: float, actual: float, month: str) -> Decimal:
    contract = load_contract_file(SMALL)
    period = next(p for p in settlement_periods(contract.contract) if str(p.start)[:7] == month)
    s = settle_period(contract, period, PeriodData(period, savings=(
        UtilitySavings("electricity", round(adjusted, 3), round(actual, 3)),)))
    return sum((line.amount for line in s.lines), Decimal(0))


@pytest.mark.parametrize("form", list(EXACT))
@pytest.mark.parametrize("calendar", ["cn", "weekday"])
def test_off_grid_exact_models_are_recovered_exactly(form: str, calendar: str) -> None:
    f, h, c = EXACT[form]
    m = fit_baseline(_frame(f).loc[:"2023-12-31"], granularity="daily", calendar=calendar)
    assert m.model_type == form, m.selection["reason"]
    seg = m.segments[0]
    if h is not None:
        assert abs(seg["heating_balance_point"] - h) < 0.02
    if c is not None:
        assert abs(seg["cooling_balance_point"] - c) < 0.02
    assert m.metrics["cvrmse"] < 1e-6


@pytest.mark.parametrize("form", list(EXACT))
@pytest.mark.parametrize("month", ["2024-01", "2024-07", "2024-10"])
def test_the_money_from_an_off_grid_model_is_the_exact_figure(form: str, month: str) -> None:
    """A month's shared-savings payment through the settlement core, fitted model vs the exact model: 0.05 CNY."""
    f, _, _ = EXACT[form]
    df = _frame(f)
    m = fit_baseline(df.loc[:"2023-12-31"], granularity="daily")
    rep = df.loc[month].assign(usage=lambda x: x["usage"] * 0.9)  # 10 % saved
    r = savings(m, rep)
    exact = float(f(rep["temperature"].to_numpy()).sum())
    actual = float(rep["usage"].sum())
    got, want = _payment(r.total["adjusted_baseline"], actual, month), _payment(exact, actual, month)
    assert want > 0
    assert abs(got - want) <= Decimal("0.05"), (got, want)


def test_no_chosen_model_has_a_slope_of_the_wrong_sign() -> None:
    """Heating use rises below the heating point, cooling use above the cooling point, on every fitted segment."""
    for seed in range(40):
        rng = np.random.default_rng([91, seed])
        # half of them one-sided (3PH or 3PC buildings) with little noise: where a grid fit used to borrow a
        # negative slope from the other side
        one_sided = seed % 2 == 0
        spec = MeterSpec(base=rng.uniform(300, 3000), heating_slope=0.0 if one_sided and seed % 4 else
                         rng.uniform(10, 60), heating_bp=rng.uniform(10, 17),
                         cooling_slope=0.0 if one_sided and not seed % 4 else rng.uniform(10, 80),
                         cooling_bp=rng.uniform(19, 25), hvac_workday_share=rng.uniform(0.3, 1.0),
                         noise_cv=rng.uniform(0.001, 0.01) if one_sided else rng.uniform(0.02, 0.12))
        df = daily_meter(spec, daily_weather("2023-01-01", 365, rng), rng)
        m = fit_baseline(df[["usage", "temperature"]], granularity="daily")
        for seg in m.segments:
            coef = dict(zip(seg["columns"], seg["coefficients"], strict=True))
            assert coef.get("heating_slope", 1.0) > 0 and coef.get("cooling_slope", 1.0) > 0, (seed, m.model_type)
