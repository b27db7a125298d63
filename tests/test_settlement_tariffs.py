"""Tariffs as effective-dated data, and the three valuation policies."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from emc.contracts.spec import ContractFile, load_contract_file
from emc.settlement.core import (
    Bill,
    PeriodData,
    TariffBook,
    TariffVersion,
    Tier,
    TouSeason,
    TouWindow,
    UtilitySavings,
    WaterCharges,
    settle_period,
    settlement_periods,
)
from emc.tariffs.book import TariffError, band_at, price_at, tier_slices, tiered_charge, unit_price

SMALL = Path(__file__).resolve().parent / "data" / "small-shared.toml"

# Jiangsu 2025 shape (苏发改价格发〔2025〕426号 [S]): peak = flat × 1.7, valley = flat × 0.35;
# summer/winter: peak 14–22, valley 0–6 and 11–13. Prices here are illustrative.
WINDOWS = (TouWindow.hours(0, 6, "valley"), TouWindow.hours(11, 13, "valley"), TouWindow.hours(14, 22, "peak"))
SPRING = (TouWindow.hours(0, 6, "valley"), TouWindow.hours(11, 13, "valley"), TouWindow.hours(16, 22, "peak"))


def tou(version: str, start: date, end: date | None, flat: str) -> TariffVersion:
    f = Decimal(flat)
    return TariffVersion(
        code="JS-TEST", version=version, utility="electricity", unit="kWh", effective_from=start, effective_to=end,
        seasons=(TouSeason(frozenset({1, 2, 7, 8, 12}), WINDOWS),
                 TouSeason(frozenset({3, 4, 5, 6, 9, 10, 11}), SPRING)),
        band_prices={"flat": f, "peak": f * Decimal("1.7"), "valley": f * Decimal("0.35")}, source="illustrative")


def test_tou_bands_and_prices() -> None:
    v = tou("2025-06-01", date(2025, 6, 1), None, "0.6")
    assert band_at(v, datetime(2025, 7, 15, 15, 0)) == "peak"
    assert band_at(v, datetime(2025, 7, 15, 12, 30)) == "valley"
    assert band_at(v, datetime(2025, 7, 15, 23, 0)) == "flat"
    assert band_at(v, datetime(2025, 10, 15, 15, 0)) == "flat"  # spring/autumn: peak starts at 16:00
    assert price_at(v, datetime(2025, 7, 15, 15, 0)) == Decimal("1.02")
    assert v.id == "JS-TEST/electricity@2025-06-01"
    with pytest.raises(TariffError):  # overlapping windows
        TouSeason(frozenset(range(1, 13)), (TouWindow.hours(0, 6, "valley"), TouWindow.hours(5, 8, "peak")))


def test_book_finds_the_version_in_force_and_refuses_overlaps() -> None:
    old, new = tou("2024-01-01", date(2024, 1, 1), date(2025, 6, 1), "0.62"), tou("2025-06-01", date(2025, 6, 1),
                                                                               None, "0.6")
    book = TariffBook([new, old])
    assert book.on("JS-TEST", "electricity", date(2025, 5, 31)) is old
    assert book.on("JS-TEST", "electricity", date(2025, 6, 1)) is new
    with pytest.raises(TariffError):
        book.on("JS-TEST", "water", date(2025, 6, 1))
    with pytest.raises(TariffError):
        TariffBook([tou("a", date(2024, 1, 1), None, "0.6"), tou("b", date(2025, 1, 1), None, "0.6")])


def test_water_and_tiered_prices() -> None:
    w = TariffVersion("WX-W", "2023", "water", "m3", date(2023, 1, 1),
                      water=WaterCharges(Decimal("1.67"), Decimal("1.95"), Decimal("0.20")))
    assert unit_price(w) == Decimal("3.82")  # 1.67 + 1.95 + 0.20
    tiers = TariffVersion("WX-WT", "2023", "water", "m3", date(2023, 1, 1),
                          tiers=(Tier(Decimal(10000), Decimal("3.82")), Tier(None, Decimal("5.73"))))
    # 12,000 m³: 10,000 × 3.82 + 2,000 × 5.73 = 38,200 + 11,460 = 49,660
    assert tiered_charge(tiers, Decimal(12000)) == Decimal("49660.00")
    # savings between actual 9,000 and adjusted baseline 12,500 come off the top blocks
    assert tier_slices(tiers, Decimal(12500), Decimal(9000)) == [(Decimal(1000), Decimal("3.82")),
                                                                 (Decimal(2500), Decimal("5.73"))]
    with pytest.raises(TariffError):
        TariffVersion("X", "1", "water", "m3", date(2023, 1, 1), price=Decimal(1), water=w.water)


def valued_as(policy: dict[str, Any]) -> ContractFile:
    data = load_contract_file(SMALL).canonical()
    data["valuation"] = policy
    return ContractFile.model_validate(data)


def test_time_of_use_valuation_on_interval_savings() -> None:
    contract = valued_as({"policy": "time_of_use", "tariff": "JS-TEST"})
    book = TariffBook([tou("2023-07-01", date(2023, 7, 1), date(2024, 1, 2), "0.62"),
                       tou("2024-01-02", date(2024, 1, 2), None, "0.6")])
    jan = settlement_periods(contract.contract)[0]
    # 10 kWh saved every hour of 2 Jan 2024 (local): 8 h valley, 8 h peak, 8 h flat → 80 kWh in each band,
    # given as UTC instants (local = UTC + 8 h)
    start = datetime(2024, 1, 1, 16, 0, tzinfo=UTC)
    intervals = tuple((start + timedelta(hours=h), 10) for h in range(24))
    data = PeriodData(jan, savings=(UtilitySavings("electricity", 1000, 760, intervals=intervals),))
    s = settle_period(contract, jan, data, tariffs=book)
    # 80 × 1.02 × 0.85 = 69.36; 80 × 0.60 × 0.85 = 40.80; 80 × 0.21 × 0.85 = 14.28
    assert [(line.subkey, line.amount) for line in s.lines] == [
        ("electricity:peak", Decimal("69.36")), ("electricity:flat", Decimal("40.80")),
        ("electricity:valley", Decimal("14.28"))]
    assert {line.tariff_version for line in s.lines} == {"JS-TEST/electricity@2024-01-02"}
    assert "节约电量（峰段） 80 kWh × 1.02 元/kWh" in s.lines[0].formula
    # 1 Jan belongs to the older version: an interval at 1 Jan 12:00 local is priced with it, on its own line
    earlier = intervals + ((datetime(2024, 1, 1, 4, 0, tzinfo=UTC), 5),)
    data = PeriodData(jan, savings=(UtilitySavings("electricity", 1000, 755, intervals=earlier),))
    s = settle_period(contract, jan, data, tariffs=book)
    # 5 kWh × (0.62 × 0.35 = 0.217) × 0.85 = 0.922… → 0.92
    assert (s.lines[0].tariff_version, s.lines[0].subkey, s.lines[0].amount) == (
        "JS-TEST/electricity@2023-07-01", "electricity:valley", Decimal("0.92"))
    # without interval data TOU cannot value: nothing paid, and the statement says why
    s = settle_period(contract, jan, PeriodData(jan, savings=(UtilitySavings("electricity", 1000, 760),)),
                      tariffs=book)
    assert s.lines == () and [w.code for w in s.warnings] == ["no_interval_data"]


def test_average_cost_with_safety_limits() -> None:
    contract = valued_as({"policy": "average_cost", "limits": {"electricity": {"min": "0.5", "max": "0.9"}}})
    jan = settlement_periods(contract.contract)[0]
    savings = (UtilitySavings("electricity", 100000, 90000),)
    # bill 98,000.00 / 140,000 kWh = 0.70 CNY/kWh: 10,000 × 0.70 × 0.85 = 5,950.00
    s = settle_period(contract, jan, PeriodData(jan, savings, (Bill("electricity", 140000, "98000.00",
                                                                    "JS-GS/electricity@2023", "E-202401"),)))
    assert s.lines[0].amount == Decimal("5950.00") and s.lines[0].unit_price == Decimal("0.7000")
    assert s.lines[0].tariff_version == "JS-GS/electricity@2023"
    # a back-billed month: 14,000.00 / 10,000 kWh = 1.40 > max 0.90 → 0.90 (EnergyCAP unit-cost limit)
    s = settle_period(contract, jan, PeriodData(jan, savings, (Bill("electricity", 10000, "14000.00", ref="E"),)))
    assert s.lines[0].unit_price == Decimal("0.9000") and s.lines[0].amount == Decimal("7650.00")
    assert [w.code for w in s.warnings] == ["unit_cost_limited"]
    assert "超出安全限值，按上限" in s.lines[0].formula


def test_water_tariff_valuation_carries_the_version() -> None:
    data = load_contract_file(SMALL).canonical()
    data["valuation"] = {"policy": "time_of_use", "tariff": "WX"}
    data["components"][0]["utilities"] = ["water"]
    data["meters"][0].update({"utility": "water", "unit": "m3"})
    contract = ContractFile.model_validate(data)
    book = TariffBook([TariffVersion("WX", "2023", "water", "m3", date(2023, 1, 1),
                                     water=WaterCharges(Decimal("1.67"), Decimal("1.95"), Decimal("0.20")))])
    jan = settlement_periods(contract.contract)[0]
    s = settle_period(contract, jan, PeriodData(jan, (UtilitySavings("water", 5000, 4000),)), tariffs=book)
    # 1,000 m³ × 3.82 × 0.85 = 3,247.00
    (line,) = s.lines
    assert line.amount == Decimal("3247.00") and line.tariff_version == "WX/water@2023"
    assert "供水 1.67 + 污水处理 1.95 + 水资源费 0.20" in line.formula and line.formula.startswith("节水效益分享")
