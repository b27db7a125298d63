"""A stored baseline reproduces identical predictions after from_dict (exact equality), through JSON."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from emc.mv import BaselineModel, fit_baseline, savings
from emc.mv.simulated_meters import (
    MeterSpec,
    bills_from_daily,
    daily_meter,
    daily_weather,
    hourly_meter,
    hourly_weather,
)


def _roundtrip(model: BaselineModel) -> BaselineModel:
    text = json.dumps(model.to_dict(), ensure_ascii=False, allow_nan=False)  # strict JSON
    return BaselineModel.from_dict(json.loads(text))


def _data():
    rng = np.random.default_rng(9)
    t = daily_weather("2023-01-01", 731, rng)
    daily = daily_meter(MeterSpec(hvac_workday_share=0.4), t, rng, reporting_start="2024-01-01")
    return rng, t, daily


def test_daily_split_model_roundtrip_is_exact() -> None:
    _, _, daily = _data()
    m = fit_baseline(daily.loc[:"2023-12-31", ["usage", "temperature"]], granularity="daily")
    assert m.model_type.startswith("split")
    m2 = _roundtrip(m)
    rep = daily.loc["2024-01-01":, ["usage", "temperature"]]
    a, b = m.predict(rep), m2.predict(rep)
    assert np.array_equal(a.to_numpy(), b.to_numpy())
    assert m2.to_dict() == m.to_dict()
    assert m2.metrics == m.metrics and m2.warnings == m.warnings and m2.accepted == m.accepted
    s1, s2 = savings(m, rep), savings(m2, rep)
    pd.testing.assert_frame_equal(s1.periods, s2.periods, check_exact=True)
    json.dumps(s1.to_dict(), allow_nan=False)


def test_billing_and_hourly_roundtrip_is_exact() -> None:
    rng, t, daily = _data()
    starts = [str(d.date()) for d in pd.date_range("2023-01-01", "2024-12-01", freq="MS")]
    bills = bills_from_daily(daily, starts, "2025-01-01").drop(columns="temperature")
    mb = fit_baseline(bills.loc[:"2023-12-01"], granularity="billing", temperature=t)
    a = mb.predict(bills.loc["2024-01-01":], temperature=t)
    assert np.array_equal(a.to_numpy(), _roundtrip(mb).predict(bills.loc["2024-01-01":], temperature=t).to_numpy())
    th = hourly_weather(t, rng)
    hourly = hourly_meter(MeterSpec(), th, rng, reporting_start="2024-01-01")[["usage", "temperature"]]
    mh = fit_baseline(hourly.loc[:"2023-12-31 23:00"], granularity="hourly")
    rep = hourly.loc["2024-01-01":]
    assert np.array_equal(mh.predict(rep).to_numpy(), _roundtrip(mh).predict(rep).to_numpy())


def test_unknown_versions_are_refused() -> None:
    _, _, daily = _data()
    d = fit_baseline(daily.loc[:"2023-12-31", ["usage", "temperature"]], granularity="daily").to_dict()
    assert d["schema"] == "emc.mv.baseline" and d["version"] == 1
    with pytest.raises(ValueError):
        BaselineModel.from_dict({**d, "version": 99})
    with pytest.raises(ValueError):
        BaselineModel.from_dict({**d, "schema": "something else"})
