"""The approval workflow: submit, approve (frozen, hashed, posted, provenance recorded), reject, issue, pay,
reverse a payment, the ESCO's countersignature — each exactly once under a row lock and a compare-and-set — and the
reminders of settlements overdue for approval or payment."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, literal, select, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col

from emc.audit import service as audit
from emc.config import get_settings
from emc.contracts.models import Contract
from emc.dbtypes import UTCDateTime, plus_days, utcnow
from emc.org.models import Role, User
from emc.settlement.core import controls
from emc.settlement.core.controls import SettlementError
from emc.settlement.ledger import post
from emc.settlement.models import (
    Settlement,
    SettlementPayment,
    SettlementStatus,
)
from emc.settlement.records import actor_name, contract_of, current_version_spec, inputs_hash, local_day, require_role

TRANSITIONS = {
    "submit": ({SettlementStatus.draft}, SettlementStatus.submitted, (Role.admin, Role.manager)),
    "approve": ({SettlementStatus.submitted}, SettlementStatus.approved, (Role.admin, Role.manager)),
    "reject": ({SettlementStatus.submitted}, SettlementStatus.draft, (Role.admin, Role.manager)),
    "issue": ({SettlementStatus.approved}, SettlementStatus.issued, (Role.admin, Role.manager)),
    "pay": ({SettlementStatus.issued}, SettlementStatus.paid, (Role.admin, Role.finance)),
    # a wrong payment is never edited: it is reversed (with a reason) and recorded again
    "reverse_payment": ({SettlementStatus.paid}, SettlementStatus.issued, (Role.admin, Role.finance)),
}


def _locked(session: Session, row: Settlement) -> Settlement:
    """The settlement re-read under a row lock (PostgreSQL: SELECT … FOR UPDATE; SQLite ignores it and relies
    on the compare-and-set in _claim), so the state checks below see what another session committed."""
    return session.execute(select(Settlement).where(Settlement.id == row.id).with_for_update()
                           .execution_options(populate_existing=True)).scalar_one()


def _claim(session: Session, row: Settlement, before: str, target: str) -> None:
    """Compare-and-set on the status: exactly one of two concurrent sessions moves the settlement on; the
    other finds no row in the state it read and is refused before it writes anything else."""
    done = session.execute(update(Settlement).where(Settlement.id == row.id, Settlement.status == before)
                           .values(status=target).execution_options(synchronize_session=False)).rowcount
    if done != 1:
        raise SettlementError(f"{row.number} was changed by someone else meanwhile; reload it and try again")
    set_committed_value(row, "status", target)


@dataclass
class _Step:
    """One workflow action in hand: the locked row, who acts, when, and what they gave."""

    session: Session
    row: Settlement
    actor: User | str
    now: datetime  # when the action counts (``at`` back-dates it)
    day: date  # its local day
    reason: str
    paid_on: date | None
    reference: str
    waived: str  # why four eyes was waived at approval ("" when it was not)


def _check(row: Settlement, action: str, actor: User | str, reason: str, paid_on: date | None, reference: str,
           today: date) -> tuple[str, str]:
    """Refuse an action whose preconditions fail, before anything is written. Returns the four-eyes waiver
    (approve) and the checked bank reference (pay)."""
    waived = ""
    if action in ("reject", "reverse_payment") and len(reason.strip()) < 5:
        raise SettlementError("say why the settlement is rejected" if action == "reject" else
                              f"{row.number}: say why the payment is reversed (at least 5 characters)")
    if action == "approve":
        waived = controls.four_eyes_conflict(actor_name(actor), row.submitted_by,
                                             row.inputs_changed_by or row.created_by)
        if waived and get_settings().four_eyes:
            raise SettlementError(f"{row.number}: four eyes — {waived}; another manager approves it")
    if action == "pay":
        reference = controls.check_payment(row.number, paid_on, reference, local_day(row.issued_at), today)
    return waived, reference


def _reject(step: _Step) -> None:
    step.row.reject_reason = step.reason.strip()


def _submit(step: _Step) -> None:
    step.row.submitted_at, step.row.submitted_by = step.now, actor_name(step.actor)


def _approve(step: _Step) -> None:
    """Freeze: hash the inputs and lines, post the ledger, record the provenance and the statement snapshot."""
    session, row = step.session, step.row
    row.approved_at, row.approved_by = step.now, actor_name(step.actor)
    row.inputs_hash = inputs_hash(session, row)
    post(session, row, step.day, "approve", Decimal(1))
    from emc.settlement import provenance, statements

    provenance.record(session, row)
    statements.freeze(session, row)
    if step.waived:
        audit.record(session, actor=step.actor, action="settlement.four_eyes_waived", object_type="settlement",
                     object_id=row.number, after={"four_eyes": "off", "why": step.waived})


def _issue(step: _Step) -> None:
    session, row = step.session, step.row
    spec = current_version_spec(session, contract_of(session, row))
    days = int(spec.get("contract", {}).get("payment_days", 30))
    row.issued_at, row.issued_by = step.now, actor_name(step.actor)
    row.due_on = step.day + timedelta(days=days)


def _pay(step: _Step) -> None:
    session, row, paid_on = step.session, step.row, step.paid_on
    assert paid_on is not None
    seq = _payment_count(session, row, "payment") + 1
    session.add(SettlementPayment(settlement_id=row.id, kind="payment", seq=seq, paid_on=paid_on,
                                  reference=step.reference[:100], amount=row.net_to_esco,
                                  recorded_by=actor_name(step.actor), recorded_at=step.now))
    row.paid_on, row.paid_reference = paid_on, step.reference[:100]
    post(session, row, paid_on, f"payment:{seq}", Decimal(-1))


def _reverse_payment(step: _Step) -> None:
    """A wrong payment is reversed, never edited; the audit names the payment reversed."""
    session, row = step.session, step.row
    seq = _payment_count(session, row, "payment")
    session.add(SettlementPayment(settlement_id=row.id, kind="reversal", seq=seq, paid_on=step.day,
                                  reference=row.paid_reference, amount=-row.net_to_esco,
                                  reason=step.reason.strip()[:1000],
                                  recorded_by=actor_name(step.actor), recorded_at=step.now))
    post(session, row, step.day, f"reversal:{seq}", Decimal(1))
    step.reference = f"{row.paid_reference} ({row.paid_on})"
    row.paid_on, row.paid_reference = None, ""


_STEPS: dict[str, Callable[[_Step], None]] = {
    "submit": _submit, "approve": _approve, "reject": _reject, "issue": _issue, "pay": _pay,
    "reverse_payment": _reverse_payment,
}


def transition(session: Session, row: Settlement, action: str, *, actor: User | str, reason: str = "",
               paid_on: date | None = None, reference: str = "", at: datetime | None = None) -> Settlement:
    """Move a settlement through the workflow, exactly once: the state is re-checked under a row lock and
    claimed by compare-and-set before anything is posted, and each posting is unique by schema.

    ``at`` back-dates the action (the demo's history); the web and the API never pass it."""
    if action not in TRANSITIONS:
        raise SettlementError(f"unknown action {action!r}")
    sources, target, roles = TRANSITIONS[action]
    require_role(actor, *roles)
    row = _locked(session, row)
    if row.status not in sources:
        raise SettlementError(f"{row.number} is {row.status}; '{action}' needs {' or '.join(sorted(sources))}")
    before = row.status
    now = at or utcnow()
    today = local_day(utcnow())
    assert today is not None
    waived, reference = _check(row, action, actor, reason, paid_on, reference, today)
    _claim(session, row, before, target)
    step = _Step(session, row, actor, now, local_day(now) or today, reason, paid_on, reference, waived)
    _STEPS[action](step)
    session.flush()
    audit.record(session, actor=actor, action=f"settlement.{action}", object_type="settlement", object_id=row.number,
                 before={"status": before}, after={"status": target, "hash": row.inputs_hash[:16] or None,
                                                   "net_to_esco": str(row.net_to_esco)},
                 reason=reason or step.reference)
    return row


def _payment_count(session: Session, row: Settlement, kind: str) -> int:
    return int(session.execute(select(func.count()).select_from(SettlementPayment).where(
        SettlementPayment.settlement_id == row.id, SettlementPayment.kind == kind)).scalar_one())


def payments(session: Session, row: Settlement) -> list[SettlementPayment]:
    return list(session.execute(select(SettlementPayment).where(SettlementPayment.settlement_id == row.id)
                                .order_by(SettlementPayment.recorded_at, SettlementPayment.id)).scalars())


def countersign(session: Session, row: Settlement, *, actor: User | str) -> Settlement:
    """The ESCO confirms its statement (countersignature); only once it is issued, and only once."""
    require_role(actor, Role.esco, Role.admin)
    row = _locked(session, row)
    if row.status not in (SettlementStatus.issued, SettlementStatus.paid):
        raise SettlementError(f"{row.number} is {row.status}; an ESCO countersigns an issued statement")
    if row.countersigned_at is not None:
        raise SettlementError(f"{row.number} was countersigned on {row.countersigned_at:%Y-%m-%d}")
    now = utcnow()
    done = session.execute(update(Settlement).where(Settlement.id == row.id, Settlement.countersigned_at.is_(None))
                           .values(countersigned_at=now, countersigned_by=actor_name(actor))
                           .execution_options(synchronize_session=False)).rowcount
    if done != 1:
        raise SettlementError(f"{row.number} was countersigned meanwhile")
    set_committed_value(row, "countersigned_at", now)
    set_committed_value(row, "countersigned_by", actor_name(actor))
    audit.record(session, actor=actor, action="settlement.countersign", object_type="settlement",
                 object_id=row.number)
    return row


APPROVAL_DAYS = 5  # a submitted settlement waiting longer than this is overdue for approval


@dataclass
class Reminder:
    number: str
    waiting_for: str  # approval | payment
    since: date
    days: int


REMINDERS_SHOWN = 20  # the settlements page lists the most overdue; the morning job records them all


def reminders(session: Session, scope: Any, today: date, limit: int | None = REMINDERS_SHOWN) -> list[Reminder]:
    """Settlements waiting for approval beyond APPROVAL_DAYS, or issued and past their due date, most overdue
    first.

    Two bounded queries whatever the portfolio's size, each filtered and ordered in the database, and no
    contract terms parsed per row: the payment deadline is the due date stamped at issue (the issue day + the
    contract's payment days then in force; migration 0016 stamped the settlements issued before), read as
    the statements and the receivables read it: overdue means ``due_on < today``. Waiting for approval since
    a day means the submission's UTC date, as stored; overdue means more than APPROVAL_DAYS have passed."""
    midnight = literal(datetime.combine(today, time(), UTC), UTCDateTime())
    approval_deadline = plus_days(col(Settlement.submitted_at), APPROVAL_DAYS)
    approvals = (select(col(Settlement.number), col(Settlement.submitted_at))
                 .join(Contract, col(Contract.id) == col(Settlement.contract_id))
                 .where(scope.contracts(), col(Settlement.status) == SettlementStatus.submitted,
                        col(Settlement.submitted_at).is_not(None), approval_deadline < midnight)
                 .order_by(col(Settlement.submitted_at), col(Settlement.number)))
    payments = (select(col(Settlement.number), col(Settlement.issued_at), col(Settlement.due_on))
                .join(Contract, col(Contract.id) == col(Settlement.contract_id))
                .where(scope.contracts(), col(Settlement.status) == SettlementStatus.issued,
                       col(Settlement.due_on).is_not(None), col(Settlement.due_on) < today)
                .order_by(col(Settlement.due_on), col(Settlement.number)))
    if limit is not None:
        approvals, payments = approvals.limit(limit), payments.limit(limit)
    out = [Reminder(number, "approval", at.date(), (today - at.date()).days)
           for number, at in session.execute(approvals).all()]
    out += [Reminder(number, "payment", at.date(), (today - due).days)
            for number, at, due in session.execute(payments).all()]
    # most overdue first: an approval is overdue after APPROVAL_DAYS, a payment after its due date
    out.sort(key=lambda r: (-(r.days - APPROVAL_DAYS if r.waiting_for == "approval" else r.days), r.number))
    return out[:limit] if limit is not None else out
