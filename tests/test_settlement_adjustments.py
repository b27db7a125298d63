"""Adjustments: corrected data after approval settle as difference lines that reference the original."""

from datetime import date
from decimal import Decimal
from pathlib import Path

from emc.contracts.spec import load_contract_file
from emc.settlement.core import (
    CustodyChange,
    Line,
    PeriodData,
    UtilitySavings,
    adjustment_lines,
    net,
    settle_contract_year,
    settle_period,
    settlement_periods,
)
from emc.settlement.core.lines import ESCO, INSTITUTION

ROOT = Path(__file__).resolve().parent


def test_corrected_savings_give_one_difference_line() -> None:
    small = load_contract_file(ROOT / "data" / "small-shared.toml")
    jan = settlement_periods(small.contract)[0]
    original = settle_period(small, jan, PeriodData(jan, (UtilitySavings("electricity", 80000, 70000),)))
    corrected = settle_period(small, jan, PeriodData(jan, (UtilitySavings("electricity", 79500, 70000),)))
    # original 10,000 × 0.6832 × 0.85 = 5,807.20; corrected 9,500 × 0.58072 = 5,516.84; difference −290.36
    (adj,) = adjustment_lines(original.lines, corrected.lines, reference=original.key)
    assert (adj.code, adj.payer, adj.payee, adj.amount) == ("adjustment", INSTITUTION, ESCO, Decimal("-290.36"))
    assert adj.references == "T-SCHOOL-2024:period:2024-01-01/2024-02-01"
    assert (adj.start, adj.end, adj.component, adj.subkey) == (
        jan.start, jan.end, "share", "shared_savings:electricity")
    assert "数量 10,000 → 9,500 kWh" in adj.formula and "更正后 5,516.84 元 − 原 5,807.20 元" in adj.formula
    assert adj.inputs["original_quantity"] == "10000.000" and adj.inputs["corrected_quantity"] == "9500.000"
    # nothing changes → nothing to adjust
    assert adjustment_lines(original.lines, original.lines, reference="x") == []


def test_adjustments_sum_to_the_change_in_net() -> None:
    wuxi = load_contract_file(ROOT.parent / "contracts" / "wuxi-civic-centre.toml")
    periods = [p for p in settlement_periods(wuxi.contract) if p.contract_year == 1]
    data = [PeriodData(p, (UtilitySavings("water", 21000, 20700),)) for p in periods]
    settled = [line for p, d in zip(periods, data, strict=True) for line in settle_period(wuxi, p, d).lines]
    approved = settle_contract_year(wuxi, 1, data, settled)
    # Corrected: November's water meter was misread (savings 300 → 60 m³) and an area change of +6,000 m²
    # from 1 October was approved late. Recompute the year-end with both.
    data[-1] = PeriodData(periods[-1], (UtilitySavings("water", 21000, 20940),))
    late = [CustodyChange("floor_area", date(2019, 10, 1), "补充协议2019-11", delta=Decimal(6000))]
    recomputed = settle_contract_year(wuxi, 1, data, settled, changes=late)
    adjustments = adjustment_lines(approved.lines, recomputed.lines, reference=approved.key)
    by_component = {line.component: line for line in adjustments}
    # water: shortfall 5,040 − 3,600 = 1,440 m³ → 5,040 − 3,360 = 1,680 m³: +240 m³ × 4.60 = +1,104.00 (ESCO pays)
    assert (by_component["water-guarantee"].payer, by_component["water-guarantee"].amount) == (ESCO, Decimal("1104.00"))
    # custody: reconciliation 0.04 → 0.04 + 15,693,948.16 × 6,000/205,000 × 2/12 = 76,555.84… more
    assert by_component["custody"].amount == Decimal("76555.84")
    # the difference lines add up to the change in the statement's net, to the fen
    assert net(adjustments) == recomputed.net() - approved.net()


def test_withdrawn_and_new_lines() -> None:
    a = Line("c", "fee", date(2024, 1, 1), date(2024, 2, 1), 1, Decimal(1), "元", Decimal(1), "", Decimal("1.00"),
             INSTITUTION, ESCO, "f1", "f1")
    b = Line("c", "bonus", date(2024, 1, 1), date(2024, 2, 1), 1, Decimal(2), "元", Decimal(1), "", Decimal("2.00"),
             ESCO, INSTITUTION, "f2", "f2")
    out = adjustment_lines([a], [b], reference="S1")
    assert [(line.subkey, line.payer, line.amount) for line in out] == [("fee:", INSTITUTION, Decimal("-1.00")),
                                                                       ("bonus:", ESCO, Decimal("2.00"))]
    assert out[0].formula.startswith("调整（原结算 S1）：取消 f1")
    assert net(out) == net([b]) - net([a])
