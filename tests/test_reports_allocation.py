"""The statement layout's allocation (emc.reports.statement): refused unless it sums to the total; printed only
when there are several institutions; kept exactly by the approval snapshot."""

from __future__ import annotations

import io
from dataclasses import replace
from decimal import Decimal

import pytest
from pypdf import PdfReader

from emc.money import MoneyError
from emc.reports.sample import sample_statement
from emc.reports.statement import AllocationRow, Party, check, render_statement
from emc.settlement.statements import from_data, to_data


def rows(total: Decimal) -> list[AllocationRow]:
    first = (total / 3).quantize(Decimal("0.01"))
    return [AllocationRow("A", "甲单位", "A", Decimal("10.5"), "kWh", Decimal("33.33"), first),
            AllocationRow("B", "乙单位", "B", Decimal("21.0"), "kWh", Decimal("66.67"), total - first)]


def text(pdf: bytes) -> str:
    return "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)


def test_an_allocation_that_does_not_sum_to_the_total_is_refused() -> None:
    statement = sample_statement(3)
    wrong = rows(statement.total)
    wrong[1] = replace(wrong[1], amount=wrong[1].amount + Decimal("0.01"))
    with pytest.raises(MoneyError, match="the allocation sums to"):
        check(replace(statement, allocation=wrong))
    check(replace(statement, allocation=rows(statement.total)))


def test_several_institutions_get_the_table_one_gets_none() -> None:
    statement = sample_statement(3)
    many = replace(statement, institutions=[Party(f"单位{i}") for i in range(5)], allocation=rows(statement.total),
                   allocation_basis="按结算期内各单位计量用电量（kWh）占比分摊")
    printed = text(render_statement(many))
    assert "费用分摊" in printed and "甲单位" in printed and "31.5 kWh" in printed  # the total basis
    assert "等 5 家用能单位" in printed  # the header points to the table instead of listing all five
    one = replace(statement, allocation=[AllocationRow("A", "甲单位", "", None, "", Decimal("100.00"),
                                                       statement.total)])
    assert "费用分摊" not in text(render_statement(one))
    assert render_statement(one) == render_statement(statement)  # a single institution's PDF is unchanged


def test_the_snapshot_keeps_the_allocation_exactly() -> None:
    statement = sample_statement(3)
    with_split = replace(statement, allocation=rows(statement.total), allocation_basis="basis",
                         allocation_rule="measured_use:electricity")
    back = from_data(to_data(with_split))
    assert back.allocation == with_split.allocation and to_data(back) == to_data(with_split)
    assert render_statement(back) == render_statement(with_split)
    assert isinstance(back.allocation[0], AllocationRow) and back.allocation[0].basis == Decimal("10.5")
    # a snapshot taken before allocations existed reads back without one
    old = to_data(statement)
    for key in ("allocation", "allocation_basis", "allocation_rule"):
        old.pop(key)
    assert list(from_data(old).allocation) == []
