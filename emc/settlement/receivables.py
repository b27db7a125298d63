"""What a party is owed and what waits for it, for a home page: sums of the net amount to the ESCO of the
settlements in scope by state (approved, issued and unpaid, paid, overdue for payment) and the issued statements
still waiting for the ESCO's countersignature. Two queries whatever the portfolio's size."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select, type_coerce
from sqlmodel import Session, col

from emc.dbtypes import Money
from emc.money import to_decimal
from emc.org.scope import Scope
from emc.settlement.models import Settlement, SettlementStatus

ZERO = to_decimal("0.00")


@dataclass(frozen=True)
class Bucket:
    count: int
    amount: Decimal  # net to the ESCO, exact to the fen


@dataclass(frozen=True)
class Receivables:
    approved: Bucket  # approved, not yet issued
    issued: Bucket  # issued, not yet paid (overdue ones included)
    paid: Bucket
    overdue: Bucket  # issued and past its due date


def receivables(session: Session, scope: Scope, today: date) -> Receivables:
    """One query: each state's count and net amount to the ESCO. Overdue: issued, due before ``today``."""
    status, net = col(Settlement.status), col(Settlement.net_to_esco)
    overdue = and_(status == SettlementStatus.issued, col(Settlement.due_on) < today)

    def bucket(when: ColumnElement[bool]) -> tuple[Any, Any]:
        return func.count(case((when, 1))), type_coerce(func.sum(case((when, net))), Money())

    columns = [c for when in (status == SettlementStatus.approved, status == SettlementStatus.issued,
                              status == SettlementStatus.paid, overdue) for c in bucket(when)]
    row = session.execute(select(*columns).select_from(Settlement)
                          .where(scope.clause_for(Settlement))).one()
    values = [Bucket(int(row[i]), ZERO if row[i + 1] is None else to_decimal(row[i + 1])) for i in range(0, 8, 2)]
    return Receivables(*values)


def awaiting_countersignature(session: Session, scope: Scope, limit: int = 20) -> tuple[list[Settlement], int]:
    """Issued or paid statements the ESCO has not countersigned, oldest issue first (the first ``limit``), and how
    many. Paid ones too: a payment does not confirm the statement for the ESCO, which may still countersign it
    (workflow.countersign) and is still asked to (the to_countersign notification, emc/notify/rules.py)."""
    where = (col(Settlement.status).in_((SettlementStatus.issued, SettlementStatus.paid)),
             col(Settlement.countersigned_at).is_(None),
             scope.clause_for(Settlement))
    total = session.execute(select(func.count(col(Settlement.id))).where(*where)).scalar_one()
    rows = session.execute(select(Settlement).where(*where).order_by(col(Settlement.issued_at), Settlement.number)
                           .limit(limit)).scalars().all()
    return list(rows), int(total)
