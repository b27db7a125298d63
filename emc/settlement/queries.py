"""Read side of settlements for lists: the settlements in a user's scope (by status and contract), a page of
them with the count and net total, and one by its number."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlmodel import Session, col

from emc.contracts.models import Contract
from emc.org.scope import NotFound, Scope
from emc.settlement.models import Settlement


def in_scope(scope: Scope, status: str = "", contract: str = "") -> Select[Settlement, Contract]:
    """(Settlement, Contract) rows the scope sees, optionally of one status and one contract code."""
    query = (select(Settlement, Contract).join(Contract, col(Contract.id) == col(Settlement.contract_id))
             .where(scope.contracts()))
    if status:
        query = query.where(col(Settlement.status) == status)
    if contract:
        query = query.where(col(Contract.code) == contract)
    return query


def by_number(session: Session, scope: Scope, number: str) -> Settlement:
    """The settlement ``number`` if the scope sees it; NotFound otherwise (absent and out of scope alike)."""
    row = session.execute(in_scope(scope).where(col(Settlement.number) == number)).first()
    if row is None:
        raise NotFound("settlement")
    return row[0]


def page(session: Session, scope: Scope, status: str, contract: str, *, offset: int,
         limit: int) -> tuple[list[Any], int, Any]:
    """Newest period first: a page of (Settlement, Contract) rows, how many match, and their net total."""
    query = in_scope(scope, status, contract)
    total, net = session.execute(select(func.count(), func.coalesce(func.sum(query.subquery().c.net_to_esco), 0))).one()
    rows = session.execute(query.order_by(col(Settlement.period_start).desc(), col(Contract.code),
                                          col(Settlement.version)).offset(offset).limit(limit)).all()
    return list(rows), total, net


def newest(session: Session, scope: Scope, status: str, contract: str, *, offset: int, limit: int) -> list[Any]:
    """(Settlement, Contract) rows, newest period first (the API's list)."""
    return list(session.execute(in_scope(scope, status, contract).order_by(col(Settlement.period_start).desc())
                                .offset(offset).limit(limit)).all())
