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
from sqlmodel import Session, col

from emc import clock
from emc.org.models import Institution, Region
from emc.org.scope import Scope

from ..core import rollup
from ..models import CarbonWarning
from .entries import percent, warnings
from .figures import institution_ids, metered, monthly, read_year, region, region_paths, rollup_rows
from .reference import references
from .standing import target_status


def dashboard_figures(session: Session, scope: Scope, *, region_code: str, year: int,
                      as_of: date | None = None) -> dict[str, Any]:
    """What the dashboard computes from the ledger (emc.carbon.prepared stores it): totals and indicators with
    last year's, each district, the months of this and last year, target status, and how much is still
    provisional."""
    top = region(session, region_code)
    months = monthly(session, scope, [year - 1, year], region_path=top.path)
    cache = {"now": read_year(session, scope, year, top.path),
             "before": read_year(session, scope, year - 1, top.path), "paths": region_paths(session),
             "months": months, "metered": metered(session, scope, top.path)}
    rolled = rollup_rows(session, scope, year, region_code=region_code, as_of=as_of, _cache=cache)
    statuses = target_status(session, scope, year, region_code=region_code, as_of=as_of, _cache=cache)
    provisional, entries = cache["now"].provisional, cache["now"].entries
    return {
        "region": rolled["region"], "year": year, "districts": rolled["children"],
        "months": [{"month": m.isoformat(), "energy_kgce": str(f.energy_kgce), "co2_kg": str(f.co2_kg),
                    "water_m3": str(f.water_m3), "savings_kgco2": str(f.savings_kgco2), "pv_kwh": str(f.pv_kwh)}
                   for m, f in months.items()],
        "targets": [s.as_dict() for s in statuses],
        "entries": int(entries or 0), "provisional_entries": int(provisional or 0),
        # what every figure above stands on (emc.carbon.core.coverage): "数据覆盖 2 / 12 月，38 / 112 家单位"
        "coverage": rolled["region"]["coverage"],
    }


def city_dashboard(session: Session, scope: Scope, *, region_code: str, year: int, as_of: date | None = None,
                   prepared: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything the city (or district) dashboard shows, in one call: :func:`dashboard_figures` (or the
    ``prepared`` ones, computed earlier through the same scope) with what changes apart from the ledger —
    warnings, which a user acknowledges and the quota job raises, and the published references."""
    data = prepared if prepared is not None else dashboard_figures(session, scope, region_code=region_code,
                                                                   year=year, as_of=as_of)
    top = region(session, region_code)
    w_where = [CarbonWarning.year == year,
               CarbonWarning.institution_id.in_(institution_ids(scope, region_path=top.path))]
    by_tier = dict(session.execute(select(CarbonWarning.tier_bp, func.count()).where(*w_where)
                                   .group_by(CarbonWarning.tier_bp)).all())
    # warnings per region path (a handful of rows), folded into each district below
    by_path = session.execute(select(col(Region.path), func.count()).select_from(CarbonWarning)
                              .join(Institution, col(Institution.id) == col(CarbonWarning.institution_id))
                              .join(Region, col(Region.id) == col(Institution.region_id)).where(*w_where)
                              .group_by(Region.path)).all()
    districts = [{**child, "warnings": sum(n for path, n in by_path if child["code"] in rollup.region_codes(path))}
                 for child in data["districts"]]
    latest = warnings(session, scope, year=year, region_path=top.path, per_page=10).rows
    return {**data, "districts": districts, "as_of": (as_of or clock.today()).isoformat(),
            "warnings": {"by_tier": {percent(bp): n for bp, n in sorted(by_tier.items())},
                         "total": sum(by_tier.values()), "latest": latest},
            "references": references(session, year)}
