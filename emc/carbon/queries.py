"""Scoped reads of the carbon ledger: entries, restatements, roll-ups, indicators, target status, warnings,
leaderboards, the statistics report's rows (the city dashboard composes them: :mod:`.dashboard`). What pages,
the JSON API and exports call.

Every read goes through :class:`emc.org.scope.Scope` (an ESCO sees the institutions its contracts serve and
only its own contracts' savings). Sums are done by the database over current entries (exact: the ledger's
figure columns are integer thousandths on SQLite, NUMERIC on PostgreSQL) and folded into
:class:`emc.carbon.rollup.Figures` by the pure core.

Indicators of a region use the institutions that have denominators for the year (an ``institution_year`` row:
office floor area and energy users), numerators and denominators alike; totals use every institution.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select, true
from sqlmodel import Session

from emc.contracts.models import Contract
from emc.org.models import Institution, InstitutionYear, Region
from emc.org.scope import NotFound, Scope

from . import indicators as ind
from . import rollup, season, service
from .models import CarbonEntry, CarbonFactor, CarbonQuota, CarbonReference, CarbonTarget, CarbonWarning
from .quotas import applicable, grade, levels
from .rollup import Figures
from .targets import NATIONAL, Progress, TargetStatus, assess

E = CarbonEntry
ZERO_FIGURES = Figures()


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


# -- where clauses ------------------------------------------------------------------------------------------
def region(session: Session, code: str) -> Region:
    found = session.execute(select(Region).where(Region.code == code)).scalars().first()
    if found is None:
        raise NotFound("region")
    return found


def institution(session: Session, scope: Scope, code: str) -> Institution:
    found = session.execute(select(Institution).where(Institution.code == code, scope.institutions())
                            ).scalars().first()
    if found is None:
        raise NotFound("institution")
    return found


def institution_ids(scope: Scope, region_path: str | None = None, institution_id: int | None = None,
                  denominated_in: int | None = None) -> Any:
    """The ids of the institutions a read covers: in scope, in the region's subtree, optionally one."""
    query = select(Institution.id).where(scope.institutions())
    if region_path:
        query = query.where(Institution.region_id.in_(
            select(Region.id).where(Region.path.startswith(region_path, autoescape=True))))
    if institution_id is not None:
        query = query.where(Institution.id == institution_id)
    if denominated_in is not None:  # a statistics form for the year, or an earlier one that still stands
        query = query.where(Institution.id.in_(select(InstitutionYear.institution_id)
                                               .where(InstitutionYear.year <= denominated_in)))
    return query


def _entries(scope: Scope, start: date, end: date, **where: Any) -> list[ColumnElement[bool]]:
    # the entry's own rule (emc/scope_rules.py): its institution, and for an ESCO only its own contracts' savings
    return [E.current == true(), E.month >= start, E.month < end, scope.clause_for(E),
            E.institution_id.in_(institution_ids(scope, **where))]


def _year(year: int, months: int | None = None) -> tuple[date, date]:
    end = date(year + 1, 1, 1) if not months or months >= 12 else date(year, months + 1, 1)
    return date(year, 1, 1), end


_SUMS = (func.sum(E.quantity), func.sum(E.kgce), func.sum(E.kgco2), func.sum(E.esco_kgce), func.sum(E.esco_kgco2))
_GROUP = (E.kind, E.utility, E.scope, E.in_energy)


_fold = rollup.fold


# -- figures ------------------------------------------------------------------------------------------------
def figures_by_institution(session: Session, scope: Scope, year: int, *, region_path: str | None = None,
                           months: int | None = None) -> dict[int, Figures]:
    """Each institution's figures for the year (or its first ``months`` months), with its denominators."""
    return read_year(session, scope, year, region_path, months).figures


@dataclass
class YearRead:
    """One grouped read of a year: figures (with denominators) and CO₂ series per institution, and how many
    current entries there are and how many of them are provisional."""

    figures: dict[int, Figures]
    series: dict[int, str]
    entries: int
    provisional: int


def read_year(session: Session, scope: Scope, year: int, region_path: str | None,
                    months: int | None = None) -> YearRead:
    start, end = _year(year, months)
    rows = session.execute(select(E.institution_id, E.series, *_GROUP, *_SUMS, func.count(),
                                  func.sum(case((E.provisional, 1), else_=0))).where(
        *_entries(scope, start, end, region_path=region_path)).group_by(E.institution_id, E.series, *_GROUP)).all()
    grouped: dict[int, list[Any]] = defaultdict(list)
    series: dict[int, str] = {}
    entries = provisional = 0
    for inst, s, *rest in rows:
        grouped[inst].append(rest[:-2])
        entries += int(rest[-2])
        provisional += int(rest[-1] or 0)
        if s:
            series[inst] = s
    out = {inst: _fold(r) for inst, r in grouped.items()}
    # Denominators of the statistics form for the year; until an institution files the year's form, its latest
    # earlier form stands (floor area and headcount change rarely; a missing form must not zero an indicator)
    latest: dict[int, tuple[int, Any, Any]] = {}
    for inst, y, area, users in session.execute(select(
            InstitutionYear.institution_id, InstitutionYear.year, InstitutionYear.floor_area_m2,
            InstitutionYear.energy_users).where(InstitutionYear.year <= year, InstitutionYear.institution_id.in_(
                institution_ids(scope, region_path=region_path)))).all():
        if inst not in latest or y > latest[inst][0]:
            latest[inst] = (y, area, users)
    for inst, (_, area, users) in latest.items():
        out[inst] = out.get(inst, ZERO_FIGURES).with_denominators(Decimal(area), Decimal(users))
    return YearRead(out, series, entries, provisional)


def _with_denominators(figures: dict[int, Figures]) -> dict[int, Figures]:
    return {i: f for i, f in figures.items() if f.floor_area_m2 > 0 and f.energy_users > 0}


def _denominated(figures: dict[int, Figures]) -> ind.Totals:
    """Totals over the institutions with denominators (the statistics form's basis for indicators)."""
    return Figures.total(_with_denominators(figures).values()).totals()


def totals(session: Session, scope: Scope, year: int, *, region_path: str | None = None,
           institution_id: int | None = None, months: int | None = None) -> Figures:
    """One sum of figures (no denominators) for a region, an institution or everything in scope."""
    start, end = _year(year, months)
    return _fold(session.execute(select(*_GROUP, *_SUMS).where(*_entries(
        scope, start, end, region_path=region_path, institution_id=institution_id)).group_by(*_GROUP)).all())


def monthly(session: Session, scope: Scope, years: Iterable[int], *, region_path: str | None = None,
            institution_id: int | None = None, denominated_in: int | None = None) -> dict[date, Figures]:
    """Figures per month (charts over time, seasonal profiles)."""
    ys = sorted(years)
    rows = session.execute(select(E.month, *_GROUP, *_SUMS).where(*_entries(
        scope, date(ys[0], 1, 1), date(ys[-1] + 1, 1, 1), region_path=region_path, institution_id=institution_id,
        denominated_in=denominated_in)).group_by(E.month, *_GROUP)).all()
    grouped: dict[date, list[Any]] = defaultdict(list)
    for month, *rest in rows:
        grouped[month].append(rest)
    return {m: _fold(grouped[m]) for m in sorted(grouped) if m.year in ys}


def indicator_table(session: Session, scope: Scope, year: int, *, region_path: str | None = None,
                    institution_id: int | None = None) -> list[ind.IndicatorRow]:
    """The four indicators for the year with last year's and the change."""
    now = figures_by_institution(session, scope, year, region_path=region_path)
    before = figures_by_institution(session, scope, year - 1, region_path=region_path)
    if institution_id is not None:
        now = {k: v for k, v in now.items() if k == institution_id}
        before = {k: v for k, v in before.items() if k == institution_id}
    return ind.table(_denominated(now), _denominated(before) if before else None)


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
    where = _entries(scope, *_year(year), region_path=region_path, institution_id=institution_id)
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
    start, end = _year(year)
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


# -- roll-ups -----------------------------------------------------------------------------------------------
def region_paths(session: Session) -> tuple[dict[int, str], dict[str, Region]]:
    paths = dict(session.execute(select(Institution.id, Region.path).join(
        Region, Region.id == Institution.region_id)).all())
    regions = {r.code: r for r in session.execute(select(Region)).scalars()}
    return paths, regions


def rollup_rows(session: Session, scope: Scope, year: int, *, region_code: str,
                _cache: dict[str, Any] | None = None) -> dict[str, Any]:
    """The region and each region directly below it (a city's districts, a province's cities): figures,
    indicators with last year's, institutions counted, and whether CO₂ series are mixed."""
    top = region(session, region_code)
    cache = _cache if _cache is not None else {}
    this_year = cache.get("now") or read_year(session, scope, year, top.path)
    now, series = this_year.figures, this_year.series
    before = (cache.get("before") or read_year(session, scope, year - 1, top.path)).figures
    paths, regions = cache.get("paths") or region_paths(session)
    rolled = rollup.roll_up(now, paths, series)
    denominated_now = rollup.roll_up(_with_denominators(now), paths)
    denominated_before = rollup.roll_up(_with_denominators(before), paths)

    def row(code: str) -> dict[str, Any]:
        r = regions[code]
        got = rolled.get(code)
        previous = denominated_before.get(code)
        table = ind.table((denominated_now[code].figures if code in denominated_now else Figures()).totals(),
                          previous.figures.totals() if previous else None)
        return {"code": code, "name": r.name, "name_en": r.name_en, "level": r.level,
                "institutions": got.institutions if got else 0,
                "figures": (got.figures if got else Figures()).as_dict(),
                "indicators": [_indicator_dict(x) for x in table],
                "series": sorted(got.series) if got else [], "mixed_series": bool(got and got.mixed_series)}

    children = sorted(c for c, r in regions.items() if r.parent_id == top.id)
    return {"region": row(top.code), "children": [row(c) for c in children]}


def _indicator_dict(x: ind.IndicatorRow) -> dict[str, Any]:
    return {"name": x.name, "label_zh": x.label_zh, "unit": x.unit, "value": _s(x.value),
            "previous": _s(x.previous), "change": _s(x.change)}


def _s(v: Decimal | None) -> str | None:
    return None if v is None else str(v)


# -- targets ------------------------------------------------------------------------------------------------
def months_with_data(session: Session, scope: Scope, year: int, region_path: str | None = None) -> int:
    """The last month of ``year`` with consumption booked (0 if none)."""
    last = session.execute(select(func.max(E.month)).where(
        *_entries(scope, *_year(year), region_path=region_path), E.kind == "consumption")).scalar_one()
    return last.month if last else 0


def target_status(session: Session, scope: Scope, year: int, *, region_code: str, as_of: date | None = None,
                  _cache: dict[str, Any] | None = None) -> list[TargetStatus]:
    """Status of every target that applies to the region (its own, its ancestors', the national ones) in
    ``year``, from the months complete on ``as_of`` (default today) that have data."""
    top = region(session, region_code)
    codes = [*rollup.region_codes(top.path), NATIONAL]
    rows = session.execute(select(CarbonTarget).where(CarbonTarget.region.in_(codes))
                           .order_by(CarbonTarget.region, CarbonTarget.indicator)).scalars().all()
    found = [service.target_of(r) for r in rows]
    found = [t for t in found if t.applies_to(year)]
    if not found:
        return []
    as_of = as_of or date.today()
    cache = _cache if _cache is not None else {}
    if "months" in cache:
        with_data = max((m.month for m, f in cache["months"].items() if m.year == year and
                         (f.energy_kgce or f.water_m3)), default=0)
    else:
        with_data = months_with_data(session, scope, year, top.path)
    months = min(season.months_booked(as_of - timedelta(days=1), year), with_data)
    now = (cache.get("now") or read_year(session, scope, year, top.path)).figures
    if "months" in cache and len(_with_denominators(now)) == len(now):
        this = cache["months"]  # every institution with data has denominators: the same months
    else:
        this = monthly(session, scope, [year - 1, year], region_path=top.path, denominated_in=year)
    denominator = _denominated(now)
    bases: dict[int, ind.Totals | None] = {}
    out = []
    for t in found:
        if t.base_year not in bases:
            figs = cache["before"].figures if t.base_year == year - 1 and "before" in cache else None
            figs = figs or figures_by_institution(session, scope, t.base_year, region_path=top.path)
            base_totals = _denominated(figs)
            bases[t.base_year] = base_totals if base_totals.energy_kgce or base_totals.water_m3 else None
        base = bases[t.base_year]
        base_value = ind.value(base, t.indicator) if base else None
        column = ind.INDICATORS[t.indicator][0]
        series = [_numerator(this.get(date(year, m, 1)), column) for m in range(1, months + 1)]
        prior = [_numerator(this.get(date(year - 1, m, 1)), column) for m in range(1, 13)]
        progress = Progress(tuple(series), denominator.denominator(t.indicator),
                            tuple(prior) if any(prior) else (), base_value)
        out.append(assess(t, year, progress))
    return out


def _numerator(f: Figures | None, column: str) -> Decimal:
    if f is None:
        return Decimal(0)
    return f.co2_kg if column == "co2_kg" else Decimal(getattr(f, column))


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


def leaderboard(session: Session, scope: Scope, year: int, *, category: str, indicator: str = "energy_per_area",
                region_code: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Institutions of one category ranked by an intensity, lowest first (能效领跑者 / 水效领跑者), with last
    year's value, the change and where the value falls against the category's quota."""
    if indicator not in ind.INDICATORS:
        raise ValueError(f"indicator {indicator!r} is not one of {sorted(ind.INDICATORS)}")
    path = region(session, region_code).path if region_code else None
    now = figures_by_institution(session, scope, year, region_path=path)
    before = figures_by_institution(session, scope, year - 1, region_path=path)
    info = {i.id: i for i in session.execute(select(Institution).where(
        Institution.id.in_(list(now)), Institution.category == category)).scalars()}
    paths, _ = region_paths(session)
    quota_rows = [service.quota_of(q) for q in session.execute(select(CarbonQuota).where(
        CarbonQuota.category == category, CarbonQuota.indicator == indicator)).scalars()]
    ranked = []
    for inst_id, f in now.items():
        if inst_id not in info:
            continue
        value = ind.value(f.totals(), indicator)
        if value is None:
            continue
        prev = ind.value(before[inst_id].totals(), indicator) if inst_id in before else None
        quota = applicable(quota_rows, paths[inst_id], year)
        ranked.append((value, info[inst_id].code, {
            "institution": info[inst_id].code, "name": info[inst_id].name, "value": str(value),
            "previous": _s(prev), "change": _s(ind.change(value, prev)),
            "grade": grade(value, levels(quota)) if quota else None, "quota": quota.id if quota else None}))
    ranked.sort(key=lambda r: (r[0], r[1]))
    out = []
    for rank, (_, _, row) in enumerate(ranked[:limit] if limit else ranked, start=1):
        out.append({"rank": rank, **row})
    return out


# -- reference data -----------------------------------------------------------------------------------------
def factors(session: Session) -> list[dict[str, Any]]:
    """Every factor version, for the admin page and `emc factors list`."""
    rows = session.execute(select(CarbonFactor).order_by(CarbonFactor.kind, CarbonFactor.carrier,
                                                         CarbonFactor.series, CarbonFactor.region,
                                                         CarbonFactor.data_year, CarbonFactor.version)).scalars()
    return [{"ref": f"{r.factor_id}@v{r.version}", "kind": r.kind, "carrier": r.carrier, "series": r.series,
             "region": r.region, "data_year": r.data_year, "value": str(r.value), "unit": r.unit, "status": r.status,
             "tag": r.tag, "source": r.source, "note": r.note, "loaded_at": r.loaded_at.isoformat()} for r in rows]


def references(session: Session, year: int | None = None) -> list[dict[str, Any]]:
    query = select(CarbonReference).order_by(CarbonReference.year, CarbonReference.indicator)
    if year is not None:
        query = query.where(CarbonReference.year <= year)
    return [{"id": r.reference_id, "region": r.region, "indicator": r.indicator, "year": r.year,
             "value": str(r.value), "source": r.source} for r in session.execute(query).scalars()]


# -- the provincial statistics report's shape ---------------------------------------------------------------
def statistics_rows(session: Session, scope: Scope, year: int, *,
                    region_code: str | None = None) -> list[dict[str, Any]]:
    """One row per institution for the year, in the shape of the provincial statistics report (公共机构能源资源
    消费统计): consumption by carrier, floor area, energy users and the four indicators. For the XLSX export."""
    path = region(session, region_code).path if region_code else None
    figures = figures_by_institution(session, scope, year, region_path=path)
    rows = session.execute(select(Institution.id, Institution.code, Institution.name, Institution.category,
                                  Region.code, Region.name).join(Region, Region.id == Institution.region_id)
                           .where(Institution.id.in_(list(figures))).order_by(Region.code, Institution.code)).all()
    out = []
    for inst_id, code, name, category, region_c, region_n in rows:
        f = figures[inst_id]
        values = ind.values(f.totals())
        out.append({"institution": code, "name": name, "category": category, "region": region_c,
                    "region_name": region_n, "year": year, "floor_area_m2": str(f.floor_area_m2),
                    "energy_users": str(f.energy_users), "electricity_kwh": str(f.electricity_kwh),
                    "gas_m3": str(f.gas_m3), "heat_gj": str(f.heat_gj), "water_m3": str(f.water_m3),
                    "energy_tce": str(f.energy_kgce / 1000), "co2_scope1_t": str(f.co2_scope1_kg / 1000),
                    "co2_scope2_t": str(f.co2_scope2_kg / 1000), "pv_kwh": str(f.pv_kwh),
                    "savings_tce": str(f.savings_kgce / 1000), "savings_tco2": str(f.savings_kgco2 / 1000),
                    **{k: _s(v) for k, v in values.items()}})
    return out
