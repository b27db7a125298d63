"""The settlements list (approval work): filters by status, period months, ESCO, region and contract; a page
of rows with each contract's name, ESCO and regions; the filtered set's count and net amount per status. A
constant number of queries whatever the portfolio's size."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import defer
from sqlmodel import Session, col

from emc import clock
from emc.contracts.models import Contract, ContractInstitution
from emc.contracts.queries import ContractFilter
from emc.errors import Refused
from emc.money import fen
from emc.org.models import Esco, Institution, Region
from emc.org.scope import Scope
from emc.settlement.models import Settlement, SettlementStatus

MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def _month_start(name: str, value: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    if not MONTH.fullmatch(value):
        raise Refused(f"{name} {value!r}: write the month as YYYY-MM")
    year, month = (int(x) for x in value.split("-"))
    return date(year, month, 1)


@dataclass(frozen=True)
class SettlementFilter:
    """What the list shows: one status, periods overlapping the months ``start``..``end`` (inclusive), one
    ESCO (code), one region (GB/T 2260 code, its subtree), a contract (code or part of its name)."""

    status: str = ""
    start: str = ""  # YYYY-MM
    end: str = ""  # YYYY-MM
    esco: str = ""
    region: str = ""
    contract: str = ""

    def __post_init__(self) -> None:
        if self.status and self.status not in {s.value for s in SettlementStatus}:
            raise Refused(f"status {self.status!r}: one of {', '.join(s.value for s in SettlementStatus)}")
        first, last = _month_start("from", self.start), _month_start("to", self.end)
        if first and last and last < first:
            raise Refused(f"to {self.end!r} is before from {self.start!r}")

    def clauses(self) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if self.status:
            where.append(col(Settlement.status) == self.status)
        first, last = _month_start("from", self.start), _month_start("to", self.end)
        if first:  # the period (end exclusive) overlaps the months asked for
            where.append(col(Settlement.period_end) > first)
        if last:
            where.append(col(Settlement.period_start) < last + relativedelta(months=1))
        contract = self.contract.strip()
        by_contract = ContractFilter(q=contract, esco=self.esco.strip(), region=self.region.strip())
        where.extend(by_contract.clauses(clock.today()))
        return where

    def query(self) -> dict[str, str]:
        """The filter as URL parameters (empty ones left out)."""
        return {k: v for k, v in (("status", self.status), ("from", self.start), ("to", self.end),
                                  ("esco", self.esco), ("region", self.region), ("contract", self.contract)) if v}


@dataclass
class Totals:
    """The filtered set: count and net amount to the ESCO per status, and overall."""

    counts: dict[str, int] = field(default_factory=dict)
    amounts: dict[str, Decimal] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    @property
    def amount(self) -> Decimal:
        return fen(sum(self.amounts.values(), Decimal(0)))


@dataclass
class Row:
    s: Settlement
    c: Contract
    esco: Esco
    regions: list[Region]


def matching(scope: Scope, flt: SettlementFilter) -> Select[Settlement, Contract, Esco]:
    """(Settlement, Contract, Esco) rows in scope matching the filter."""
    return (select(Settlement, Contract, Esco).join(Contract, col(Contract.id) == col(Settlement.contract_id))
            .join(Esco, col(Esco.id) == col(Contract.esco_id)).where(scope.contracts(), *flt.clauses()))


def ordered(query: Select[Settlement, Contract, Esco]) -> Select[Settlement, Contract, Esco]:
    return query.order_by(col(Settlement.period_start).desc(), col(Contract.code), col(Settlement.kind),
                          col(Settlement.version))


def totals(session: Session, scope: Scope, flt: SettlementFilter) -> Totals:
    net = func.coalesce(func.sum(Settlement.net_to_esco), 0)
    found = session.execute(select(col(Settlement.status), func.count(), net)
                            .join(Contract, col(Contract.id) == col(Settlement.contract_id))
                            .where(scope.contracts(), *flt.clauses()).group_by(col(Settlement.status))).all()
    order = [s.value for s in SettlementStatus]
    out = Totals()
    for status, count, amount in sorted(found, key=lambda r: order.index(r[0]) if r[0] in order else 99):
        out.counts[status] = int(count)
        out.amounts[status] = fen(Decimal(amount))
    return out


def regions_of(session: Session, contract_ids: set[int]) -> dict[int, list[Region]]:
    """Each contract's institutions' regions (distinct, by code): one query for the page."""
    out: dict[int, list[Region]] = {}
    found = session.execute(select(col(ContractInstitution.contract_id), Region)
                            .join(Institution, col(Institution.id) == col(ContractInstitution.institution_id))
                            .join(Region, col(Region.id) == col(Institution.region_id))
                            .where(col(ContractInstitution.contract_id).in_(contract_ids))
                            .order_by(col(Region.code))).all()
    for cid, region in found:
        regions = out.setdefault(cid, [])
        if all(r.id != region.id for r in regions):
            regions.append(region)
    return out


def rows(session: Session, scope: Scope, flt: SettlementFilter, *, offset: int = 0,
         limit: int | None = None) -> list[Row]:
    """The filtered settlements, newest period first, with contract, ESCO and regions."""
    # the frozen inputs and state are the settlement page's (kilobytes each): the list never loads them
    found = session.execute(ordered(matching(scope, flt)).options(defer(Settlement.inputs),  # type: ignore[arg-type]
                                                                   defer(Settlement.state_after))  # type: ignore[arg-type]
                            .offset(offset).limit(limit)).all()
    regions = regions_of(session, {c.id for _, c, _ in found})
    return [Row(s, c, e, regions.get(c.id or 0, [])) for s, c, e in found]
