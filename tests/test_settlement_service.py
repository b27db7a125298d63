"""Settlements in the database: drafted from the Wuxi civic centre's measured data, the workflow by role,
the balanced ledger, idempotence under concurrency, corrections after approval — on both databases."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from emc import clock
from emc.audit.models import AuditEvent
from emc.baselines import service as baselines
from emc.contracts.models import Contract
from emc.contracts.service import load_contract
from emc.contracts.spec import load_contract_file
from emc.dbtypes import utcnow
from emc.metering.service import ImportOptions, import_file
from emc.org.models import Role, User
from emc.org.scope import Scope
from emc.org.service import load_regions
from emc.settlement import drafting, due_plan, ledger, period_inputs, records, workflow
from emc.settlement.core import controls
from emc.settlement.models import Settlement
from emc.tariffs import service as tariffs

ROOT = Path(__file__).resolve().parent.parent
WUXI = ROOT / "baselines" / "WX-SMZX-2018"
FEE = Decimal("1307829.01")  # 16,179,328.00 × 0.97 / 12, half-up to the fen


def manager(name: str = "mgr") -> User:
    return User(username=name, password_hash="x", role=Role.manager.value)


def approver() -> User:
    """A second manager: four eyes (the approver is neither the submitter nor who last changed the inputs)."""
    return manager("mgr2")


@pytest.fixture
def wuxi(session: Session) -> Contract:
    load_regions(session)
    tariffs.load_file(session, ROOT / "contracts" / "tariffs" / "wuxi.toml", actor="t")
    load_contract(session, load_contract_file(ROOT / "contracts" / "wuxi-civic-centre.toml"), source="w", actor="t")
    for name, kind, station in (("meter_readings_baseline_gbk.csv", "meter", None),
                                ("meter_readings_year1_gbk.csv", "meter", None), ("weather.csv", "weather", "58354")):
        assert import_file(session, WUXI / name, file_name=name, actor="t", scope=Scope.everything(),
                           options=ImportOptions(kind=kind, station=station)).ok
    contract = session.execute(select(Contract).where(Contract.code == "WX-SMZX-2018")).scalar_one()
    baselines.approve(session, baselines.fit(session, contract, "water", actor="t"), actor="t")
    session.commit()
    return contract


def test_due_periods_are_drafted_in_order_once(session: Session, wuxi: Contract) -> None:
    first = drafting.run_due(session, date(2019, 3, 5))
    session.commit()
    assert first.created == ["WX-SMZX-2018-201812", "WX-SMZX-2018-201901", "WX-SMZX-2018-201902"]
    again = drafting.run_due(session, date(2019, 3, 5))
    assert again.created == [] and again.waiting == []
    row = session.execute(select(Settlement).where(Settlement.number == "WX-SMZX-2018-201901")).scalar_one()
    assert (row.status, row.to_esco, row.net_to_esco) == ("draft", FEE, FEE)
    assert row.inputs["savings.water.source"].startswith("baseline water v")


def test_each_settlement_the_run_drafts_is_in_the_audit_trail_once(session: Session, wuxi: Contract) -> None:
    """run_due writes a contract's audit events together (one insert): every settlement it drafted, the
    year's true-up included, has exactly one draft event by the run's actor with its net amount."""
    report = drafting.run_due(session, date(2019, 12, 10), actor="scheduler")
    session.commit()
    assert len(report.created) == 13  # twelve months and the true-up
    events = session.execute(select(AuditEvent).where(AuditEvent.action == "settlement.draft")).scalars().all()
    assert sorted(e.object_id for e in events) == sorted(report.created)
    assert {e.actor for e in events} == {"scheduler"}
    nets = {r.number: str(r.net_to_esco) for r in session.execute(select(Settlement)).scalars()}
    assert all(e.after is not None and e.after["net_to_esco"] == nets[e.object_id] for e in events)
    assert drafting.run_due(session, date(2019, 12, 10), actor="scheduler").created == []
    assert session.execute(select(func.count()).where(AuditEvent.action == "settlement.draft")).scalar_one() == 13


def test_the_first_contract_year_and_its_true_up(session: Session, wuxi: Contract) -> None:
    report = drafting.run_due(session, date(2019, 12, 10))
    assert report.created[-2:] == ["WX-SMZX-2018-201911", "WX-SMZX-2018-201812Y"]
    year_end = session.execute(select(Settlement).where(Settlement.kind == "year_end")).scalar_one()
    months = session.execute(select(func.count()).where(Settlement.kind == "period")).scalar_one()
    assert months == 12
    # The electricity tariff WX-GS-10KV rises 0.7936 → 0.8136 from 2019-07-01 (contracts/tariffs/wuxi.toml) and
    # the contract's price_tariffs make it a fee change: 16,480,000 kWh × 0.02 × 0.97 = 319,712.00 a year,
    # 26,642.666… → 26,642.67 a month for July–November, naming the tariff version.
    july = session.execute(select(Settlement).where(Settlement.number == "WX-SMZX-2018-201907")).scalar_one()
    [change] = [line for line in records.lines_of(session, july) if line.kind == "custody_change"]
    assert change.amount == Decimal("26642.67")
    assert change.detail["tariff_version"] == "WX-GS-10KV/electricity@2019-07-01"
    assert july.inputs["tariff_versions"] == "WX-GS-10KV/electricity@2019-07-01"
    assert july.to_esco == FEE + Decimal("26642.67")
    # Periods: 12 × 1,307,829.01 + 5 × 26,642.67 = 15,827,161.47. The year's fee rounded once:
    # 15,693,948.16 + 319,712.00 × 5/12 (133,213.333…) = 15,827,161.49: the true-up pays 0.02.
    # The water guarantee (2 %) is met in year 1 (true savings 3.4 %), so no shortfall line.
    assert year_end.net_to_esco == Decimal("0.02")
    assert not [line for line in records.lines_of(session, year_end) if line.payer == "esco"]


def test_a_missing_tariff_makes_the_contract_wait(session: Session, wuxi: Contract) -> None:
    for row in tariffs.versions(session, "WX-GAS-NONRES"):
        session.delete(row)
    session.flush()
    report = drafting.run_due(session, date(2019, 2, 5))
    assert report.created == []
    assert "no gas tariff 'WX-GAS-NONRES' in force on 2018-11-30" in report.waiting[0]
    assert session.execute(select(func.count()).where(AuditEvent.action == "settlement.draft")).scalar_one() == 0


def test_no_approved_baseline_means_waiting_and_nothing_written(session: Session, wuxi: Contract) -> None:
    for b in baselines.versions(session, wuxi, "water"):
        b.status = "superseded"
    report = drafting.run_due(session, date(2019, 2, 5))
    assert report.created == [] and "no approved water baseline" in report.waiting[0]
    assert session.execute(select(func.count()).select_from(Settlement)).scalar_one() == 0


def test_workflow_roles_ledger_and_balances(session: Session, wuxi: Contract) -> None:
    [row] = drafting.draft(session, wuxi, date(2018, 12, 1), actor="t")
    esco = User(username="e", password_hash="x", role=Role.esco.value)
    with pytest.raises(controls.SettlementError, match="a esco user cannot"):
        workflow.transition(session, row, "submit", actor=esco)
    with pytest.raises(controls.SettlementError, match="'approve' needs submitted"):
        workflow.transition(session, row, "approve", actor=manager())
    workflow.transition(session, row, "submit", actor=manager())
    with pytest.raises(controls.SettlementError, match="say why"):
        workflow.transition(session, row, "reject", actor=manager(), reason="no")
    workflow.transition(session, row, "approve", actor=approver())
    assert len(row.inputs_hash) == 64 and ledger.ledger_problems(session) == []
    balances = ledger.balances(session, wuxi, clock.today())  # posted on the day of approval
    assert balances[("institution", "settlement_payable")] == -FEE
    assert balances[("esco", "settlement_receivable")] == FEE
    workflow.transition(session, row, "issue", actor=manager())
    workflow.countersign(session, row, actor=esco)
    with pytest.raises(controls.SettlementError, match="payment date and the bank reference"):
        workflow.transition(session, row, "pay", actor=User(username="f", password_hash="x", role="finance"))
    workflow.transition(session, row, "pay", actor=User(username="f", password_hash="x", role="finance"),
                       paid_on=records.local_day(utcnow()), reference="ICBC-20190120-0001")
    session.commit()
    after = ledger.balances(session, wuxi, clock.today())
    assert after[("institution", "settlement_payable")] == 0 and after[("esco", "settlement_receivable")] == 0
    assert all(v == 0 for v in after.values()), after  # payment settles every account the approval opened
    assert ledger.ledger_problems(session) == []


def test_two_concurrent_runs_create_one_settlement(engine, wuxi: Contract) -> None:  # type: ignore[no-untyped-def]
    barrier, errors = threading.Barrier(2), []

    def run() -> None:
        try:
            with Session(engine) as s:
                contract = s.get(Contract, wuxi.id)
                barrier.wait()
                drafting.draft(s, contract, date(2018, 12, 1), actor="thread")
                s.commit()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(Settlement)).scalar_one() == 1


def test_a_correction_after_approval_becomes_an_adjustment(session: Session, tmp_path: Path) -> None:
    """The hospital's shared savings depend on the data: a correction after approval is settled as a
    difference in a new settlement that references the original, which stays as it was."""
    hospital = ROOT / "baselines" / "CZ-ZLRMYY-HVAC-2024"
    load_regions(session)
    load_contract(session, load_contract_file(ROOT / "contracts" / "hospital-hvac-lighting.toml"), source="h",
                  actor="t")
    for sheet in (None, "日用气量"):
        assert import_file(session, hospital / "platform_export.xlsx", file_name="p.xlsx", actor="t",
                           scope=Scope.everything(), options=ImportOptions(sheet=sheet)).ok
    assert import_file(session, hospital / "weather.csv", file_name="w.csv", actor="t", scope=Scope.everything(),
                       options=ImportOptions(kind="weather", station="58343")).ok
    contract = session.execute(select(Contract).where(Contract.code == "CZ-ZLRMYY-HVAC-2024")).scalar_one()
    for utility in ("electricity", "gas"):
        baselines.approve(session, baselines.fit(session, contract, utility, actor="t"), actor="t")
    report = drafting.run_due(session, date(2024, 6, 10))
    assert report.created == ["CZ-ZLRMYY-HVAC-2024-202403"], report.waiting
    row = session.execute(select(Settlement)).scalar_one()
    workflow.transition(session, row, "submit", actor=manager())
    workflow.transition(session, row, "approve", actor=approver())
    session.commit()
    before = [(line.kind, line.amount) for line in records.lines_of(session, row)]
    assert row.net_to_esco > 0 and before
    # the platform re-sends April's main-meter data 10 % higher: a correction (replace mode)
    rows = "".join(f"CZ-ZLRMYY-E01,2024-04-{d:02d} {h:02d}:00,{2000 + h}\n" for d in range(1, 11) for h in range(24))
    fix = tmp_path / "fix.csv"
    fix.write_text("表计编号,时间,用电量(kWh)\n" + rows, encoding="utf-8")
    refused = import_file(session, fix, file_name="fix.csv", actor="t", scope=Scope.everything(),
                          options=ImportOptions(mode="replace"))
    [finding] = [f for f in refused.findings.kept if f.code == "used_by_approved"]
    assert not refused.ok and row.number in finding.message  # without a reason: refused, nothing written
    assert row.flagged == "" and session.execute(select(func.count()).select_from(Settlement)).scalar_one() == 1
    corrected = import_file(session, fix, file_name="fix.csv", actor="t", scope=Scope.everything(),
                            options=ImportOptions(mode="replace", reason="平台补传四月主表数据"))
    assert corrected.ok and corrected.batch.summary["replaced"] == 240
    # with one: the settlement is flagged and its difference drafted as an adjusting settlement
    adjustment = session.execute(select(Settlement).where(Settlement.adjusts_id == row.id)).scalar_one()
    session.commit()
    assert (adjustment.version, adjustment.status, adjustment.number) == (2, "draft", row.number + "-A1")
    assert adjustment.net_to_esco < 0  # more use, less saved: the ESCO was overpaid
    assert [(line.kind, line.amount) for line in records.lines_of(session, row)] == before  # never edited
    assert row.flagged == f"adjusted by {adjustment.number}"
    assert ledger.ledger_problems(session) == []


def test_data_loaded_once_for_many_periods_gives_the_same_figures(session: Session, wuxi: Contract) -> None:
    from emc.settlement.core.periods import settlement_periods

    versions = period_inputs.terms(session, wuxi)
    periods = settlement_periods(versions[-1].terms.contract)[:6]
    cache = due_plan.reporting_cache(session, wuxi, periods)
    assert (wuxi.id, "water") in cache
    for period in periods:
        fresh = period_inputs.period_data(session, wuxi, period, ["water"])
        cached = period_inputs.period_data(session, wuxi, period, ["water"], cache)
        assert fresh.savings == cached.savings


def test_reminders_for_approval_and_payment_beyond_their_days(session: Session, wuxi: Contract) -> None:
    from datetime import timedelta

    from emc.org.scope import Scope

    [row] = drafting.draft(session, wuxi, date(2018, 12, 1), actor="t")
    workflow.transition(session, row, "submit", actor=manager())
    today = row.submitted_at.date()
    assert workflow.reminders(session, Scope.everything(), today + timedelta(days=5)) == []
    [late] = workflow.reminders(session, Scope.everything(), today + timedelta(days=6))
    assert (late.number, late.waiting_for, late.days) == (row.number, "approval", 6)
    workflow.transition(session, row, "approve", actor=approver())
    workflow.transition(session, row, "issue", actor=manager())
    assert row.due_on == workflow.local_day(row.issued_at) + timedelta(days=30)  # the contract's 30 payment days
    assert workflow.reminders(session, Scope.everything(), row.due_on) == []  # due today is not yet overdue
    [unpaid] = workflow.reminders(session, Scope.everything(), row.due_on + timedelta(days=3))
    assert (unpaid.number, unpaid.waiting_for, unpaid.days) == (row.number, "payment", 3)


def test_the_statement_lists_the_adjustments_acting_in_the_period(session: Session, wuxi: Contract) -> None:
    """IPMVP: a saving computed against an adjusted baseline says which adjustments it used, and why."""
    from emc.settlement import statements

    nra = baselines.propose_adjustment(session, wuxi, "water", kind="one_time", start=date(2018, 12, 10),
                                       end=date(2018, 12, 20), amount=120.0, actor="t",
                                       reason="消防管网冲洗，用水 1,200 m³（一次性，非节水措施所致）")
    baselines.decide_adjustment(session, nra, approve_it=True, actor=manager())
    later = baselines.propose_adjustment(session, wuxi, "water", kind="one_time", start=date(2019, 3, 1),
                                         end=date(2019, 3, 5), amount=50.0, actor="t", reason="三月的事件，不在本期")
    baselines.decide_adjustment(session, later, approve_it=True, actor=manager())
    [row] = drafting.draft(session, wuxi, date(2018, 12, 1), actor="t")
    workflow.transition(session, row, "submit", actor=manager())
    workflow.transition(session, row, "approve", actor=approver())
    [adj] = statements.build(session, row).adjustments
    assert "消防管网冲洗" in adj.reason and adj.quantity == Decimal("120") and adj.unit == "m³"
