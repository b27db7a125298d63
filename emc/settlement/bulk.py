"""Bulk submit / approve / issue from the settlements list.

Two steps. ``plan`` says what would happen: the settlements that will move, their count and net total, and
each one skipped with why (wrong status, four eyes, not found or out of scope). ``execute`` does it, one
transaction per settlement through ``workflow.transition`` (the only path a settlement moves by): a failure
is reported by number and reason and rolls back that settlement alone; the others go through.

The confirmation carries the count and total the user saw: if the set changed meanwhile, nothing is done and
the user reviews again. A second post of the same form finds nothing left to do and does nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col

from emc.config import get_settings
from emc.errors import DomainError
from emc.money import fen
from emc.org.models import User
from emc.org.scope import Scope
from emc.settlement import listing, workflow
from emc.settlement.core import controls
from emc.settlement.models import Settlement
from emc.settlement.records import actor_name

ACTIONS = ("submit", "approve", "issue")
MAX_NUMBERS = 5000  # a selection by numbers beyond this is refused (select "all matching" instead)


@dataclass
class Skip:
    number: str
    why: str  # status | four_eyes | not_found
    detail: str = ""


@dataclass
class Plan:
    action: str
    ready: list[Settlement] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.ready)

    @property
    def amount(self) -> Decimal:
        return fen(sum((s.net_to_esco for s in self.ready), Decimal(0)))


@dataclass
class Outcome:
    action: str
    done: list[Settlement] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (number, reason)
    skipped: list[Skip] = field(default_factory=list)

    @property
    def amount(self) -> Decimal:
        return fen(sum((s.net_to_esco for s in self.done), Decimal(0)))


def _why_not(row: Settlement, action: str, actor: str) -> Skip | None:
    sources = workflow.TRANSITIONS[action][0]
    if row.status not in sources:
        return Skip(row.number, "status", row.status)
    if action == "approve" and get_settings().four_eyes:
        conflict = controls.four_eyes_conflict(actor, row.submitted_by, row.inputs_changed_by or row.created_by)
        if conflict:
            return Skip(row.number, "four_eyes", conflict)
    return None


def plan(session: Session, scope: Scope, actor: User, action: str, flt: listing.SettlementFilter | None,
         numbers: list[str]) -> Plan:
    """What ``action`` would do to the selection: ``numbers`` if given, otherwise all that match ``flt``."""
    if action not in ACTIONS:
        raise controls.SettlementError(f"bulk {action!r}: one of {', '.join(ACTIONS)}")
    wanted = list(dict.fromkeys(n.strip() for n in numbers if n.strip()))
    if len(wanted) > MAX_NUMBERS:
        raise controls.SettlementError(f"{len(wanted)} settlements selected: at most {MAX_NUMBERS} by number")
    if wanted:
        query = listing.matching(scope, listing.SettlementFilter()).where(col(Settlement.number).in_(wanted))
    else:
        query = listing.matching(scope, flt or listing.SettlementFilter())
    found = [s for s, _, _ in session.execute(listing.ordered(query)).all()]
    out = Plan(action)
    seen = {s.number for s in found}
    out.skipped.extend(Skip(n, "not_found") for n in wanted if n not in seen)
    who = actor_name(actor)
    for row in found:
        skip = _why_not(row, action, who)
        if skip:
            out.skipped.append(skip)
        else:
            out.ready.append(row)
    return out


def execute(session: Session, todo: Plan, actor: User, confirm_count: str, confirm_amount: str) -> Outcome:
    """Do the plan, one committed transaction per settlement, after checking the user confirmed this very
    set (its count and total). Nothing to do (a second post of the same form) does nothing."""
    out = Outcome(todo.action, skipped=todo.skipped)
    if not todo.ready:
        return out
    amount = controls.parse_amount(confirm_amount)
    if confirm_count.strip() != str(todo.count) or amount != todo.amount:
        raise controls.ConfirmationError(
            f"bulk {todo.action}: you confirmed {confirm_count or '?'} settlements for {confirm_amount or '?'}; "
            f"there are now {todo.count} for {todo.amount:,.2f}. Review the selection again")
    session.commit()  # nothing of the request's own is pending: each settlement below is its own transaction
    for row in todo.ready:
        number = row.number
        try:
            out.done.append(workflow.transition(session, row, todo.action, actor=actor))
            session.commit()
        except (DomainError, ValueError, IntegrityError, OperationalError) as exc:
            session.rollback()
            out.failed.append((number, str(exc).splitlines()[0][:300]))
    return out
