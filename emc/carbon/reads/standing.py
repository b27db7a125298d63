"""Standing against targets and quotas: a region's target status (year-to-date progress over the
same institutions on both sides) and the leaderboards of an indicator within a category."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from emc import clock
from emc.org.models import Institution, Region
from emc.org.scope import Scope

from ..core import indicators as ind
from ..core import rollup
from ..core.quotas import applicable, grade, levels
from ..core.rollup import Figures
from ..core.targets import NATIONAL, Progress, Target, TargetStatus, assess
from ..models import CarbonQuota, CarbonTarget
from . import reference
from .figures import YearRead, as_text, compared, coverage_of, denominated, metered, read_year, region


# -- targets ------------------------------------------------------------------------------------------------
def target_status(session: Session, scope: Scope, year: int, *, region_code: str, as_of: date | None = None,
                  _cache: dict[str, Any] | None = None) -> list[TargetStatus]:
    """Status of every target that applies to the region (its own, its ancestors', the national ones) in
    ``year``, over the institutions whose data are complete from January to the last month with data (among
    the months ended on ``as_of``, default today) and complete in the target's base year: the same
    institutions on both sides of the comparison, and a verdict (met / missed) only when the year has ended
    and every institution's twelve months are in (:mod:`..core.targets`, :mod:`..core.coverage`)."""
    top = region(session, region_code)
    codes = [*rollup.region_codes(top.path), NATIONAL]
    rows = session.execute(select(CarbonTarget).where(CarbonTarget.region.in_(codes))
                           .order_by(CarbonTarget.region, CarbonTarget.indicator)).scalars().all()
    found = [t for t in (reference.target_of(r) for r in rows) if t.applies_to(year)]
    if not found:
        return []
    reporting = _Reporting.of(session, scope, year, top.path, as_of or clock.today(),
                              _cache if _cache is not None else {})
    return [assess(t, year, reporting.progress(t)) for t in found]


@dataclass
class _Reporting:
    """The year's reads and who reports in it, shared by every target of a region."""

    session: Session
    scope: Scope
    year: int
    path: str
    as_of: date
    cache: dict[str, Any]
    this_year: YearRead
    before: YearRead
    meters: dict[int, set[str]]
    expected: list[int]  # with a statistics form (denominators) and something to report
    reporting: list[int]  # of those, complete from January through the last month with data
    through: frozenset[int]
    closed: bool
    reads: dict[int, YearRead]  # by year: last year's, and each target's base year once

    @classmethod
    def of(cls, session: Session, scope: Scope, year: int, path: str, as_of: date,
           cache: dict[str, Any]) -> _Reporting:
        this_year = cache.get("now") or read_year(session, scope, year, path)
        meters = cache["metered"] if "metered" in cache else metered(session, scope, path)
        cache["metered"] = meters
        now_cov = coverage_of(this_year, year, as_of, meters)
        expected = sorted(i for i in this_year.denominators if now_cov.expected.get(i))
        through = frozenset(range(1, now_cov.through + 1))
        reporting = [i for i in expected if through and through <= now_cov.months(i)]
        closed = now_cov.elapsed == 12 and now_cov.through == 12 and len(reporting) == len(expected)
        before = cache.get("before") or read_year(session, scope, year - 1, path)
        return cls(session, scope, year, path, as_of, cache, this_year, before, meters, expected, reporting,
                   through, closed, {year - 1: before})

    def _read(self, year: int) -> YearRead:
        if year not in self.reads:
            self.reads[year] = read_year(self.session, self.scope, year, self.path)
        return self.reads[year]

    def progress(self, t: Target) -> Progress:
        """The target's progress over the institutions reporting now and complete in its base year."""
        base_read = self._read(t.base_year)
        base_cov = coverage_of(base_read, t.base_year, self.as_of, self.meters)
        members = [i for i in self.reporting if base_cov.complete(i)]
        base = denominated({i: base_read.figures[i] for i in members if i in base_read.figures})
        base_value = ind.value(base, t.indicator) if base.energy_kgce or base.water_m3 else None
        series, prior = self._monthly(members, ind.INDICATORS[t.indicator][0])
        denominator = denominated(self.this_year.over_many({i: self.through for i in members}))
        return Progress(tuple(series), denominator.denominator(t.indicator), tuple(prior) if any(prior) else (),
                        base_value, closed=self.closed and len(members) == len(self.expected),
                        institutions=len(members), of=len(self.expected))

    def _monthly(self, members: list[int], column: str) -> tuple[list[Decimal], list[Decimal]]:
        """This year's numerators through the last month with data, and last year's twelve."""
        year, months = self.year, sorted(self.through)
        if "months" in self.cache and set(members) == set(self.this_year.months) == set(self.before.months):
            # every institution with data counts: the region's monthly figures are the members' (one read)
            by_month = self.cache["months"]
            return ([_numerator(by_month.get(date(year, m, 1)), column) for m in months],
                    [_numerator(by_month.get(date(year - 1, m, 1)), column) for m in range(1, 13)])
        return ([_numerator(self.this_year.monthly_total(members, m), column) for m in months],
                [_numerator(self.before.monthly_total(members, m), column) for m in range(1, 13)])


def _numerator(f: Figures | None, column: str) -> Decimal:
    if f is None:
        return Decimal(0)
    return f.co2_kg if column == "co2_kg" else Decimal(getattr(f, column))


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
    # only the category's institutions are read (issue 15: a board no longer reads the whole province's figures)
    like_now, like_before, this_year, now_cov, _ = compared(session, scope, year, path, as_of or clock.today(),
                                                            category=category)
    now = this_year.figures
    info = {i.id: i for i in session.execute(select(Institution).where(
        Institution.id.in_(list(now)), Institution.category == category)).scalars()}
    paths: dict[int, str] = {i: p for i, p in session.execute(select(col(Institution.id), col(Region.path)).join(
        Region, col(Region.id) == col(Institution.region_id)).where(col(Institution.id).in_(list(info)))).all()}
    quota_rows = [reference.quota_of(q) for q in session.execute(select(CarbonQuota).where(
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
               "previous": as_text(prev), "change": as_text(change), "complete": complete,
               "months": len(now_cov.months(inst_id)), "elapsed": now_cov.elapsed,
               "grade": grade(value, levels(quota)) if quota and complete else None,
               "quota": quota.id if quota else None}
        (ranked if complete else unranked).append((value, info[inst_id].code, row))
    ranked.sort(key=lambda r: (r[0], r[1]))
    unranked.sort(key=lambda r: r[1])
    out = [{"rank": rank, **row} for rank, (_, _, row) in enumerate(ranked, start=1)]
    out += [{"rank": None, **row} for _, _, row in unranked]
    return out[:limit] if limit else out
