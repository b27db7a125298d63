"""Money and data that stay whole (issue 12, the money half), on SQLite and PostgreSQL:

- every workflow action happens once under concurrency, and the ledger refuses a second posting by schema;
- the ledger check catches a duplicated posting, not only an imbalance;
- what an approved settlement used is recorded; reverting or correcting it is refused without a reason, and
  with one the settlement is flagged and its difference drafted; a weather correction's revert restores it;
- the approved statement is frozen: an amended English name or a later issue day does not change its bytes;
- four eyes, confirmed amounts, payment dates and references, payments corrected by reversal;
- a tariff version cannot start inside periods already priced and approved, by form or by file.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from test_settlement_service import WUXI, approver, manager, wuxi  # noqa: F401  (wuxi: a fixture)

from emc.audit.models import AuditEvent
from emc.config import get_settings
from emc.contracts.models import Contract
from emc.dbtypes import utcnow
from emc.metering.models import ImportBatch, WeatherObservation, WeatherStation
from emc.metering.revert import approved_settlements_using, revert_batch
from emc.metering.service import ImportOptions, import_file
from emc.org.models import Role, User
from emc.org.scope import Scope
from emc.org.service import upsert_institution
from emc.settlement import drafting, ledger, provenance, records, statements, workflow
from emc.settlement.core import controls
from emc.settlement.core.controls import ConfirmationError, ControlError, check_confirmation
from emc.settlement.models import LedgerEntry, Settlement, SettlementPayment
from emc.tariffs import service as tariffs

FINANCE = User(username="fin", password_hash="x", role=Role.finance.value)


def today() -> date:
    day = records.local_day(utcnow())
    assert day is not None
    return day


def _drafts(session: Session, wuxi: Contract, until: date) -> list[Settlement]:  # noqa: F811
    drafting.run_due(session, until)
    session.commit()
    return list(session.execute(select(Settlement).where(Settlement.kind == "period")
                                .order_by(Settlement.period_start)).scalars())


def _race(engine, number: str, action: str, n: int, **kwargs) -> tuple[int, list[str]]:  # type: ignore[no-untyped-def]
    """``n`` sessions (own connections) try ``action`` on one settlement at the same moment."""
    barrier, ok, refused = threading.Barrier(n), [], []

    def run() -> None:
        with Session(engine) as s:
            row = s.execute(select(Settlement).where(Settlement.number == number)).scalar_one()
            barrier.wait()
            try:
                workflow.transition(s, row, action, **kwargs)
                s.commit()
                ok.append(1)
            except Exception as exc:  # noqa: BLE001  (the loser's error is what we inspect)
                s.rollback()
                refused.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return len(ok), refused


def test_concurrent_approvals_and_payments_post_exactly_once(engine, wuxi: Contract) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """Issue 12: two sessions approving (or paying) the same settlement at once both succeeded and the ledger
    doubled. Now one wins, the others are refused, and the ledger holds one posting set per event."""
    with Session(engine) as s:
        rows = _drafts(s, s.get(Contract, wuxi.id), date(2019, 3, 5))  # type: ignore[arg-type]
        for row in rows:
            workflow.transition(s, row, "submit", actor=manager())
        s.commit()
        numbers = [r.number for r in rows]
        lines = {r.number: len(records.lines_of(s, r)) for r in rows}
    for number in numbers:  # three settlements, four approvers racing on each
        won, refused = _race(engine, number, "approve", 4, actor=approver())
        assert won == 1, refused
        assert all("changed by someone else" in r or "is approved" in r or "could not" in r.lower()
                   for r in refused), refused
    with Session(engine) as s:
        for row in s.execute(select(Settlement).where(Settlement.number.in_(numbers))).scalars():
            workflow.transition(s, row, "issue", actor=manager())
        s.commit()
    for number in numbers:
        won, refused = _race(engine, number, "pay", 4, actor=FINANCE, paid_on=today(), reference="ICBC-RACE-0001")
        assert won == 1, refused
    with Session(engine) as s:
        for number in numbers:
            row = s.execute(select(Settlement).where(Settlement.number == number)).scalar_one()
            postings = dict(s.execute(select(LedgerEntry.posting, func.count()).where(
                LedgerEntry.settlement_id == row.id).group_by(LedgerEntry.posting)).all())
            assert postings == {"approve": 2 * lines[number], "payment:1": 2 * lines[number]}, (number, postings)
            assert s.execute(select(func.count()).select_from(SettlementPayment).where(
                SettlementPayment.settlement_id == row.id)).scalar_one() == 1
            assert all(v == 0 for (_, _), v in ledger.balances(s, s.get(Contract, wuxi.id), today()).items())  # type: ignore[arg-type]
        assert ledger.ledger_problems(s) == []


def test_the_ledger_refuses_a_second_posting_and_its_check_catches_duplicates(session: Session,
                                                                               wuxi: Contract) -> None:  # noqa: F811
    """A duplicated posting balances (every settlement still nets to zero), so the old check missed it. The
    schema refuses the same posting twice; a second payment posting without a payment is reported."""
    [row] = drafting.draft(session, wuxi, date(2018, 12, 1), actor="t")
    workflow.transition(session, row, "submit", actor=manager())
    workflow.transition(session, row, "approve", actor=approver())
    session.commit()
    entry = session.execute(select(LedgerEntry).where(LedgerEntry.settlement_id == row.id)).scalars().first()
    assert entry is not None
    copy = {k: getattr(entry, k) for k in ("settlement_id", "contract_id", "posted_on", "party", "account", "amount",
                                           "memo", "posting", "line_position")}
    with pytest.raises(IntegrityError), session.begin_nested():  # the same posting twice: impossible by schema
        session.add(LedgerEntry(**copy))
        session.flush()
    # what an old race left behind: the approval's entries posted again (under another key) — balanced
    for e in session.execute(select(LedgerEntry).where(LedgerEntry.settlement_id == row.id)).scalars().all():
        session.add(LedgerEntry(**{**{k: getattr(e, k) for k in copy}, "posting": "payment:1", "amount": -e.amount}))
        session.add(LedgerEntry(**{**{k: getattr(e, k) for k in copy}, "posting": "payment:2", "amount": -e.amount}))
    session.flush()
    problems = ledger.ledger_problems(session)
    assert any(row.number in p and "payment(s) in force" in p for p in problems), problems


def test_provenance_recorded_at_approval_and_a_revert_flags_the_settlement(session: Session,
                                                                          wuxi: Contract) -> None:  # noqa: F811
    """approved_settlements_using() was a stub returning []: a batch behind approved money could be reverted
    unnoticed. Now approval records what it used, and a revert (with its reason) flags the settlement."""
    [row] = drafting.draft(session, wuxi, date(2018, 12, 1), actor="t")
    workflow.transition(session, row, "submit", actor=manager())
    workflow.transition(session, row, "approve", actor=approver())
    session.commit()
    used = {(s.kind, s.ref) for s in provenance.sources_of(session, row)}
    batches = {b.file_name: b for b in session.execute(select(ImportBatch)).scalars()}
    year1, weather = batches["meter_readings_year1_gbk.csv"], batches["weather.csv"]
    assert ("reading_batch", str(year1.id)) in used
    assert ("reading_batch", str(batches["meter_readings_baseline_gbk.csv"].id)) not in used  # other years
    kinds = {k for k, _ in used}
    assert {"reading_batch", "baseline", "contract_version"} <= kinds, kinds
    year1_source = next(s for s in provenance.sources_of(session, row) if s.ref == str(year1.id))
    assert year1_source.rows > 0 and year1_source.first_start <= datetime(2018, 12, 1, tzinfo=UTC)
    assert [s.number for s in approved_settlements_using(session, year1)] == [row.number]
    # a settlement approved before sources were recorded gets them from the nightly job
    for source in provenance.sources_of(session, row):
        session.delete(source)
    session.flush()
    assert approved_settlements_using(session, year1) == [] and provenance.record_missing(session) == 1
    assert {(s.kind, s.ref) for s in provenance.sources_of(session, row)} == used
    with pytest.raises(ValueError, match="say why"):
        revert_batch(session, year1, actor=manager(), reason="")
    revert_batch(session, year1, actor=manager(), reason="错传了测试平台的数据")
    session.commit()
    assert row.flagged.startswith(f"import {year1.id} reverted: 错传了测试平台的数据")
    # its data gone, the period cannot be settled again: flagged with why, nothing drafted
    assert "no water readings" in row.flagged
    flags = session.execute(select(AuditEvent).where(AuditEvent.action == "settlement.flag",
                                                     AuditEvent.object_id == row.number)).scalars().all()
    assert len(flags) == 1 and flags[0].reason == "错传了测试平台的数据"
    assert weather.status == "committed"


def test_reverting_a_weather_correction_restores_the_observations(session: Session, tmp_path: Path) -> None:
    """Issue 12: reverting a weather correction deleted the original observations (1,155 → 1,153)."""
    assert import_file(session, WUXI / "weather.csv", file_name="weather.csv", actor="t", scope=Scope.everything(),
                       options=ImportOptions(kind="weather", station="58354")).ok
    station = session.execute(select(WeatherStation).where(WeatherStation.code == "58354")).scalar_one()

    def observations() -> dict[datetime, float]:
        return dict(session.execute(select(WeatherObservation.period_start, WeatherObservation.temperature_c)
                                    .where(WeatherObservation.station_id == station.id)).all())

    before = observations()
    fix = tmp_path / "fix.csv"
    fix.write_text("date,site,tmean_c\n2018-01-01,wuxi,20.5\n2018-01-02,wuxi,21.5\n", encoding="utf-8")
    report = import_file(session, fix, file_name="fix.csv", actor="t", scope=Scope.everything(),
                         options=ImportOptions(kind="weather", station="58354", mode="replace"))
    assert report.ok and report.batch.summary["replaced"] == 2
    changed = observations()
    moved = {k: (before[k], v) for k, v in changed.items() if before[k] != v}
    assert len(changed) == len(before) and sorted(new for _, new in moved.values()) == [20.5, 21.5]
    revert_batch(session, report.batch, actor=manager(), reason="更正有误，恢复原值")
    session.commit()
    assert observations() == before  # every observation back, with its original temperature


def test_the_approved_statement_is_frozen(session: Session, wuxi: Contract) -> None:  # noqa: F811
    """Issue 12: a statement rendered from today's contract and parties, carrying its issue date, stopped
    verifying after an amendment of an English name or an issue on a later day than approval."""
    [row] = drafting.draft(session, wuxi, date(2018, 12, 1), actor="t")
    workflow.transition(session, row, "submit", actor=manager())
    workflow.transition(session, row, "approve", actor=approver())
    session.commit()
    approved = statements.render(session, row)
    institution = statements.build(session, row).institutions[0]
    from emc.contracts.models import ContractInstitution
    from emc.org.models import Institution

    inst = session.execute(select(Institution).join(ContractInstitution, ContractInstitution.institution_id ==
                                                    Institution.id).where(ContractInstitution.contract_id == wuxi.id)
                           ).scalars().first()
    assert inst is not None and inst.name_en == institution.name_en
    upsert_institution(session, inst.code, {"name_en": "Wuxi Civic Centre (renamed)"}, actor="admin")
    session.commit()
    assert statements.build(session, row).institutions[0].name_en == "Wuxi Civic Centre (renamed)"  # today's data
    assert statements.render(session, row) == approved  # the approved rendering did not move
    later = (row.approved_at or utcnow()) + timedelta(days=3)
    workflow.transition(session, row, "issue", actor=manager(), at=later)
    session.commit()
    assert row.due_on == records.local_day(later) + timedelta(days=30)  # the issue record carries the dates
    assert statements.render(session, row) == approved
    assert statements.pdf_digest(statements.render(session, row)) == statements.pdf_digest(approved)


def test_four_eyes_on_by_default_and_audited_when_off(session: Session, wuxi: Contract,  # noqa: F811
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _drafts(session, wuxi, date(2019, 2, 5))
    first, second = rows[0], rows[1]
    workflow.transition(session, first, "submit", actor=manager())
    with pytest.raises(controls.SettlementError, match="four eyes — mgr submitted it"):
        workflow.transition(session, first, "approve", actor=manager())
    # whoever last changed the inputs (recomputed the draft) may not approve either
    drafting.draft(session, wuxi, second.period_start, actor=approver())
    workflow.transition(session, second, "submit", actor=manager())
    with pytest.raises(controls.SettlementError, match="mgr2 last changed its inputs"):
        workflow.transition(session, second, "approve", actor=approver())
    assert (first.status, second.status) == ("submitted", "submitted")
    monkeypatch.setenv("EMC_FOUR_EYES", "false")  # a one-person office
    get_settings.cache_clear()
    try:
        workflow.transition(session, first, "approve", actor=manager())
    finally:
        monkeypatch.delenv("EMC_FOUR_EYES")
        get_settings.cache_clear()
    assert first.status == "approved"
    [waived] = session.execute(select(AuditEvent).where(AuditEvent.action == "settlement.four_eyes_waived")).scalars()
    assert waived.object_id == first.number and waived.after == {"four_eyes": "off", "why": "mgr submitted it"}


def test_payments_dated_referenced_and_corrected_by_reversal(session: Session, wuxi: Contract) -> None:  # noqa: F811
    [row] = drafting.draft(session, wuxi, date(2018, 12, 1), actor="t")
    workflow.transition(session, row, "submit", actor=manager())
    workflow.transition(session, row, "approve", actor=approver())
    workflow.transition(session, row, "issue", actor=manager())
    session.commit()
    for paid_on, reference, why in ((date(2019, 1, 20), "ICBC-0001", "before the statement was issued"),
                                    (today() + timedelta(days=1), "ICBC-0001", "in the future"),
                                    (today(), "x", "not a bank reference"),
                                    (today(), "!!!!!!", "not a bank reference")):
        with pytest.raises(ControlError, match=why):
            workflow.transition(session, row, "pay", actor=FINANCE, paid_on=paid_on, reference=reference)
        session.rollback()
    workflow.transition(session, row, "pay", actor=FINANCE, paid_on=today(), reference="ICBC 2019/0120-01")
    with pytest.raises(controls.SettlementError, match="is paid"):
        workflow.transition(session, row, "pay", actor=FINANCE, paid_on=today(), reference="ICBC-0002")
    with pytest.raises(controls.SettlementError, match="say why the payment is reversed"):
        workflow.transition(session, row, "reverse_payment", actor=FINANCE, reason="")
    workflow.transition(session, row, "reverse_payment", actor=FINANCE, reason="付款金额登记错误，已与银行核对")
    assert (row.status, row.paid_on, row.paid_reference) == ("issued", None, "")
    assert ledger.ledger_problems(session) == []
    owed = ledger.balances(session, wuxi, today())
    assert owed[("institution", "settlement_payable")] == -Decimal("1307829.01")  # owed again
    workflow.transition(session, row, "pay", actor=FINANCE, paid_on=today(), reference="ICBC-0002")
    session.commit()
    history = [(p.kind, p.seq, p.reference) for p in workflow.payments(session, row)]
    assert history == [("payment", 1, "ICBC 2019/0120-01"), ("reversal", 1, "ICBC 2019/0120-01"),
                       ("payment", 2, "ICBC-0002")]
    assert all(v == 0 for v in ledger.balances(session, wuxi, today()).values())
    assert ledger.ledger_problems(session) == []


def test_an_irreversible_action_confirms_the_amount() -> None:
    net = Decimal("1307829.01")
    check_confirmation("N", "approve", net, "1,307,829.01")
    check_confirmation("N", "submit", net, None)  # reversible: nothing to confirm
    with pytest.raises(ConfirmationError, match="confirm 'approve' with the amount 1,307,829.01"):
        check_confirmation("N", "approve", net, None)
    with pytest.raises(ConfirmationError, match="is not the settlement's"):
        check_confirmation("N", "pay", net, "1307829.00")


def test_a_tariff_version_cannot_start_inside_approved_periods(session: Session, wuxi: Contract) -> None:  # noqa: F811
    """Issue 12: a backdated price notice through the page shortened a version that priced approved
    settlements. Refused by form and by file alike; a version starting after the approved periods is fine."""
    july = next(r for r in _drafts(session, wuxi, date(2019, 8, 5)) if r.number == "WX-SMZX-2018-201907")
    workflow.transition(session, july, "submit", actor=manager())
    workflow.transition(session, july, "approve", actor=approver())
    session.commit()
    assert tariffs.used_by(session, "WX-GS-10KV/electricity@2019-07-01") == [july.number]  # from provenance
    base = tariffs.find(session, "WX-GS-10KV", "electricity", "2019-07-01")
    assert base is not None
    with pytest.raises(tariffs.TariffInUse, match=r"WX-SMZX-2018-201907.*2019-08-01 at the earliest"):
        tariffs.new_version(session, base, version="2019-07-15", effective_from=date(2019, 7, 15), source="x",
                            prices={"price": "0.80"}, actor=manager())
    session.rollback()
    text = """format = 1
[[tariffs]]
code = "WX-GS-10KV"
utility = "electricity"
name = "backdated"
version = "2019-07-20"
effective_from = 2019-07-20
source = "a backdated notice"
price = 0.80
"""
    with pytest.raises(tariffs.TariffInUse, match="WX-SMZX-2018-201907"):
        tariffs.load_text(session, text, "late.toml", actor=manager())
    session.rollback()
    saved = tariffs.new_version(session, base, version="2019-08-01", effective_from=date(2019, 8, 1), source="x",
                                prices={"price": "0.80"}, actor=manager())
    assert saved.action == "created"


def test_the_api_confirms_the_amount_of_an_irreversible_action(demo_server) -> None:  # type: ignore[no-untyped-def]
    """The JSON API as a machine client uses it: approving without the amount, or with another, is a 422
    that says which amount to confirm; with it, the settlement is approved once."""
    from test_finance_pages import OM, finance_data
    from test_web import login

    finance_data(demo_server)  # the custody contract OM, its first months settled by the finance tests
    with Session(demo_server.engine) as s:  # this test's own period: February 2023 (no other test reads it)
        contract = s.execute(select(Contract).where(Contract.code == OM)).scalar_one()
        for month in (date(2023, 1, 1), date(2023, 2, 1)):
            [row] = drafting.draft(s, contract, month, actor="t")
        number = row.number
        s.commit()
    m, mt = login(demo_server, "manager")
    a, at = login(demo_server, "manager2")
    assert m.post(f"/settlements/{number}/submit", data={"csrf_token": mt}).status_code in (204, 303)
    amount = m.get(f"/api/settlements/{number}").json()["net_to_esco"]
    headers = {"X-CSRF-Token": at}
    missing = a.post(f"/api/settlements/{number}/approve", json={}, headers=headers)
    # a 422 has the documented validation shape: a list of {loc, msg, type, ...}
    assert missing.status_code == 422 and f"{Decimal(amount):,.2f}" in missing.json()["detail"][0]["msg"]
    wrong = a.post(f"/api/settlements/{number}/approve", json={"confirm_amount": "0.01"}, headers=headers)
    assert wrong.status_code == 422 and "is not the settlement's" in wrong.json()["detail"][0]["msg"]
    done = a.post(f"/api/settlements/{number}/approve", json={"confirm_amount": amount}, headers=headers)
    assert done.status_code == 200 and done.json()["status"] == "approved"
    again = a.post(f"/api/settlements/{number}/approve", json={"confirm_amount": amount}, headers=headers)
    assert again.status_code == 409 and "is approved" in again.json()["detail"]
