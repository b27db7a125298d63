"""The scheduled run recomputes a still-draft settlement whose inputs changed (issue 13): a draft written by an
older engine or before a data correction does not stay wrong; an unchanged draft, and anything past draft, is
left exactly as it is."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select
from sqlmodel import Session
from test_settlement_service import FEE, manager, wuxi  # noqa: F401  (the Wuxi civic centre fixture)

from emc.audit.models import AuditEvent
from emc.contracts.models import Contract
from emc.metering.service import ImportOptions, import_file
from emc.org.scope import Scope
from emc.settlement import draft_stamp, drafting, workflow
from emc.settlement.models import Settlement


def _row(session: Session, number: str) -> Settlement:
    return session.execute(select(Settlement).where(Settlement.number == number)).scalar_one()


def _recomputes(session: Session) -> int:
    return session.execute(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "settlement.recompute")).scalar_one()


def _make_stale(session: Session) -> None:
    """January's draft as one written before the apportioning fix looked: the savings and fee of another span."""
    stale = _row(session, "WX-SMZX-2018-201901")
    stale.inputs = {**stale.inputs, "savings.water.savings": "92121362.632"}
    stale.net_to_esco = stale.to_esco = Decimal("9999999.99")
    session.commit()


def _assert_fixed(session: Session, report: drafting.DueReport, recomputes: int) -> None:
    assert report.created == [] and report.recomputed == ["WX-SMZX-2018-201901"]
    fixed = _row(session, "WX-SMZX-2018-201901")
    assert fixed.status == "draft" and fixed.net_to_esco == FEE
    assert Decimal(fixed.inputs["savings.water.savings"]) < Decimal(fixed.inputs["savings.water.adjusted_baseline"])
    assert _recomputes(session) == recomputes + 1
    # nothing changed since: the next run rewrites nothing
    again = drafting.run_due(session, date(2019, 3, 5))
    assert again.recomputed == [] and _recomputes(session) == recomputes + 1


def test_a_draft_computed_by_other_code_is_recomputed_and_an_unchanged_one_left_alone(
        session: Session, wuxi: Contract) -> None:  # noqa: F811
    drafting.run_due(session, date(2019, 3, 5))
    session.commit()
    _make_stale(session)
    # what an older release left: its drafts stamped with its own code's digest
    draft_stamp.store(session, wuxi, draft_stamp.inputs_stamp(session, wuxi, code="an older release"))
    session.commit()
    before = _recomputes(session)
    report = drafting.run_due(session, date(2019, 3, 5))
    session.commit()
    _assert_fixed(session, report, before)


def test_a_draft_is_recomputed_when_an_input_changes_and_only_then(
        session: Session, wuxi: Contract, tmp_path: Path) -> None:  # noqa: F811
    drafting.run_due(session, date(2019, 3, 5))
    session.commit()
    _make_stale(session)
    before = _recomputes(session)
    # the inputs are as they were when the drafts were computed: the run trusts the stamp and reads nothing
    assert drafting.run_due(session, date(2019, 3, 5)).recomputed == []
    assert _recomputes(session) == before and _row(session, "WX-SMZX-2018-201901").net_to_esco == Decimal("9999999.99")
    # one more day of the station's weather is imported: the drafts' inputs changed, so they are recomputed
    day = tmp_path / "weather.csv"
    day.write_text("date,site,tmean_c\n2023-12-01,wuxi,8.1\n", encoding="utf-8")
    assert import_file(session, day, file_name="w.csv", actor="t", scope=Scope.everything(),
                       options=ImportOptions(kind="weather", station="58354")).ok
    session.commit()
    report = drafting.run_due(session, date(2019, 3, 5))
    session.commit()
    _assert_fixed(session, report, before)


def test_a_settlement_past_draft_is_never_recomputed(session: Session, wuxi: Contract) -> None:  # noqa: F811
    drafting.run_due(session, date(2019, 3, 5))
    row = _row(session, "WX-SMZX-2018-201812")
    workflow.transition(session, row, "submit", actor=manager())
    row.inputs = {**row.inputs, "note": "as submitted"}
    session.commit()
    report = drafting.run_due(session, date(2019, 3, 5))
    assert report.recomputed == []
    assert _row(session, "WX-SMZX-2018-201812").inputs["note"] == "as submitted"
