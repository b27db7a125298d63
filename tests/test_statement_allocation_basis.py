"""Each institution's basis for splitting a statement (emc.settlement.statements_allocation), read from stored
readings on SQLite and PostgreSQL: main meters only, in the canonical unit, a reading across the period's edge
counted for its time inside; the baseline period and fixed shares; who signs for the paying side."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlmodel import Session

from emc.contracts.allocation import allocation_of
from emc.contracts.models import Contract
from emc.contracts.service import load_contract
from emc.contracts.spec import ContractFile, parse_contract
from emc.metering.models import Meter, Reading
from emc.org.models import Institution
from emc.org.service import load_regions
from emc.reports import statement as st
from emc.settlement import statements_allocation as allocation

TZ = ZoneInfo("Asia/Shanghai")
HEAD = """format = 1
[contract]
code = "T-GROUP"
name = "三校照明节能"
type = "shared_savings"
start = 2024-01-01
end = 2026-12-31
settlement_frequency = "monthly"
[esco]
code = "T-ESCO"
name = "测试节能服务有限公司"
"""
INSTITUTION = """[[institutions]]
code = "{code}"
name = "{name}"
category = "school"
region = "320211"
"""
METER = """[[meters]]
code = "{code}"
institution = "{institution}"
utility = "electricity"
unit = "{unit}"
sub_item = "{sub_item}"
"""
TAIL = """[baseline]
start = 2023-01-01
end = 2023-12-31
[valuation]
policy = "baseline_price"
prices = {{ electricity = 0.68 }}
[[components]]
key = "share"
kind = "shared_savings"
utilities = ["electricity"]
esco_share = [0.8, 0.8, 0.8]
{allocation}
"""


def contract_text(allocation_term: str = "") -> str:
    parts = [HEAD]
    for code, name in (("T-A", "甲小学"), ("T-B", "乙中学"), ("T-C", "丙幼儿园")):
        parts.append(INSTITUTION.format(code=code, name=name))
    for code, institution, unit, sub_item in (("T-A-E", "T-A", "kWh", "total"), ("T-A-HVAC", "T-A", "kWh", "hvac"),
                                              ("T-B-E", "T-B", "MWh", "total"), ("T-C-E", "T-C", "kWh", "total")):
        parts.append(METER.format(code=code, institution=institution, unit=unit, sub_item=sub_item))
    parts.append(TAIL.format(allocation=allocation_term))
    return "\n".join(parts)


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=TZ)


def read(session: Session, meter: str, start: date, end: date, value: float) -> None:
    meter_id = session.execute(select(Meter.id).where(Meter.code == meter)).scalar_one()
    session.add(Reading(meter_id=meter_id, period_start=at(start), period_end=at(end), value=value))


@pytest.fixture
def group(session: Session) -> tuple[Session, Contract, list[Institution], ContractFile]:
    load_regions(session)
    terms = parse_contract(contract_text('[allocation]\nsignatory = "T-B"\n'))
    load_contract(session, terms, source="t", actor="t")
    # June 2024: A reads 1,000 kWh in two halves; its HVAC sub-meter (inside it) 500; B reads 2 MWh; C has a bill
    # from 16 May to 16 June of 3,100 kWh, of which 15 of 31 days fall in June
    read(session, "T-A-E", date(2024, 6, 1), date(2024, 6, 16), 400.0)
    read(session, "T-A-E", date(2024, 6, 16), date(2024, 7, 1), 600.0)
    read(session, "T-A-HVAC", date(2024, 6, 1), date(2024, 7, 1), 500.0)
    read(session, "T-B-E", date(2024, 6, 1), date(2024, 7, 1), 2.0)
    read(session, "T-C-E", date(2024, 5, 16), date(2024, 6, 16), 3100.0)
    read(session, "T-A-E", date(2023, 3, 1), date(2023, 4, 1), 7000.0)  # baseline year: A only and C
    read(session, "T-C-E", date(2023, 3, 1), date(2023, 4, 1), 3000.0)
    session.commit()
    contract = session.execute(select(Contract).where(Contract.code == "T-GROUP")).scalar_one()
    institutions = list(session.execute(select(Institution).where(Institution.code.in_(["T-A", "T-B", "T-C"]))
                                        .order_by(Institution.code)).scalars())
    return session, contract, institutions, terms


JUNE = (date(2024, 6, 1), date(2024, 7, 1))
NAMES = {"electricity": ("电", "Electricity", "kWh")}


def test_measured_use_counts_main_meters_in_the_canonical_unit_and_part_of_an_edge_reading(group: tuple) -> None:
    session, contract, institutions, terms = group
    use = allocation.metered_use(session, contract.id, "electricity", *JUNE)
    ids = {i.code: i.id for i in institutions}
    assert use == {ids["T-A"]: Decimal("1000.0"), ids["T-B"]: Decimal("2000.0"), ids["T-C"]: Decimal("1500.0")}
    split = allocation.split(session, contract.id, terms, institutions, JUNE, Decimal("900.00"), NAMES)
    assert [(r.code, r.basis, r.unit, r.share_percent, r.amount) for r in split.rows] == [
        ("T-A", Decimal("1000.0"), "kWh", Decimal("22.22"), Decimal("200.00")),
        ("T-B", Decimal("2000.0"), "kWh", Decimal("44.44"), Decimal("400.00")),
        ("T-C", Decimal("1500.0"), "kWh", Decimal("33.33"), Decimal("300.00"))]
    assert split.rule == "measured_use:electricity" and "用电量" in split.basis and split.problem == ""
    # a span inside readings: each reading spanning it counts by its days inside (C's bill: 5 of its 31 days)
    inner = allocation.metered_use(session, contract.id, "electricity", date(2024, 6, 5), date(2024, 6, 10))
    assert inner == {ids["T-A"]: Decimal("133.3"), ids["T-B"]: Decimal("333.3"), ids["T-C"]: Decimal("500.0")}
    # readings across both edges at once: A's first half from its 6th day, its second half to its 4th
    both = allocation.metered_use(session, contract.id, "electricity", date(2024, 6, 10), date(2024, 6, 20))
    assert both == {ids["T-A"]: Decimal("320.0"), ids["T-B"]: Decimal("666.7"), ids["T-C"]: Decimal("600.0")}


def test_baseline_use_and_fixed_shares(group: tuple) -> None:
    session, contract, institutions, _ = group
    baseline = parse_contract(contract_text('[allocation]\nbasis = "baseline_use"\n'))
    split = allocation.split(session, contract.id, baseline, institutions, JUNE, Decimal("100.01"), NAMES)
    # 7,000 : 0 : 3,000 → 70.007 and 30.003: floors 70.00 and 30.00, the fen to the larger remainder (A)
    assert [(r.code, r.basis, r.amount) for r in split.rows] == [
        ("T-A", Decimal("7000.0"), Decimal("70.01")), ("T-B", Decimal("0"), Decimal("0.00")),
        ("T-C", Decimal("3000.0"), Decimal("30.00"))]
    assert "基期（2023-01-01 至 2023-12-31）" in split.basis
    fixed = parse_contract(contract_text('[allocation]\nbasis = "fixed"\n'
                                         'shares = { "T-A" = 0.5, "T-B" = 0.25, "T-C" = 0.25 }\n'))
    split = allocation.split(session, contract.id, fixed, institutions, JUNE, Decimal("0.03"), NAMES)
    # 3 fen as 1.5 : 0.75 : 0.75 → floors 1, 0, 0; the 2 fen left go to the larger remainders 0.75 (B and C)
    assert [(r.code, r.basis, r.share_percent, r.amount) for r in split.rows] == [
        ("T-A", None, Decimal("50.00"), Decimal("0.01")), ("T-B", None, Decimal("25.00"), Decimal("0.01")),
        ("T-C", None, Decimal("25.00"), Decimal("0.01"))]


def test_a_period_without_any_use_is_not_split_and_says_so(group: tuple) -> None:
    session, contract, institutions, terms = group
    split = allocation.split(session, contract.id, terms, institutions, (date(2025, 1, 1), date(2025, 2, 1)),
                             Decimal("10.00"), NAMES)
    assert split.rows == [] and "未能分摊" in split.problem and "no institution has a positive basis" in split.problem


def test_the_representative_or_the_bureau_signs_for_the_paying_side(group: tuple) -> None:
    session, _, institutions, terms = group
    esco = st.Party("测试节能服务有限公司")
    rep = allocation.paying_side(session, allocation_of(terms), institutions)
    assert [(s.role, s.party.name) for s in allocation.signatories(rep, esco)] == [
        ("甲方（用能单位代表）", "乙中学"), ("乙方（节能服务公司）", "测试节能服务有限公司")]
    assert rep is not None and allocation.payer_party(rep, 3).name == "乙中学（代 3 家用能单位，见分摊表）"
    bureau = allocation.paying_side(session, allocation_of(parse_contract(contract_text())), institutions)
    assert bureau is not None and bureau.party.name == "滨湖区机关事务管理局"
    assert allocation.paying_side(session, allocation_of(terms), institutions[:1]) is None
    assert allocation.signatories(None, esco) == []
