"""Rounding to the fen: one point per line, half-up, totals equal the sum of lines exactly."""

from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from emc.contracts.spec import load_contract_file
from emc.settlement.core import (
    PeriodData,
    UtilitySavings,
    check_lines,
    line_amount,
    settle_sequence,
    settlement_periods,
)
from emc.settlement.core.lines import ESCO, INSTITUTION, Line, quantity, totals

CONTRACTS = Path(__file__).resolve().parent.parent / "contracts"


def test_half_up_cases() -> None:
    # x.xx5 exactly: half-up (away from zero), not banker's rounding
    assert line_amount(Decimal("2.5"), Decimal("0.65")) == Decimal("1.63")  # 1.625
    assert line_amount(Decimal("-2.5"), Decimal("0.65")) == Decimal("-1.63")  # −1.625
    assert line_amount(Decimal("1"), Decimal("0.125")) == Decimal("0.13")
    assert line_amount(Decimal("2.5"), Decimal("0.649")) == Decimal("1.62")  # 1.6225: below the half
    # the rate and a day fraction enter before the rounding, exactly: 1,000 × 0.5 × 0.85 × 1/12 = 35.41666… → 35.42
    assert line_amount(Decimal(1000), Decimal("0.5"), Decimal("0.85"), Fraction(1, 12)) == Decimal("35.42")
    # Yixing's year fee: 34,497,568.50 × 0.95 = 32,772,690.075 → 32,772,690.08
    assert line_amount(Decimal("34497568.50"), Decimal("0.95")) == Decimal("32772690.08")


def test_quantities_are_quantised_from_floats_by_their_decimal_text() -> None:
    assert quantity(0.1 + 0.2) == Decimal("0.300")  # 0.30000000000000004 → 0.300
    assert quantity(12345.6785) == Decimal("12345.679")  # repr '12345.6785' → half-up at 0.001
    assert quantity(2.675) == Decimal("2.675")  # the binary value is 2.67499999…; its text is 2.675
    assert UtilitySavings("water", 21000.0, 20749.5).savings == Decimal("250.500")


def test_statement_totals_are_sums_of_lines() -> None:
    wuxi = load_contract_file(CONTRACTS / "wuxi-civic-centre.toml")
    periods = [p for p in settlement_periods(wuxi.contract) if p.contract_year == 1]
    results = settle_sequence(wuxi, [PeriodData(p, (UtilitySavings("water", 20000 + i * 0.337, 19800.123),))
                                     for i, p in enumerate(periods)])
    lines: list[Line] = [line for s in results for line in s.lines]
    assert not check_lines(lines)
    assert all(line.amount == line.amount.quantize(Decimal("0.01")) for line in lines)
    # each statement: totals per direction = the plain sum of its lines; net = the difference
    for s in results:
        t = s.totals()
        assert t.get((INSTITUTION, ESCO), 0) == sum(line.amount for line in s.lines
                                                    if (line.payer, line.payee) == (INSTITUTION, ESCO))
        assert s.net() == t.get((INSTITUTION, ESCO), 0) - t.get((ESCO, INSTITUTION), 0)
    # the year: twelve rounded monthly fees leave 0.04 that the reconciliation line carries, so the year's
    # custody lines sum exactly to fen(annual fee) — rounding never loses or invents a fen
    custody = sum((line.signed(INSTITUTION, ESCO) for line in lines if line.component == "custody"), Decimal(0))
    assert custody == Decimal("15693948.16")
    assert sum(totals(lines).values()) == sum((line.amount for line in lines), Decimal(0))


def test_check_lines_finds_a_tampered_amount() -> None:
    line = Line("c", "x", date(2024, 1, 1), date(2024, 2, 1), 1, Decimal(3), "kWh", Decimal("0.5"), "元/kWh",
                Decimal("1.51"), INSTITUTION, ESCO, "", "")
    assert check_lines([line]) == [f"{line.key}: amount 1.51 ≠ fen(1.5)"]
