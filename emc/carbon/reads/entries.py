"""Scoped listings of the carbon ledger: current entries, one key's revisions, restatements, and the
over-quota warnings — paginated rows for pages, the JSON API and `emc`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, select, true
from sqlmodel import Session

from emc.contracts.models import Contract
from emc.org.models import Institution, Region
from emc.org.scope import NotFound, Scope

from ..models import CarbonEntry, CarbonWarning
from .figures import entry_where, institution_ids, year_span

E = CarbonEntry


@dataclass
class Page:
    rows: list[dict[str, Any]]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "total": self.total, "page": self.page, "pages": self.pages,
                "per_page": self.per_page}


# -- ledger entries -----------------------------------------------------------------------------------------
def _entry_dict(e: CarbonEntry, code: str, name: str, contract: str | None) -> dict[str, Any]:
    return {"id": e.id, "key": e.key, "revision": e.revision, "change": e.change, "institution": code,
            "institution_name": name, "month": e.month.isoformat(), "utility": e.utility, "kind": e.kind,
            "contract": contract, "carrier": e.carrier, "quantity": str(e.quantity), "unit": e.unit,
            "kgce": str(e.kgce), "tce": str(e.kgce / 1000), "kgco2": str(e.kgco2), "scope": e.scope,
            "in_energy": e.in_energy, "owner": e.owner, "esco_kgco2": str(e.esco_kgco2),
            "coal_factor": e.coal_factor, "co2_factor": e.co2_factor, "provisional": e.provisional,
            "series": e.series, "source": e.source, "notes": e.notes}


def ledger(session: Session, scope: Scope, *, year: int, region_path: str | None = None,
           institution_id: int | None = None, utility: str = "", kind: str = "", month: date | None = None,
           provisional: bool | None = None, page: int = 1, per_page: int = 100) -> Page:
    """Current entries, newest month first, paginated."""
    where = entry_where(scope, *year_span(year), region_path=region_path, institution_id=institution_id)
    if utility:
        where.append(E.utility == utility)
    if kind:
        where.append(E.kind == kind)
    if month is not None:
        where.append(E.month == month.replace(day=1))
    if provisional is not None:
        where.append(E.provisional.is_(provisional))
    total = session.execute(select(func.count()).select_from(E).where(*where)).scalar_one()
    rows = session.execute(
        select(E, Institution.code, Institution.name, Contract.code)
        .join(Institution, Institution.id == E.institution_id)
        .outerjoin(Contract, Contract.id == E.contract_id).where(*where)
        .order_by(E.month.desc(), Institution.code, E.utility, E.kind, E.contract_id)
        .offset((page - 1) * per_page).limit(per_page)).all()
    return Page([_entry_dict(e, c, n, k) for e, c, n, k in rows], int(total), page, per_page)


def history(session: Session, scope: Scope, key: str) -> list[dict[str, Any]]:
    """Every revision of one entry key (oldest first): what a restatement or correction changed."""
    rows = session.execute(
        select(E, Institution.code, Institution.name, Contract.code)
        .join(Institution, Institution.id == E.institution_id)
        .outerjoin(Contract, Contract.id == E.contract_id)
        .where(E.key == key, scope.clause_for(E)).order_by(E.revision)).all()
    if not rows:
        raise NotFound("ledger entry")
    return [_entry_dict(e, c, n, k) | {"current": e.current} for e, c, n, k in rows]


def restatements(session: Session, scope: Scope, *, year: int, region_path: str | None = None,
                 limit: int = 500) -> list[dict[str, Any]]:
    """Current entries restated on other factors, each with the entry it replaced and the difference."""
    new = E.__table__.alias("new")  # type: ignore[attr-defined]
    old = E.__table__.alias("old")  # type: ignore[attr-defined]
    start, end = year_span(year)
    rows = session.execute(
        select(new.c.key, new.c.month, new.c.utility, new.c.kind, Institution.code, old.c.kgce, new.c.kgce,
               old.c.kgco2, new.c.kgco2, old.c.coal_factor, new.c.coal_factor, old.c.co2_factor, new.c.co2_factor,
               old.c.provisional)
        .join(old, and_(old.c.key == new.c.key, old.c.revision == new.c.revision - 1))
        .join(Institution, Institution.id == new.c.institution_id)
        .where(new.c.current == true(), new.c.change == "restated", new.c.month >= start, new.c.month < end,
               new.c.institution_id.in_(institution_ids(scope, region_path=region_path)),
               new.c.id.in_(select(E.id).where(scope.clause_for(E))))  # an ESCO: not another ESCO's savings
        .order_by(new.c.month, Institution.code, new.c.utility).limit(limit)).all()
    return [{"key": r[0], "month": r[1].isoformat(), "utility": r[2], "kind": r[3], "institution": r[4],
             "old_kgce": str(r[5]), "new_kgce": str(r[6]), "delta_kgce": str(r[6] - r[5]),
             "old_kgco2": str(r[7]), "new_kgco2": str(r[8]), "delta_kgco2": str(r[8] - r[7]),
             "old_factors": [r[9], r[11]], "new_factors": [r[10], r[12]], "old_provisional": r[13]} for r in rows]


# -- warnings and leaderboards ------------------------------------------------------------------------------
def warnings(session: Session, scope: Scope, *, year: int | None = None, region_path: str | None = None,
             institution_id: int | None = None, page: int = 1, per_page: int = 100) -> Page:
    """Over-quota warnings, newest first."""
    where = [CarbonWarning.institution_id.in_(institution_ids(scope, region_path=region_path,
                                                            institution_id=institution_id))]
    if year is not None:
        where.append(CarbonWarning.year == year)
    total = session.execute(select(func.count()).select_from(CarbonWarning).where(*where)).scalar_one()
    rows = session.execute(select(CarbonWarning, Institution.code, Institution.name, Region.code).join(
        Institution, Institution.id == CarbonWarning.institution_id).join(Region, Region.id == Institution.region_id)
        .where(*where).order_by(CarbonWarning.created_at.desc(), CarbonWarning.tier_bp.desc())
        .offset((page - 1) * per_page).limit(per_page)).all()
    return Page([warning_dict(w, c, n, r) for w, c, n, r in rows], int(total), page, per_page)


def warning_dict(w: CarbonWarning, code: str, name: str, region_code: str = "") -> dict[str, Any]:
    return {"id": w.id, "institution": code, "institution_name": name, "region": region_code, "year": w.year,
            "quota": w.quota_id, "quota_version": w.quota_version, "indicator": w.indicator, "level": w.level,
            "tier": percent(w.tier_bp), "tier_bp": w.tier_bp, "through": w.through.isoformat(),
            "ratio": str(w.ratio), "year_to_date": str(w.year_to_date), "allowed_to_date": str(w.allowed_to_date),
            "created_at": w.created_at.isoformat(), "acknowledged": w.acknowledged_at is not None,
            "detail": w.detail}


def percent(basis_points: int) -> str:
    """8000 → "80%", 8500 → "85%", 8250 → "82.5%"."""
    return f"{(Decimal(basis_points) / 100).normalize():f}%"
