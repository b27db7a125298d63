"""Settlement periods and contract years: month ends, leap years, years across calendar years, amendments."""

from datetime import date, timedelta
from fractions import Fraction
from pathlib import Path

import pytest

from emc.contracts.spec import ContractHead, load_contract_file
from emc.settlement.core.periods import (
    add_months,
    contract_year_of,
    contract_years,
    period_containing,
    settlement_periods,
    split_period,
)

CONTRACTS = Path(__file__).resolve().parent.parent / "contracts"


def head(start: date, end: date, frequency: str = "monthly", year_start: str | None = None) -> ContractHead:
    return ContractHead(code="T-1", name="测试", type="lease", start=start, end=end,
                        settlement_frequency=frequency, contract_year_start=year_start)


def assert_tiles(h: ContractHead) -> None:
    """Periods run edge to edge over the whole term, each inside one contract year."""
    periods = settlement_periods(h)
    assert periods[0].start == h.start
    assert periods[-1].end == h.end + timedelta(days=1)
    for a, b in zip(periods, periods[1:], strict=False):
        assert a.end == b.start
    years = {y.number: y for y in contract_years(h)}
    for p in periods:
        y = years[p.contract_year]
        assert y.start <= p.start < p.end <= y.end
    assert [y.start for y in contract_years(h)] == h.contract_year_starts()


@pytest.mark.parametrize("name", ["wuxi-civic-centre", "hospital-hvac-lighting", "pv-lease", "university-water",
                                  "yixing-county-custody"])
def test_examples_tile_their_terms(name: str) -> None:
    assert_tiles(load_contract_file(CONTRACTS / f"{name}.toml").contract)


def test_wuxi_contract_year_crosses_calendar_years_and_leap_february() -> None:
    h = load_contract_file(CONTRACTS / "wuxi-civic-centre.toml").contract
    periods = settlement_periods(h)
    assert len(periods) == 60  # 5 years × 12 months
    first_year = [p for p in periods if p.contract_year == 1]
    # contract year 1 = 2018-12-01 … 2019-11-30: December 2018 and January–November 2019
    assert [(p.start, p.last_day) for p in first_year[:2]] == [
        (date(2018, 12, 1), date(2018, 12, 31)), (date(2019, 1, 1), date(2019, 1, 31))]
    assert first_year[-1].last_day == date(2019, 11, 30) and len(first_year) == 12
    assert contract_year_of(h, date(2019, 11, 30)) == 1 and contract_year_of(h, date(2019, 12, 1)) == 2
    feb_2020 = period_containing(h, date(2020, 2, 15))  # leap year: 29 days, still a whole month
    assert feb_2020.days == 29 and feb_2020.prorate == 1 and feb_2020.contract_year == 2
    feb_2019 = period_containing(h, date(2019, 2, 15))
    assert feb_2019.days == 28 and feb_2019.prorate == 1


def test_month_end_anchor_does_not_drift() -> None:
    # start on 31 January (2024, a leap year): edges are the 31st clamped to each month's end, counted from
    # the anchor (never chained), so March goes back to the 31st after February's 29th.
    h = head(date(2024, 1, 31), date(2026, 1, 30))
    periods = settlement_periods(h)
    assert [(p.start, p.end) for p in periods[:4]] == [
        (date(2024, 1, 31), date(2024, 2, 29)),
        (date(2024, 2, 29), date(2024, 3, 31)),
        (date(2024, 3, 31), date(2024, 4, 30)),
        (date(2024, 4, 30), date(2024, 5, 31)),
    ]
    assert all(p.prorate == 1 for p in periods)
    # common year: 31 Jan 2025 → 28 Feb 2025
    assert period_containing(h, date(2025, 2, 10)).start == date(2025, 1, 31)
    assert period_containing(h, date(2025, 2, 10)).end == date(2025, 2, 28)
    assert_tiles(h)
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2023, 1, 31), 1) == date(2023, 2, 28)
    assert add_months(date(2024, 11, 30), 3) == date(2025, 2, 28)


def test_leap_day_start() -> None:
    # start 29 Feb 2024: contract years start 28 Feb in common years and 29 Feb again in 2028
    h = head(date(2024, 2, 29), date(2029, 2, 27))
    starts = [y.start for y in contract_years(h)]
    assert starts == [date(2024, 2, 29), date(2025, 2, 28), date(2026, 2, 28), date(2027, 2, 28), date(2028, 2, 29)]
    periods = settlement_periods(h)
    year1 = [p for p in periods if p.contract_year == 1]
    assert year1[-1].start == date(2025, 1, 29) and year1[-1].end == date(2025, 2, 28)  # 30 days
    year2 = [p for p in periods if p.contract_year == 2]
    assert (year2[0].start, year2[0].end) == (date(2025, 2, 28), date(2025, 3, 29))
    assert_tiles(h)


def test_contract_year_start_anchor_gives_partial_first_year() -> None:
    # start mid-March, contract years on 1 January, quarterly: the first period is 15 Mar – 31 Mar of the
    # nominal quarter 1 Jan – 31 Mar: 17/90 of a quarter; the first contract year is 292/365 of a year.
    h = head(date(2022, 3, 15), date(2025, 12, 31), "quarterly", "01-01")
    periods = settlement_periods(h)
    first = periods[0]
    assert (first.start, first.end) == (date(2022, 3, 15), date(2022, 4, 1))
    assert (first.nominal_start, first.nominal_end) == (date(2022, 1, 1), date(2022, 4, 1))
    assert first.prorate == Fraction(17, 90) and first.is_partial
    assert periods[1].start == date(2022, 4, 1) and periods[1].prorate == 1
    year1 = contract_years(h)[0]
    assert (year1.start, year1.end) == (date(2022, 3, 15), date(2023, 1, 1))
    assert year1.prorate == Fraction(292, 365)
    assert_tiles(h)


def test_term_ending_mid_month_cuts_the_last_period_and_year() -> None:
    h = head(date(2024, 3, 15), date(2025, 3, 20))
    last = settlement_periods(h)[-1]
    assert (last.start, last.end) == (date(2025, 3, 15), date(2025, 3, 21))
    assert last.prorate == Fraction(6, 31)  # nominal 15 Mar – 14 Apr 2025 has 31 days
    year2 = contract_years(h)[1]
    assert year2.days == 6 and year2.prorate == Fraction(6, 365)
    assert_tiles(h)


def test_mid_period_amendment_split_is_pro_rata_by_days() -> None:
    h = load_contract_file(CONTRACTS / "wuxi-civic-centre.toml").contract
    march = period_containing(h, date(2019, 3, 1))
    before, after = split_period(march, date(2019, 3, 16))
    assert (before.start, before.end, after.start, after.end) == (
        date(2019, 3, 1), date(2019, 3, 16), date(2019, 3, 16), date(2019, 4, 1))
    assert before.prorate == Fraction(15, 31) and after.prorate == Fraction(16, 31)
    assert before.prorate + after.prorate == march.prorate == 1
    with pytest.raises(ValueError):
        split_period(march, date(2019, 3, 1))  # not strictly inside
