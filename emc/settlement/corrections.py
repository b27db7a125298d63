"""Data corrected after approval: flag the approved settlements whose readings were revised since, and settle
the difference as an adjustment (version n + 1 referencing the original) — an approved settlement is never edited."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlmodel import Session, col

from emc.audit import service as audit
from emc.config import get_settings
from emc.contracts.models import Contract, ContractMeter
from emc.metering.models import ReadingRevision
from emc.org.models import Role, User
from emc.settlement.core.adjustments import adjustment_lines
from emc.settlement.core.controls import SettlementError
from emc.settlement.core.lines import Line
from emc.settlement.core.periods import settlement_periods
from emc.settlement.drafting import compute_period, compute_year, store
from emc.settlement.models import Settlement, SettlementStatus
from emc.settlement.period_inputs import previous_state, terms
from emc.settlement.records import lines_of, require_role


def flag_changed(session: Session) -> list[str]:
    """Flag approved settlements whose readings were corrected after approval (reading_revision)."""
    flagged = []
    for row in session.execute(select(Settlement).where(col(Settlement.status).in_(
            [SettlementStatus.approved, SettlementStatus.issued, SettlementStatus.paid]),
            Settlement.flagged == "")).scalars():
        meters = select(ContractMeter.meter_id).where(ContractMeter.contract_id == row.contract_id)
        changed = session.execute(select(func.count()).select_from(ReadingRevision).where(
            col(ReadingRevision.meter_id).in_(meters), ReadingRevision.changed_at > row.approved_at,
            ReadingRevision.period_end > _start_of(row.period_start),
            ReadingRevision.period_start < _start_of(row.period_end))).scalar_one()
        if changed:
            row.flagged = f"{changed} reading(s) corrected after approval; settle the difference as an adjustment"
            audit.record(session, actor="system", action="settlement.flag", object_type="settlement",
                         object_id=row.number, after={"flag": row.flagged})
            flagged.append(row.number)
    return flagged


def _start_of(day: date) -> datetime:
    """The first instant of a local day (readings are stored as instants)."""
    return datetime.combine(day, time(), ZoneInfo(get_settings().timezone))


def adjust(session: Session, row: Settlement, *, actor: User | str, on_data_change: bool = False) -> Settlement:
    """Recompute a flagged approved settlement with today's data; the difference becomes a new settlement
    (version n + 1) that references the original. The original is never edited. ``on_data_change``: drafted
    because whoever reverted or replaced the data (with a reason) changed it, whatever their role."""
    if not on_data_change:
        require_role(actor, Role.admin, Role.manager)
    if row.status not in (SettlementStatus.approved, SettlementStatus.issued, SettlementStatus.paid):
        raise SettlementError(f"{row.number} is {row.status}; a draft is simply recomputed")
    contract = session.get(Contract, row.contract_id)
    assert contract is not None
    versions = terms(session, contract)
    periods = settlement_periods(versions[-1].terms.contract)
    if row.kind == "year_end":
        corrected = compute_year(session, contract, versions,
                                 [p for p in periods if p.contract_year == row.contract_year])
    else:
        period = next(p for p in periods if (p.start, p.end) == (row.period_start, row.period_end))
        corrected = compute_period(session, contract, versions, period, previous_state(session, contract, period))
    original = [Line.from_dict(line.detail) for line in lines_of(session, row)]
    diff = adjustment_lines(original, list(corrected.lines), reference=row.number)
    if not diff:
        row.flagged = ""
        raise SettlementError(f"{row.number}: the corrected data give the same amounts; nothing to adjust")
    version = (session.execute(select(func.max(Settlement.version)).where(
        Settlement.contract_id == row.contract_id, Settlement.kind == row.kind,
        Settlement.period_start == row.period_start, Settlement.period_end == row.period_end)).scalar_one() or 1) + 1
    new = store(session, contract, corrected, actor=actor, version=version, adjusts=row, lines=diff)
    new.state_after = {}
    row.flagged = f"adjusted by {new.number}"
    audit.record(session, actor=actor, action="settlement.adjust", object_type="settlement", object_id=new.number,
                 after={"adjusts": row.number, "net_to_esco": str(new.net_to_esco)})
    return new
