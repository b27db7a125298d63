"""Scoped sums of the carbon ledger: figures per institution and month, coverage, totals, indicators,
roll-ups through the region tree and the statistics report's rows (the city dashboard composes them:
:mod:`.dashboard`).

Every read goes through :class:`emc.org.scope.Scope` (an ESCO sees the institutions its contracts serve and
only its own contracts' savings). Sums are done by the database over current entries (exact: the ledger's
figure columns are integer thousandths on SQLite, NUMERIC on PostgreSQL) and folded into
:class:`emc.carbon.core.rollup.Figures` by the pure core.

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

from sqlalchemy import ColumnElement, Integer, case, cast, distinct, extract, func, literal, select, true
from sqlmodel import Session

from emc import clock
from emc.metering.models import Meter
from emc.org.models import Institution, InstitutionYear, Region
from emc.org.scope import NotFound, Scope

from ..core import coverage as cov
from ..core import indicators as ind
from ..core import rollup
from ..core.rollup import Figures
from ..models import CarbonEntry

E = CarbonEntry
ZERO_FIGURES = Figures()


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
                  denominated_in: int | None = None, category: str | None = None) -> Any:
    """The ids of the institutions a read covers: in scope, in the region's subtree, optionally one, optionally
    of one category (a leaderboard reads only the institutions it ranks)."""
    query = select(Institution.id).where(scope.institutions())
    if category is not None:
        query = query.where(Institution.category == category)
    if region_path:
        query = query.where(Institution.region_id.in_(
            select(Region.id).where(Region.path.startswith(region_path, autoescape=True))))
    if institution_id is not None:
        query = query.where(Institution.id == institution_id)
    if denominated_in is not None:  # a statistics form for the year, or an earlier one that still stands
        query = query.where(Institution.id.in_(select(InstitutionYear.institution_id)
                                               .where(InstitutionYear.year <= denominated_in)))
    return query


def entry_where(scope: Scope, start: date, end: date, **where: Any) -> list[ColumnElement[bool]]:
    # the entry's own rule (emc/scope_rules.py): its institution, and for an ESCO only its own contracts' savings
    return [E.current == true(), E.month >= start, E.month < end, scope.clause_for(E),
            E.institution_id.in_(institution_ids(scope, **where))]


def year_span(year: int, months: int | None = None) -> tuple[date, date]:
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
                    months: int | None = None, institution_id: int | None = None,
                    category: str | None = None) -> YearRead:
    start, end = year_span(year, months)
    where = entry_where(scope, start, end, region_path=region_path, institution_id=institution_id, category=category)
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
                institution_ids(scope, region_path=region_path, institution_id=institution_id,
                                category=category)))).all():
        if inst not in latest or y > latest[inst][0]:
            latest[inst] = (y, area, users)
    denominators = {inst: (Decimal(area), Decimal(users)) for inst, (_, area, users) in latest.items()}
    for inst, (area, users) in denominators.items():
        out[inst] = out.get(inst, ZERO_FIGURES).with_denominators(area, users)
    return YearRead(out, series, entries, provisional, dict(booked), denominators, dict(with_entries), load_months,
                    load_over)


# -- coverage -----------------------------------------------------------------------------------------------
def metered(session: Session, scope: Scope, region_path: str | None = None,
            institution_id: int | None = None, category: str | None = None) -> dict[int, set[str]]:
    """The utilities each institution in the region meters (what its coverage is expected to hold)."""
    out: dict[int, set[str]] = defaultdict(set)
    for inst, utility in session.execute(select(Meter.institution_id, Meter.utility).distinct().where(
            Meter.institution_id.in_(institution_ids(scope, region_path=region_path, institution_id=institution_id,
                                                     category=category)))).all():
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
    got = coverage_of(read, year, as_of or clock.today(), metered(session, scope, region_path))
    return got.summary(ids)


def _with_denominators(figures: dict[int, Figures]) -> dict[int, Figures]:
    return {i: f for i, f in figures.items() if f.floor_area_m2 > 0 and f.energy_users > 0}


def denominated(figures: dict[int, Figures]) -> ind.Totals:
    """Totals over the institutions with denominators (the statistics form's basis for indicators)."""
    return Figures.total(_with_denominators(figures).values()).totals()


def totals(session: Session, scope: Scope, year: int, *, region_path: str | None = None,
           institution_id: int | None = None, months: int | None = None) -> Figures:
    """One sum of figures (no denominators) for a region, an institution or everything in scope."""
    start, end = year_span(year, months)
    return _fold(session.execute(select(*_GROUP, *_SUMS).where(*entry_where(
        scope, start, end, region_path=region_path, institution_id=institution_id)).group_by(*_GROUP)).all())


def monthly(session: Session, scope: Scope, years: Iterable[int], *, region_path: str | None = None,
            institution_id: int | None = None, denominated_in: int | None = None) -> dict[date, Figures]:
    """Figures per month (charts over time, seasonal profiles)."""
    ys = sorted(years)
    rows = session.execute(select(E.month, *_GROUP, *_SUMS).where(*entry_where(
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
    now, before, *_ = compared(session, scope, year, region_path, as_of or clock.today())
    if institution_id is not None:
        now = {k: v for k, v in now.items() if k == institution_id}
        before = {k: v for k, v in before.items() if k == institution_id}
    return ind.table(denominated(now), denominated(before) if before else None)


def compared(session: Session, scope: Scope, year: int, region_path: str | None, as_of: date,
              cache: dict[str, Any] | None = None, category: str | None = None
              ) -> tuple[dict[int, Figures], dict[int, Figures], YearRead, cov.Coverage, cov.Coverage]:
    """This year's and last year's figures like for like, this year's read and both coverages; over one category
    of institutions when asked (every figure and coverage here is per institution, so leaving the other
    categories out changes none of theirs)."""
    cache = cache if cache is not None else {}
    this_year = cache.get("now") or read_year(session, scope, year, region_path, category=category)
    last_year = cache.get("before") or read_year(session, scope, year - 1, region_path, category=category)
    meters = cache["metered"] if "metered" in cache else metered(session, scope, region_path, category=category)
    now_cov = coverage_of(this_year, year, as_of, meters)
    before_cov = coverage_of(last_year, year - 1, as_of, meters)
    a, b = like_for_like(this_year, last_year, now_cov, before_cov)
    return a, b, this_year, now_cov, before_cov


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
    like_now, like_before, this_year, now_cov, _ = compared(session, scope, year, top.path, as_of or clock.today(),
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
    return {"name": x.name, "label_zh": x.label_zh, "unit": x.unit, "value": as_text(year_value),
            "compared": as_text(x.value), "previous": as_text(x.previous), "change": as_text(x.change)}


def as_text(v: Decimal | None) -> str | None:
    return None if v is None else str(v)


# -- the provincial statistics report's shape ---------------------------------------------------------------
def statistics_rows(session: Session, scope: Scope, year: int, *,
                    region_code: str | None = None) -> list[dict[str, Any]]:
    """One row per institution for the year, in the shape of the provincial statistics report (公共机构能源资源
    消费统计): consumption by carrier, floor area, energy users and the four indicators. For the XLSX export."""
    path = region(session, region_code).path if region_code else None
    read = read_year(session, scope, year, path)
    figures = read.figures
    covered = coverage_of(read, year, clock.today(), metered(session, scope, path))
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
                    "complete": covered.complete(inst_id), **{k: as_text(v) for k, v in values.items()}})
    return out
