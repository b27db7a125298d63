"""Over-quota warnings (超定额预警): what the scheduled job runs.

For the year of the last complete month, each institution's year-to-date numerator (kgce for energy
indicators, m³ for water, kgCO₂ for carbon) is compared with its category's quota — the most specific region's,
corrected for the institution — pro-rated by the institution's own prior-year seasonal profile (by days without
one), through the last month it has data for. Every tier crossed that has not warned this year is stored once:
the unique key (institution, year, quota, level, tier) makes a second run, or a second process, a no-op.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import func, select, true
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from emc.audit import service as audit
from emc.org.models import Institution, User
from emc.org.scope import Scope

from .core import indicators as ind
from .core import rollup
from .core.quotas import Quota, applicable, check, levels, new_tiers
from .core.season import seasonal_share
from .models import CarbonEntry as E
from .models import CarbonQuota, CarbonQuotaCorrection, CarbonWarning
from .reads import inputs, reference
from .reads.entries import percent


@dataclass
class WarningReport:
    year: int
    through: date
    checked: int = 0
    raised: list[dict[str, Any]] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"quota check {self.year} through {self.through}: {self.checked} institution-quota pairs, "
               f"{len(self.raised)} new warning(s)"]
        out += [f"  {w['institution']} {w['quota']} {w['tier']} of {w['level']}: ratio {w['ratio']}"
                for w in self.raised]
        return out


def _monthly(session: Session, scope: Scope, years: list[int]) -> dict[tuple[int, date], rollup.Figures]:
    t = E
    rows = session.execute(select(t.institution_id, t.month, t.kind, t.utility, t.scope, t.in_energy,
                                  func.sum(t.quantity), func.sum(t.kgce), func.sum(t.kgco2))
                           .where(t.current == true(), t.kind == "consumption", t.month >= date(min(years), 1, 1),
                                  t.month < date(max(years) + 1, 1, 1),
                                  scope.clause_for(E))
                           .group_by(t.institution_id, t.month, t.kind, t.utility, t.scope, t.in_energy)).all()
    grouped: dict[tuple[int, date], list[Any]] = defaultdict(list)
    for inst, month, *rest in rows:
        grouped[(inst, month)].append(rest)
    return {k: rollup.fold(v) for k, v in grouped.items()}


def _numerator(f: rollup.Figures | None, indicator: str) -> Decimal:
    if f is None:
        return Decimal(0)
    column = ind.INDICATORS[indicator][0]
    return f.co2_kg if column == "co2_kg" else Decimal(getattr(f, column))


def raise_quota_warnings(session: Session, *, today: date, actor: User | str = "scheduler",
                         scope: Scope | None = None) -> WarningReport:
    """Store the warnings due on ``today`` (data through the end of the previous month)."""
    scope = scope or Scope.everything()
    through = today.replace(day=1) - timedelta(days=1)
    year = through.year
    report = WarningReport(year, through)
    by_kind: dict[tuple[str, str], list[Quota]] = defaultdict(list)
    for q in (reference.quota_of(row) for row in session.execute(select(CarbonQuota)).scalars()):
        by_kind[(q.category, q.indicator)].append(q)
    if not by_kind:
        return report
    year_so_far = _YearSoFar.read(session, scope, year)
    for inst_id in sorted(year_so_far.in_scope):
        info = year_so_far.institutions.get(inst_id)
        months = min(year_so_far.last_month.get(inst_id, 0), through.month)
        if info is None or months == 0 or (inst_id, year) not in year_so_far.denominators:
            continue
        for (category, indicator), candidates in sorted(by_kind.items()):
            quota = applicable(candidates, info.path, year) if category == info.category else None
            if quota is not None:
                report.checked += 1
                _check(session, year_so_far, report, inst_id, info, quota, indicator, months)
    if report.raised:
        audit.record(session, actor=actor, action="carbon.quota_warnings", object_type="job", object_id=str(year),
                     after={"through": through.isoformat(), "raised": report.raised[:200]})
    return report


@dataclass
class _YearSoFar:
    """What a quota check of ``year`` reads once: institutions, corrections, denominators, monthly figures of
    this year and the last, the last month with data, and the tiers that have already warned."""

    year: int
    institutions: dict[int, inputs.InstitutionInfo]
    in_scope: set[int]
    corrections: dict[tuple[int, str], CarbonQuotaCorrection]
    denominators: dict[tuple[int, int], tuple[Decimal, int]]
    monthly: dict[tuple[int, date], rollup.Figures]
    last_month: dict[int, int]
    already: dict[tuple[int, str, str], list[Decimal]]

    @classmethod
    def read(cls, session: Session, scope: Scope, year: int) -> _YearSoFar:
        monthly = _monthly(session, scope, [year - 1, year])
        last_month: dict[int, int] = {}
        for inst, month in monthly:
            if month.year == year:
                last_month[inst] = max(last_month.get(inst, 0), month.month)
        already: dict[tuple[int, str, str], list[Decimal]] = defaultdict(list)
        for w in session.execute(select(CarbonWarning).where(CarbonWarning.year == year)).scalars():
            already[(w.institution_id, w.quota_id, w.level)].append(Decimal(w.tier_bp) / 10000)
        return cls(year, inputs.institutions(session),
                   set(session.execute(select(Institution.id).where(scope.institutions())).scalars()),
                   {(c.institution_id, c.quota_id): c
                    for c in session.execute(select(CarbonQuotaCorrection)).scalars()},
                   inputs.denominators(session, [year]), monthly, last_month, already)

    def numerators(self, inst_id: int, indicator: str, months: int) -> tuple[Decimal, list[Decimal]]:
        """Year to date through ``months``, and the prior year's twelve months."""
        year = self.year
        ytd = sum((_numerator(self.monthly.get((inst_id, date(year, m, 1))), indicator) for m in range(1, months + 1)),
                  Decimal(0))
        return ytd, [_numerator(self.monthly.get((inst_id, date(year - 1, m, 1))), indicator) for m in range(1, 13)]


def _check(session: Session, ysf: _YearSoFar, report: WarningReport, inst_id: int, info: inputs.InstitutionInfo,
           quota: Quota, indicator: str, months: int) -> None:
    """One institution against one quota: store every tier newly crossed."""
    year = ysf.year
    row = ysf.corrections.get((inst_id, quota.id))
    lv = levels(quota, reference.correction_of(row, info.code) if row else None)
    ytd, prior = ysf.numerators(inst_id, indicator, months)
    share, basis = seasonal_share(year, months, prior if any(prior) else ())
    area, users = ysf.denominators[(inst_id, year)]
    denominator = Decimal(users) if ind.INDICATORS[indicator][1] == "energy_users" else area
    result = check(lv, quota.level, quota.tiers, ytd, denominator, share)
    if result is None:
        return
    for tier in new_tiers(result, ysf.already[(inst_id, quota.id, quota.level)]):
        warning = CarbonWarning(
            institution_id=inst_id, year=year, quota_id=quota.id, quota_version=quota.version,
            indicator=indicator, level=quota.level, tier_bp=int(tier * 10000),
            through=date(year, months, 1) + relativedelta(months=1, days=-1), ratio=result.ratio,
            year_to_date=result.year_to_date.quantize(Decimal("0.001")),
            allowed_to_date=result.allowed_to_date, detail={
                **result.as_dict(), "basis": basis, "months": months, "denominator": str(denominator),
                "corrected_by": lv.corrected_by, "illustrative_quota": quota.illustrative})
        if not _stored_once(session, warning):
            continue
        ysf.already[(inst_id, quota.id, quota.level)].append(tier)
        report.raised.append({"institution": info.code, "quota": quota.id, "level": quota.level,
                              "tier": percent(int(tier * 10000)), "ratio": str(result.ratio)})


def _stored_once(session: Session, warning: CarbonWarning) -> bool:
    """Store the warning unless another run stored it first (its unique key): once is enough."""
    savepoint = session.begin_nested()
    try:
        session.add(warning)
        session.flush()
        savepoint.commit()
    except IntegrityError:
        savepoint.rollback()
        return False
    return True


def acknowledge(session: Session, scope: Scope, warning_id: int, *, actor: User | str) -> CarbonWarning:
    """The bureau has seen the warning (and the institution's explanation). Once; audited."""
    from emc.dbtypes import utcnow
    warning = scope.find(session, CarbonWarning, CarbonWarning.id == warning_id)
    if warning.acknowledged_at is None:
        warning.acknowledged_at = utcnow()
        warning.acknowledged_by = actor.username if isinstance(actor, User) else actor
        audit.record(session, actor=actor, action="carbon.warning_acknowledge", object_type="carbon_warning",
                     object_id=warning.id)
    return warning
