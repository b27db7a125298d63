"""The city (or district) dashboard's data in one call: totals and indicators with last year's, each district,
the months of this and last year, target status, warnings and how much is still provisional.

Fast by construction (issue 7: < 200 ms for 415 institutions): five grouped reads of the ledger's covering
index — the year and the year before by institution, the two years by month, the base years of targets — and
the rest folded in Python from those; see scripts/bench_carbon.py.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from emc import clock
from emc.org.scope import Scope

from ..core import rollup
from ..models import CarbonWarning
from .entries import percent, warnings
from .figures import institution_ids, metered, monthly, read_year, region, region_paths, rollup_rows
from .reference import references
from .standing import target_status


def city_dashboard(session: Session, scope: Scope, *, region_code: str, year: int,
                   as_of: date | None = None) -> dict[str, Any]:
    """Everything the city (or district) dashboard shows, in one call: totals and indicators with last year's,
    each district, months of this and last year, target status, warnings, and how much is still provisional."""
    top = region(session, region_code)
    months = monthly(session, scope, [year - 1, year], region_path=top.path)
    cache = {"now": read_year(session, scope, year, top.path),
             "before": read_year(session, scope, year - 1, top.path), "paths": region_paths(session),
             "months": months, "metered": metered(session, scope, top.path)}
    rolled = rollup_rows(session, scope, year, region_code=region_code, as_of=as_of, _cache=cache)
    statuses = target_status(session, scope, year, region_code=region_code, as_of=as_of, _cache=cache)
    w_where = [CarbonWarning.year == year,
               CarbonWarning.institution_id.in_(institution_ids(scope, region_path=top.path))]
    by_tier = dict(session.execute(select(CarbonWarning.tier_bp, func.count()).where(*w_where)
                                   .group_by(CarbonWarning.tier_bp)).all())
    by_institution = session.execute(select(CarbonWarning.institution_id, func.count()).where(*w_where)
                                     .group_by(CarbonWarning.institution_id)).all()
    paths = cache["paths"][0]
    latest = warnings(session, scope, year=year, region_path=top.path, per_page=10).rows
    provisional, entries = cache["now"].provisional, cache["now"].entries
    for child in rolled["children"]:
        child["warnings"] = sum(n for inst, n in by_institution if child["code"] in rollup.region_codes(paths[inst]))
    return {
        "region": rolled["region"], "year": year, "as_of": (as_of or clock.today()).isoformat(),
        "districts": rolled["children"],
        "months": [{"month": m.isoformat(), "energy_kgce": str(f.energy_kgce), "co2_kg": str(f.co2_kg),
                    "water_m3": str(f.water_m3), "savings_kgco2": str(f.savings_kgco2), "pv_kwh": str(f.pv_kwh)}
                   for m, f in months.items()],
        "targets": [s.as_dict() for s in statuses],
        "warnings": {"by_tier": {percent(bp): n for bp, n in sorted(by_tier.items())},
                     "total": sum(by_tier.values()), "latest": latest},
        "entries": int(entries or 0), "provisional_entries": int(provisional or 0),
        "references": references(session, year),
        # what every figure above stands on (emc.carbon.core.coverage): "数据覆盖 2 / 12 月，38 / 112 家单位"
        "coverage": rolled["region"]["coverage"],
    }
