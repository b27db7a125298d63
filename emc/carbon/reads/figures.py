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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, case, cast, distinct, extract, func, literal, select, true
from sqlmodel import Session

from emc.contracts.models import Contract
from emc.metering.models import Meter
from emc.org.models import Institution, InstitutionYear, Region
from emc.org.scope import NotFound, Scope

from . import coverage as cov
from . import indicators as ind
from . import rollup, service
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
# the months of a group as bits (1 << month, summed over distinct months): which months have entries, in the
# same grouped read as the sums
_MONTH_BITS = func.sum(distinct(literal(1, Integer).op("<<")(cast(extract("month", E.month), Integer))))


_fold = rollup.fold


# -- figures ------------------------------------------------------------------------------------------------
def figures_by_institution(session: Session, scope: Scope, year: int, *, region_path: str | None = None,
                           months: int | None = None) -> dict[int, Figures]:
    """Each institution's figures for the year (or its first ``months`` months), with its denominators."""
    return read_year(session, scope, year, region_path, months).figures


@dataclass
class YearRead:
    """One grouped read of a year: figures (with denominators) and CO₂ series per institution, the months with
    entries per institution and the months the ledger booked consumption per institution and utility
    (coverage's input), and how many current entries there are and how many of them are provisional. Figures
    per institution and month are read only when a partial year asks for them (:meth:`over`)."""

    figures: dict[int, Figures]
    series: dict[int, str]
    entries: int
    provisional: int
    booked: dict[tuple[int, str], set[int]] = field(default_factory=dict)
    denominators: dict[int, tuple[Decimal, Decimal]] = field(default_factory=dict)
    months: dict[int, set[int]] = field(default_factory=dict)  # institution → months with any entry
    load_months: Callable[[], dict[int, dict[int, Figures]]] | None = None
    # figures of some institutions over some months, in one grouped read
    load_over: Callable[[list[int], frozenset[int]], dict[int, Figures]] | None = None
    _by_month: dict[int, dict[int, Figures]] | None = None
    _coverage: dict[Any, cov.Coverage] = field(default_factory=dict)

    @property
    def by_month(self) -> dict[int, dict[int, Figures]]:
        if self._by_month is None:
            self._by_month = self.load_months() if self.load_months else {}
        return self._by_month

    def over(self, institution: int, months: Iterable[int]) -> Figures:
        """The institution's figures over some months of the year, with the year's denominators."""
        wanted = frozenset(months)
        if self.months.get(institution, set()) <= wanted:
            return self.figures.get(institution, ZERO_FIGURES)  # every month it has: the year's figures
        per = self.by_month.get(institution, {})
        got = Figures.total(per[m] for m in wanted if m in per)
        if institution in self.denominators:
            got = got.with_denominators(*self.denominators[institution])
        return got

    def over_many(self, wanted: dict[int, frozenset[int]]) -> dict[int, Figures]:
        """:meth:`over` for many institutions: those wanting every month they have take the year's figures;
        the others are read grouped by the months they want (one read per distinct set of months — a year to
        date is one set for nearly everyone), or month by month when the sets are many."""
        out: dict[int, Figures] = {}
        partial: dict[frozenset[int], list[int]] = defaultdict(list)
        for inst, months in wanted.items():
            if self.months.get(inst, set()) <= months:
                out[inst] = self.figures.get(inst, ZERO_FIGURES)
            else:
                partial[months].append(inst)
        if len(partial) > 3 or self.load_over is None or self._by_month is not None:
            out.update({i: self.over(i, m) for m, insts in partial.items() for i in insts})
            return out
        for months, insts in partial.items():
            got = self.load_over(insts, months)
            for inst in insts:
                f = got.get(inst, ZERO_FIGURES)
                out[inst] = f.with_denominators(*self.denominators[inst]) if inst in self.denominators else f
        return out

    def monthly_total(self, institutions: Iterable[int], month: int) -> Figures:
        return Figures.total(self.by_month.get(i, {}).get(month, ZERO_FIGURES) for i in institutions)


def read_year(session: Session, scope: Scope, year: int, region_path: str | None,
                    months: int | None = None, institution_id: int | None = None) -> YearRead:
    start, end = _year(year, months)
    where = _entries(scope, start, end, region_path=region_path, institution_id=institution_id)
    rows = session.execute(select(E.institution_id, E.series, *_GROUP, *_SUMS, _MONTH_BITS, func.count(),
                                  func.sum(case((E.provisional, 1), else_=0))).where(*where)
                           .group_by(E.institution_id, E.series, *_GROUP)).all()
    grouped: dict[int, list[Any]] = defaultdict(list)
    series: dict[int, str] = {}
    booked: dict[tuple[int, str], set[int]] = defaultdict(set)  # (institution, utility) → months of consumption
    with_entries: dict[int, set[int]] = defaultdict(set)  # institution → months with any entry
    entries = provisional = 0
    for inst, s, *rest in rows:
        grouped[inst].append(rest[:-3])
        months_ = {m for m in range(1, 13) if int(rest[-3] or 0) >> m & 1}
        with_entries[inst] |= months_
        if rest[0] == "consumption":
            booked[(inst, rest[1])] |= months_
        entries += int(rest[-2])
        provisional += int(rest[-1] or 0)
        if s:
            series[inst] = s
    out = {inst: _fold(r) for inst, r in grouped.items()}

    def load_months() -> dict[int, dict[int, Figures]]:
        per: dict[int, dict[int, list[Any]]] = defaultdict(lambda: defaultdict(list))
        for inst, month, *rest in session.execute(select(E.institution_id, E.month, *_GROUP, *_SUMS).where(*where)
                                                  .group_by(E.institution_id, E.month, *_GROUP)).all():
            per[inst][month.month].append(rest)
        return {inst: {m: _fold(r) for m, r in months_.items()} for inst, months_ in per.items()}

    def load_over(insts: list[int], wanted: frozenset[int]) -> dict[int, Figures]:
        grouped_: dict[int, list[Any]] = defaultdict(list)
        for inst, *rest in session.execute(select(E.institution_id, *_GROUP, *_SUMS).where(
                *where, E.institution_id.in_(insts), E.month.in_([date(year, m, 1) for m in sorted(wanted)]))
                .group_by(E.institution_id, *_GROUP)).all():
            grouped_[inst].append(rest)
        return {inst: _fold(r) for inst, r in grouped_.items()}

    # Denominators of the statistics form for the year; until an institution files the year's form, its latest
    # earlier form stands (floor area and headcount change rarely; a missing form must not zero an indicator)
    latest: dict[int, tuple[int, Any, Any]] = {}
    for inst, y, area, users in session.execute(select(
            InstitutionYear.institution_id, InstitutionYear.year, InstitutionYear.floor_area_m2,
            InstitutionYear.energy_users).where(InstitutionYear.year <= year, InstitutionYear.institution_id.in_(
                institution_ids(scope, region_path=region_path, institution_id=institution_id)))).all():
        if inst not in latest or y > latest[inst][0]:
            latest[inst] = (y, area, users)
    denominators = {inst: (Decimal(area), Decimal(users)) for inst, (_, area, users) in latest.items()}
    for inst, (area, users) in denominators.items():
        out[inst] = out.get(inst, ZERO_FIGURES).with_denominators(area, users)
    return YearRead(out, series, entries, provisional, dict(booked), denominators, dict(with_entries), load_months,
                    load_over)


# -- coverage -----------------------------------------------------------------------------------------------
def metered(session: Session, scope: Scope, region_path: str | None = None,
            institution_id: int | None = None) -> dict[int, set[str]]:
    """The utilities each institution in the region meters (what its coverage is expected to hold)."""
    out: dict[int, set[str]] = defaultdict(set)
    for inst, utility in session.execute(select(Meter.institution_id, Meter.utility).distinct().where(
            Meter.institution_id.in_(institution_ids(scope, region_path=region_path,
                                                     institution_id=institution_id)))).all():
        out[inst].add(utility)
    return dict(out)


def coverage_of(read: YearRead, year: int, as_of: date, metered_by: dict[int, set[str]]) -> cov.Coverage:
    key = (year, cov.elapsed_months(year, as_of), id(metered_by))
    if key not in read._coverage:
        read._coverage[key] = cov.build(year, key[1], metered_by, read.booked)
    return read._coverage[key]


def like_for_like(now: YearRead, before: YearRead, now_cov: cov.Coverage, before_cov: cov.Coverage
                  ) -> tuple[dict[int, Figures], dict[int, Figures]]:
    """Each institution's figures of both years over the months complete in both (with each year's
    denominators): the only basis a year-on-year change may stand on. Institutions without such a month are
    left out (their change is unknown, not −100 %)."""
    common = {inst: cov.common_months(now_cov, before_cov, inst) for inst in set(now.figures) & set(before.figures)}
    common = {inst: months for inst, months in common.items() if months}
    return now.over_many(common), before.over_many(common)


def coverage_summary(session: Session, scope: Scope, year: int, *, region_path: str | None = None,
                     institution_id: int | None = None, as_of: date | None = None,
                     read: YearRead | None = None) -> dict[str, Any]:
    """What a page stands on for the year: ``{"months": 2, "of_months": 12, "institutions_complete": 38,
    "institutions": 112, ...}`` (see :mod:`.coverage`)."""
    read = read or read_year(session, scope, year, region_path)
    ids = list(session.execute(institution_ids(scope, region_path=region_path, institution_id=institution_id)
                               ).scalars())
    got = coverage_of(read, year, as_of or date.today(), metered(session, scope, region_path))
    return got.summary(ids)


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
                    institution_id: int | None = None, as_of: date | None = None) -> list[ind.IndicatorRow]:
    """The four indicators on a like-for-like basis: this year and last year over the months each institution
    has complete in both (:func:`like_for_like`), and the change."""
    now, before, *_ = _compared(session, scope, year, region_path, as_of or date.today())
    if institution_id is not None:
        now = {k: v for k, v in now.items() if k == institution_id}
        before = {k: v for k, v in before.items() if k == institution_id}
    return ind.table(_denominated(now), _denominated(before) if before else None)


def _compared(session: Session, scope: Scope, year: int, region_path: str | None, as_of: date,
              cache: dict[str, Any] | None = None) -> tuple[dict[int, Figures], dict[int, Figures], YearRead,
                                                            cov.Coverage, cov.Coverage]:
    cache = cache if cache is not None else {}
    this_year = cache.get("now") or read_year(session, scope, year, region_path)
    last_year = cache.get("before") or read_year(session, scope, year - 1, region_path)
    meters = cache["metered"] if "metered" in cache else metered(session, scope, region_path)
    now_cov = coverage_of(this_year, year, as_of, meters)
    before_cov = coverage_of(last_year, year - 1, as_of, meters)
    a, b = like_for_like(this_year, last_year, now_cov, before_cov)
    return a, b, this_year, now_cov, before_cov


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


def rollup_rows(session: Session, scope: Scope, year: int, *, region_code: str, as_of: date | None = None,
                _cache: dict[str, Any] | None = None) -> dict[str, Any]:
    """The region and each region directly below it (a city's districts, a province's cities): figures,
    indicators like for like with last year's (the months each institution has complete in both), institutions
    counted, what the figures stand on (coverage), and whether CO₂ series are mixed."""
    top = region(session, region_code)
    cache = _cache if _cache is not None else {}
    like_now, like_before, this_year, now_cov, _ = _compared(session, scope, year, top.path, as_of or date.today(),
                                                             cache)
    now, series = this_year.figures, this_year.series
    paths, regions = cache.get("paths") or region_paths(session)
    rolled = rollup.roll_up(now, paths, series)
    denominated_now = rollup.roll_up(_with_denominators(like_now), paths)
    denominated_before = rollup.roll_up(_with_denominators(like_before), paths)
    # the year's own value: the institutions complete from January to the last month with data, same months
    so_far = frozenset(range(1, now_cov.through + 1))
    year_value = rollup.roll_up(_with_denominators(this_year.over_many(
        {i: so_far for i in this_year.figures if so_far and so_far <= now_cov.months(i)})), paths)
    ids = cache["ids"] if "ids" in cache else list(session.execute(institution_ids(scope, region_path=top.path)
                                                                   ).scalars())
    members: dict[str, list[int]] = defaultdict(list)
    for inst in ids:
        for code in rollup.region_codes(paths[inst]):
            members[code].append(inst)

    def row(code: str) -> dict[str, Any]:
        r = regions[code]
        got = rolled.get(code)
        previous = denominated_before.get(code)
        compared = denominated_now.get(code)
        table = ind.table((compared.figures if compared else Figures()).totals(),
                          previous.figures.totals() if previous else None)
        counted = year_value.get(code)
        values = ind.values(counted.figures.totals()) if counted else {}
        return {"code": code, "name": r.name, "name_en": r.name_en, "level": r.level,
                "institutions": got.institutions if got else 0,
                "figures": (got.figures if got else Figures()).as_dict(),
                "indicators": [_indicator_dict(x, values.get(x.name)) for x in table],
                "indicator_basis": {"institutions": counted.institutions if counted else 0,
                                    "months": now_cov.through,
                                    "compared": compared.institutions if compared else 0},
                "series": sorted(got.series) if got else [], "mixed_series": bool(got and got.mixed_series),
                "coverage": now_cov.summary(members.get(code, []))}

    children = sorted(c for c, r in regions.items() if r.parent_id == top.id)
    return {"region": row(top.code), "children": [row(c) for c in children]}


def _indicator_dict(x: ind.IndicatorRow, year_value: Decimal | None = None) -> dict[str, Any]:
    """``value``: the year so far over the institutions complete from January to the last month with data;
    ``change``: like for like (``compared`` this year, ``previous`` last year, over the same months)."""
    return {"name": x.name, "label_zh": x.label_zh, "unit": x.unit, "value": _s(year_value),
            "compared": _s(x.value), "previous": _s(x.previous), "change": _s(x.change)}


def _s(v: Decimal | None) -> str | None:
    return None if v is None else str(v)


# -- targets ------------------------------------------------------------------------------------------------
def target_status(session: Session, scope: Scope, year: int, *, region_code: str, as_of: date | None = None,
                  _cache: dict[str, Any] | None = None) -> list[TargetStatus]:
    """Status of every target that applies to the region (its own, its ancestors', the national ones) in
    ``year``, over the institutions whose data are complete from January to the last month with data (among
    the months ended on ``as_of``, default today) and complete in the target's base year: the same
    institutions on both sides of the comparison, and a verdict (met / missed) only when the year has ended
    and every institution's twelve months are in (:mod:`.targets`, :mod:`.coverage`)."""
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
    this_year = cache.get("now") or read_year(session, scope, year, top.path)
    meters = cache["metered"] if "metered" in cache else metered(session, scope, top.path)
    cache["metered"] = meters
    now_cov = coverage_of(this_year, year, as_of, meters)
    # the institutions that must report: those with a statistics form (denominators) and something to report
    expected = sorted(i for i in this_year.denominators if now_cov.expected.get(i))
    with_data = now_cov.through
    through = frozenset(range(1, with_data + 1))
    reporting = [i for i in expected if through and through <= now_cov.months(i)]
    closed = now_cov.elapsed == 12 and with_data == 12 and len(reporting) == len(expected)
    before = cache.get("before") or read_year(session, scope, year - 1, top.path)
    reads = {year - 1: before}
    out = []
    for t in found:
        if t.base_year not in reads:
            reads[t.base_year] = read_year(session, scope, t.base_year, top.path)
        base_read = reads[t.base_year]
        base_cov = coverage_of(base_read, t.base_year, as_of, meters)
        members = [i for i in reporting if base_cov.complete(i)]
        base = _denominated({i: base_read.figures[i] for i in members if i in base_read.figures})
        base_value = ind.value(base, t.indicator) if base.energy_kgce or base.water_m3 else None
        column = ind.INDICATORS[t.indicator][0]
        if "months" in cache and set(members) == set(this_year.months) == set(before.months):
            # every institution with data counts: the region's monthly figures are the members' (one read)
            series = [_numerator(cache["months"].get(date(year, m, 1)), column) for m in sorted(through)]
            prior = [_numerator(cache["months"].get(date(year - 1, m, 1)), column) for m in range(1, 13)]
        else:
            series = [_numerator(this_year.monthly_total(members, m), column) for m in sorted(through)]
            prior = [_numerator(before.monthly_total(members, m), column) for m in range(1, 13)]
        denominator = _denominated(this_year.over_many({i: through for i in members}))
        progress = Progress(tuple(series), denominator.denominator(t.indicator),
                            tuple(prior) if any(prior) else (), base_value,
                            closed=closed and len(members) == len(expected), institutions=len(members),
                            of=len(expected))
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
                region_code: str | None = None, limit: int | None = None, as_of: date | None = None
                ) -> list[dict[str, Any]]:
    """Institutions of one category ranked by an intensity, lowest first (能效领跑者 / 水效领跑者), with last
    year's value over the same months, the change and where the value falls against the category's quota.
    Only institutions whose data are complete for every month that has ended are ranked (the same months for
    everyone); the others follow unranked, flagged incomplete with the months they have."""
    if indicator not in ind.INDICATORS:
        raise ValueError(f"indicator {indicator!r} is not one of {sorted(ind.INDICATORS)}")
    path = region(session, region_code).path if region_code else None
    like_now, like_before, this_year, now_cov, _ = _compared(session, scope, year, path, as_of or date.today())
    now = this_year.figures
    info = {i.id: i for i in session.execute(select(Institution).where(
        Institution.id.in_(list(now)), Institution.category == category)).scalars()}
    paths, _ = region_paths(session)
    quota_rows = [service.quota_of(q) for q in session.execute(select(CarbonQuota).where(
        CarbonQuota.category == category, CarbonQuota.indicator == indicator)).scalars()]
    ranked, unranked = [], []
    for inst_id, f in now.items():
        if inst_id not in info:
            continue
        value = ind.value(f.totals(), indicator)
        if value is None:
            continue
        complete = now_cov.complete(inst_id)
        prev = change = None
        if inst_id in like_before:
            prev = ind.value(like_before[inst_id].totals(), indicator)
            change = ind.change(ind.value(like_now[inst_id].totals(), indicator), prev)
        quota = applicable(quota_rows, paths[inst_id], year)
        row = {"institution": info[inst_id].code, "name": info[inst_id].name, "value": str(value),
               "previous": _s(prev), "change": _s(change), "complete": complete,
               "months": len(now_cov.months(inst_id)), "elapsed": now_cov.elapsed,
               "grade": grade(value, levels(quota)) if quota and complete else None,
               "quota": quota.id if quota else None}
        (ranked if complete else unranked).append((value, info[inst_id].code, row))
    ranked.sort(key=lambda r: (r[0], r[1]))
    unranked.sort(key=lambda r: r[1])
    out = [{"rank": rank, **row} for rank, (_, _, row) in enumerate(ranked, start=1)]
    out += [{"rank": None, **row} for _, _, row in unranked]
    return out[:limit] if limit else out


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
    read = read_year(session, scope, year, path)
    figures = read.figures
    covered = coverage_of(read, year, date.today(), metered(session, scope, path))
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
                    "months_covered": len(covered.months(inst_id)), "months_elapsed": covered.elapsed,
                    "complete": covered.complete(inst_id), **{k: _s(v) for k, v in values.items()}})
    return out
