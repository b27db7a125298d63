"""Read side of contracts: filtered, scoped, paginated lists and the detail view's data."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlmodel import Session, col

from emc.contracts.models import Contract, ContractInstitution, ContractMeter, ContractVersion
from emc.metering.models import Meter
from emc.org.models import Esco, Institution, Region
from emc.org.scope import Scope

Status = Literal["upcoming", "active", "ended"]
PAGE_SIZES = (10, 25, 50, 100)


def status_of(contract: Contract, today: date) -> Status:
    if contract.start_date > today:
        return "upcoming"
    if contract.end_date < today:
        return "ended"
    return "active"


@dataclass(frozen=True)
class ContractFilter:
    q: str = ""
    type: str = ""
    esco: str = ""  # ESCO code
    region: str = ""  # GB/T 2260 code: contracts with an institution in that subtree
    status: str = ""
    page: int = 1
    page_size: int = 25

    def clauses(self, today: date) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if self.q.strip():
            needle = f"%{self.q.strip().lower()}%"
            where.append(or_(func.lower(Contract.code).like(needle), func.lower(Contract.name).like(needle),
                             func.lower(Contract.name_en).like(needle)))
        if self.type:
            where.append(Contract.type == self.type)
        if self.esco:
            where.append(Contract.esco_id == select(Esco.id).where(Esco.code == self.esco).scalar_subquery())
        if self.region:
            prefix = select(Region.path).where(Region.code == self.region).scalar_subquery()
            where.append(exists(
                select(ContractInstitution.contract_id)
                .join(Institution, Institution.id == ContractInstitution.institution_id)
                .join(Region, Region.id == Institution.region_id)
                .where(ContractInstitution.contract_id == Contract.id,
                       func.substr(Region.path, 1, func.length(prefix)) == prefix)))
        if self.status == "upcoming":
            where.append(Contract.start_date > today)
        elif self.status == "ended":
            where.append(Contract.end_date < today)
        elif self.status == "active":
            where.append(and_(Contract.start_date <= today, Contract.end_date >= today))
        return where


@dataclass
class ContractRow:
    contract: Contract
    esco: Esco
    institution_count: int
    first_institution: str
    status: Status


@dataclass
class ContractPage:
    rows: list[ContractRow]
    total: int
    value_total: Decimal
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size))


def list_contracts(session: Session, scope: Scope, flt: ContractFilter, today: date) -> ContractPage:
    where = [scope.contracts(), *flt.clauses(today)]
    total, value_total = session.execute(
        select(func.count(Contract.id), func.coalesce(func.sum(Contract.contract_value), 0)).where(*where)).one()
    page_size = flt.page_size if flt.page_size in PAGE_SIZES else 25
    page = min(max(1, flt.page), max(1, math.ceil(total / page_size)))
    contracts = session.execute(
        select(Contract, Esco).join(Esco, Esco.id == Contract.esco_id).where(*where)
        .order_by(Contract.start_date.desc(), Contract.code).offset((page - 1) * page_size).limit(page_size)).all()
    ids = [c.id for c, _ in contracts]
    counts: dict[int, tuple[int, str]] = {}
    if ids:
        for cid, n, first in session.execute(
                select(ContractInstitution.contract_id, func.count(), func.min(Institution.name))
                .join(Institution, Institution.id == ContractInstitution.institution_id)
                .where(ContractInstitution.contract_id.in_(ids)).group_by(ContractInstitution.contract_id)):
            counts[cid] = (n, first)
    value = Decimal(value_total)  # the Money type turns SQLite's integer-fen sum back into yuan
    rows = [ContractRow(c, e, *counts.get(c.id, (0, "")), status=status_of(c, today)) for c, e in contracts]
    return ContractPage(rows, total, value.quantize(Decimal("0.01")), page, page_size)


@dataclass
class ContractDetail:
    contract: Contract
    esco: Esco
    status: Status
    institutions: list[tuple[Institution, Region]]
    meters: list[tuple[Meter, Institution]]
    versions: list[ContractVersion]
    spec: dict[str, Any] = field(default_factory=dict)
    coverage: dict[int, tuple[int, Any, Any]] = field(default_factory=dict)  # meter id → (readings, first, last)


def contract_detail(session: Session, scope: Scope, code: str, today: date) -> ContractDetail:
    contract = scope.find(session, Contract, Contract.code == code)
    esco = session.get(Esco, contract.esco_id)
    assert esco is not None
    institutions = [tuple(r) for r in session.execute(
        select(Institution, Region).join(Region, Region.id == Institution.region_id)
        .join(ContractInstitution, ContractInstitution.institution_id == Institution.id)
        .where(ContractInstitution.contract_id == contract.id).order_by(Institution.code)).all()]
    meters = [tuple(r) for r in session.execute(
        select(Meter, Institution).join(Institution, Institution.id == Meter.institution_id)
        .join(ContractMeter, ContractMeter.meter_id == Meter.id)
        .where(ContractMeter.contract_id == contract.id).order_by(Meter.code)).all()]
    versions = list(session.execute(select(ContractVersion).where(ContractVersion.contract_id == contract.id)
                                    .order_by(ContractVersion.version.desc())).scalars())
    current = next((v for v in versions if v.version == contract.current_version), versions[0])
    coverage = {}
    if meters:  # from the monthly totals kept on import (emc/metering/totals.py), not by counting readings
        from emc.metering.models import MeterMonthTotal as T

        for meter_id, n, first, last in session.execute(
                select(col(T.meter_id), func.sum(T.readings), func.min(T.first_start), func.max(T.last_end))
                .where(col(T.meter_id).in_([m.id for m, _ in meters])).group_by(col(T.meter_id))):
            coverage[meter_id] = (int(n), first, last)
    return ContractDetail(contract, esco, status_of(contract, today), institutions, meters,  # type: ignore[arg-type]
                          versions, current.spec, coverage)


def escos_in_scope(session: Session, scope: Scope) -> list[Esco]:
    return list(session.execute(
        select(Esco).where(exists(select(Contract.id).where(Contract.esco_id == Esco.id, scope.contracts())))
        .order_by(Esco.name)).scalars())


def regions_in_scope(session: Session, scope: Scope) -> list[Region]:
    return list(session.execute(select(Region).where(scope.regions_below()).order_by(Region.path)).scalars())


def of_institution(session: Session, scope: Scope, institution_id: int | None) -> list[Contract]:
    """The contracts in scope an institution is party to, oldest first."""
    return list(session.execute(select(Contract)
                                .join(ContractInstitution, ContractInstitution.contract_id == Contract.id)
                                .where(ContractInstitution.institution_id == institution_id, scope.contracts())
                                .order_by(Contract.start_date)).scalars().all())
