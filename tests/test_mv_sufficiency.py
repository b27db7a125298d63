"""CalTRACK-style sufficiency: findings are warnings (data), disqualification is a severity."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from emc.mv import MVInputError, fit_baseline, savings
from emc.mv.calendar import day_types, workdays
from emc.mv.simulated_meters import (
    MeterSpec,
    bills_from_daily,
    daily_meter,
    daily_weather,
    hourly_meter,
    hourly_weather,
)


def _daily(seed: int = 1, start: str = "2023-01-01", days: int = 365) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return daily_meter(MeterSpec(noise_cv=0.03), daily_weather(start, days, rng), rng)[["usage", "temperature"]]


def _codes(model) -> dict[str, list]:
    out: dict[str, list] = {}
    for w in model.warnings:
        out.setdefault(w.code, []).append(w)
    return out


def test_clean_year_has_no_findings() -> None:
    m = fit_baseline(_daily(), granularity="daily")
    assert not m.disqualified and m.accepted
    assert [w.code for w in m.warnings if w.severity != "info"] == []


def test_gaps_negatives_and_low_coverage_month_are_reported() -> None:
    df = _daily()
    df.loc["2023-04-10":"2023-04-14", "usage"] = np.nan  # a 5-day gap
    df.loc["2023-06-01", "usage"] = -50.0  # a negative reading
    df = df.drop(pd.date_range("2023-08-03", "2023-08-06"))  # missing rows are gaps too
    m = fit_baseline(df, granularity="daily")
    c = _codes(m)
    assert c["negative_usage"][0].period_start == "2023-06-01"
    gaps = {(w.period_start, w.period_end, w.value) for w in c["gap"]}
    assert ("2023-04-10", "2023-04-15", 5.0) in gaps and ("2023-08-03", "2023-08-07", 4.0) in gaps
    assert {w.period_start for w in c["month_low_coverage"]} == {"2023-04-01", "2023-08-01"}
    assert not m.disqualified  # 98 % of days remain, every month represented
    assert m.baseline["rows_used"] == 365 - 5 - 1 - 4


def test_insufficient_coverage_disqualifies_and_names_the_thin_months() -> None:
    df = _daily()
    df.loc["2023-02-01":"2023-03-10", "usage"] = np.nan
    m = fit_baseline(df, granularity="daily")
    c = _codes(m)
    assert [w.period_start for w in c["month_low_coverage"]] == ["2023-02-01", "2023-03-01"]
    assert c["insufficient_coverage"][0].value == pytest.approx(327 / 365)
    assert m.disqualified and not m.accepted


def test_a_twenty_day_gap_is_judged_over_the_whole_year() -> None:
    """CalTRACK 2.0 §2.2.1.2 asks for 90 % of the baseline's days, judged over the whole period: a 20-day gap
    (94.5 % coverage) is accepted; the month it empties is listed, not disqualifying (it was before)."""
    df = _daily()
    df.loc["2023-04-06":"2023-04-25", "usage"] = np.nan
    m = fit_baseline(df, granularity="daily")
    c = _codes(m)
    assert not m.disqualified and m.accepted
    assert c["month_low_coverage"][0].period_start == "2023-04-01"
    assert c["month_low_coverage"][0].value == pytest.approx(10 / 30)
    assert c["gap"][0].value == 20.0


def test_a_year_of_bills_or_hours_short_by_a_day_is_a_year() -> None:
    """12 monthly bills span 364 days and a logger year starting at 01:00 has 8,759 hours: CalTRACK accepts both
    (≥ 329 days, 90 % of the baseline year); 300 days are still too short."""
    rng = np.random.default_rng(5)
    t = daily_weather("2023-01-01", 400, rng)
    daily = daily_meter(MeterSpec(noise_cv=0.02), t, rng)
    starts = [str(d.date()) for d in pd.date_range("2023-01-01", periods=12, freq="MS")]
    bills = bills_from_daily(daily, starts, "2023-12-31").drop(columns="temperature")  # 364 days
    m = fit_baseline(bills, granularity="billing", temperature=t)
    assert "baseline_too_short" not in _codes(m) and not m.disqualified
    hourly_t = hourly_weather(t.loc[:"2023-12-31"], rng)
    hourly = hourly_meter(MeterSpec(noise_cv=0.03), hourly_t, rng).iloc[1:]  # 8,759 hours from 01:00
    assert len(hourly) == 8759
    mh = fit_baseline(hourly[["usage", "temperature"]], granularity="hourly")
    assert not mh.disqualified, [w.code for w in mh.warnings if w.disqualifying]
    short = fit_baseline(bills.iloc[:10], granularity="billing", temperature=t)  # 304 days
    assert _codes(short)["baseline_too_short"][0].value == 304 and short.disqualified


def test_a_stuck_meter_is_missing_data_not_zero_use() -> None:
    """A month of zeros on a meter that never otherwise reads zero is a stuck meter: missing, in the baseline
    (the fit ignores it) and in the reporting period (the month is not settled instead of 'saving' 100 %)."""
    rng = np.random.default_rng(21)
    t = daily_weather("2023-01-01", 731, rng)
    df = daily_meter(MeterSpec(noise_cv=0.03, savings=0.10), t, rng, reporting_start="2024-01-01")
    base = df.loc[:"2023-12-31", ["usage", "temperature"]].copy()
    rep = df.loc["2024-01-01":, ["usage", "temperature"]].copy()
    clean = fit_baseline(base, granularity="daily")
    base.loc["2023-07-01":"2023-07-31", "usage"] = 0.0
    rep.loc["2024-03-01":"2024-03-31", "usage"] = 0.0
    m = fit_baseline(base, granularity="daily")
    c = _codes(m)
    assert c["stuck_meter"][0].period_start == "2023-07-01" and c["stuck_meter"][0].value == 31
    assert m.baseline["rows_used"] == 365 - 31 and not m.disqualified
    assert m.segments[0]["coefficients"] == pytest.approx(clean.segments[0]["coefficients"], rel=0.05)
    r = savings(m, rep)
    p = r.periods.set_index("period_start")
    assert not p.loc["2024-03-01", "settled"] and p.loc["2024-03-01", "days_with_data"] == 0
    assert ("stuck_meter", "2024-03-01") in [(w.code, w.period_start) for w in r.warnings]
    truth = 1 - df.loc["2024-01-01":, "usage"].drop(pd.date_range("2024-03-01", "2024-03-31")).sum() / \
        df.loc["2024-01-01":, "counterfactual"].drop(pd.date_range("2024-03-01", "2024-03-31")).sum()
    assert r.total["savings_fraction"] == pytest.approx(truth, abs=0.01)


def test_a_month_of_zeros_settled_on_its_own_is_still_a_stuck_meter() -> None:
    """Settling one month at a time: the month's zeros are all its readings, but the baseline never read zero."""
    rng = np.random.default_rng(22)
    t = daily_weather("2023-01-01", 400, rng)
    df = daily_meter(MeterSpec(noise_cv=0.03), t, rng)[["usage", "temperature"]]
    m = fit_baseline(df.loc[:"2023-12-31"], granularity="daily")
    assert m.baseline["zero_rows"] == 0
    month = df.loc["2024-01-01":"2024-01-31"].assign(usage=0.0)
    r = savings(m, month)
    assert r.total["periods_settled"] == 0 and "stuck_meter" in [w.code for w in r.warnings]


def test_a_meter_that_reads_zero_anyway_keeps_its_zeros() -> None:
    """Zeros on scattered days mean the meter does read zero: a later run of zeros is data, with a warning."""
    df = _daily()
    df.loc[["2023-02-11", "2023-05-20", "2023-09-02"], "usage"] = 0.0
    df.loc["2023-11-01":"2023-11-10", "usage"] = 0.0
    m = fit_baseline(df, granularity="daily")
    c = _codes(m)
    assert "stuck_meter" not in c
    assert c["zero_usage_run"][0].period_start == "2023-11-01"
    assert m.baseline["rows_used"] == 365


def test_short_baseline_disqualifies() -> None:
    m = fit_baseline(_daily(days=200), granularity="daily")
    assert "baseline_too_short" in _codes(m) and m.disqualified


def test_off_cycle_long_and_gapped_bills() -> None:
    rng = np.random.default_rng(2)
    t = daily_weather("2023-01-01", 420, rng)
    daily = daily_meter(MeterSpec(noise_cv=0.02), t, rng)
    starts = ["2023-01-01", "2023-02-01", "2023-03-01", "2023-03-15", "2023-04-01", "2023-05-01", "2023-07-15",
              "2023-08-01", "2023-09-01", "2023-10-01", "2023-11-01", "2023-12-01"]
    bills = bills_from_daily(daily, starts, "2024-01-01").drop(columns="temperature")
    bills.loc[pd.Timestamp("2023-08-01"), "end"] = pd.Timestamp("2023-08-29")  # 3 days not billed
    m = fit_baseline(bills, granularity="billing", temperature=t)
    c = _codes(m)
    assert {w.period_start for w in c["off_cycle_bill"]} == {"2023-03-01", "2023-03-15", "2023-07-15"}
    assert c["bill_too_long"][0].period_start == "2023-05-01"  # 75 days: dropped (CalTRACK 2.0)
    assert c["bill_gap"][0].period_start == "2023-08-29" and c["bill_gap"][0].value == 3
    assert "2023-06-01" in {w.period_start for w in c["month_low_coverage"]}  # June lies only in the dropped bill
    assert c["insufficient_coverage"][0].value < 0.9 and m.disqualified


def test_calendar_knows_adjusted_working_days_and_warns_beyond_its_coverage() -> None:
    days = pd.date_range("2024-02-04", "2024-02-18")
    work, warns = workdays(days)
    assert warns == []
    as_dict = dict(zip(days.date, work, strict=True))
    assert as_dict[dt.date(2024, 2, 4)]  # Sunday, adjusted working day before Spring Festival
    assert not as_dict[dt.date(2024, 2, 12)]  # Monday, Spring Festival holiday
    types, _ = day_types(pd.DatetimeIndex(["2024-02-04", "2024-02-12", "2024-02-13"]))
    assert types.tolist() == [2, 6, 6]
    # Beyond the package's coverage (2026 for chinese-calendar 1.11; a far year keeps the test stable when
    # the package is updated): Monday–Friday fallback with a warning, since holidays cannot be known.
    far = pd.date_range("2099-03-01", "2099-03-07")
    work, warns = workdays(far)
    assert [w.code for w in warns] == ["calendar_out_of_range"]
    assert warns[0].period_start == "2099-03-01" and warns[0].detail["years"] == [2099]
    assert work.tolist() == (far.day_of_week < 5).tolist()


def test_unreadable_input_raises() -> None:
    with pytest.raises(MVInputError):
        fit_baseline(pd.DataFrame({"usage": [1.0]}, index=pd.DatetimeIndex(["2023-01-01"])), granularity="daily")
    with pytest.raises(MVInputError):
        fit_baseline(_daily(), granularity="weekly")
