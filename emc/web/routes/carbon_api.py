"""The carbon JSON API (``/api/carbon/…``): ledger, restatements, roll-ups, indicators, targets, warnings,
leaderboards, the statistics report's rows and the city dashboard. Thin: every figure comes from
:mod:`emc.carbon.reads`, every read through the user's scope; filters in the query string.

Mounted by :func:`emc.web.app.create_app` under ``/api``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from emc import clock
from emc.carbon.core import indicators as ind
from emc.carbon.prepared import prepared
from emc.carbon.reads import dashboard, entries, figures, reference, standing
from emc.kinds import InstitutionCategory
from emc.org.scope import Scope
from emc.web.deps import ScopeDep, SessionDep
from emc.web.paging import PageNo

router = APIRouter(prefix="/carbon", tags=["carbon"])

Year = Annotated[int | None, Query(ge=2000, le=2100, description="calendar year; default: this year")]
Region = Annotated[str | None, Query(pattern=r"^\d{6}$", description="GB/T 2260 code; default: the user's region")]


def _year(year: int | None) -> int:
    return year or clock.today().year


def _region(scope: Scope, code: str | None) -> str:
    if code:
        return code
    if scope.region_path:
        return [c for c in scope.region_path.split("/") if c][-1]
    raise HTTPException(status_code=422, detail="region: give a GB/T 2260 region code (?region=320200)")


def _path(session: SessionDep, code: str | None) -> str | None:
    return figures.region(session, code).path if code else None


def _institution_id(session: SessionDep, scope: Scope, code: str | None) -> int | None:
    return figures.institution(session, scope, code).id if code else None


@router.get("/factors")
def api_factors(session: SessionDep, scope: ScopeDep) -> list[dict[str, Any]]:
    """Every factor version (standard coal and CO₂) with value, unit, status and source."""
    return reference.factors(session)


@router.get("/ledger")
def api_ledger(session: SessionDep, scope: ScopeDep, year: Year = None, region: Region = None,
               institution: str | None = None, utility: str = "", kind: str = "",
               month: Annotated[date | None, Query(description="any day of the month")] = None,
               provisional: bool | None = None, page: PageNo = 1,
               per_page: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    """Current ledger entries (institution × month × utility × kind), each naming its factors and source."""
    return entries.ledger(session, scope, year=_year(year), region_path=_path(session, region),
                          institution_id=_institution_id(session, scope, institution), utility=utility, kind=kind,
                          month=month, provisional=provisional, page=page, per_page=per_page).as_dict()


@router.get("/ledger/history")
def api_ledger_history(session: SessionDep, scope: ScopeDep, key: str) -> list[dict[str, Any]]:
    """Every revision of one entry: what restatements and corrections changed."""
    return entries.history(session, scope, key)


@router.get("/restatements")
def api_restatements(session: SessionDep, scope: ScopeDep, year: Year = None, region: Region = None
                     ) -> list[dict[str, Any]]:
    """Entries restated on other factors (a final factor replacing a provisional one), old, new and difference."""
    return entries.restatements(session, scope, year=_year(year), region_path=_path(session, region))


@router.get("/rollup")
def api_rollup(session: SessionDep, scope: ScopeDep, year: Year = None, region: Region = None) -> dict[str, Any]:
    """A region and each region directly below it: figures and indicators."""
    return figures.rollup_rows(session, scope, _year(year), region_code=_region(scope, region))


@router.get("/indicators")
def api_indicators(session: SessionDep, scope: ScopeDep, year: Year = None, region: Region = None,
                   institution: str | None = None) -> dict[str, Any]:
    """The four indicators for a region (default: the user's) or one institution, with the year-on-year change."""
    y = _year(year)
    inst = _institution_id(session, scope, institution)
    path = None if inst is not None else _path(session, region or (_region(scope, None) if scope.region_path
                                                                    else None))
    rows = figures.indicator_table(session, scope, y, region_path=path, institution_id=inst)
    return {"year": y, "region": region, "institution": institution,
            "indicators": [{"name": r.name, "label_zh": r.label_zh, "unit": r.unit, "value": _s(r.value),
                            "previous": _s(r.previous), "change": _s(r.change)} for r in rows]}


def _s(v: Any) -> str | None:
    return None if v is None else str(v)


@router.get("/targets")
def api_targets(session: SessionDep, scope: ScopeDep, year: Year = None, region: Region = None,
                as_of: date | None = None) -> list[dict[str, Any]]:
    """Status (met / on_track / at_risk / missed / no_data) of every target applying to the region."""
    return [s.as_dict() for s in standing.target_status(session, scope, _year(year), region_code=_region(scope, region),
                                                       as_of=as_of)]


@router.get("/warnings")
def api_warnings(session: SessionDep, scope: ScopeDep, year: int | None = None, region: Region = None,
                 institution: str | None = None, page: PageNo = 1) -> dict[str, Any]:
    """Over-quota warnings (超定额预警), newest first."""
    return entries.warnings(session, scope, year=year, region_path=_path(session, region),
                            institution_id=_institution_id(session, scope, institution), page=page).as_dict()


@router.get("/leaderboards")
def api_leaderboard(request: Request, session: SessionDep, scope: ScopeDep, category: str, year: Year = None,
                    indicator: str = "energy_per_area", region: Region = None,
                    limit: Annotated[int | None, Query(ge=1, le=1000)] = None) -> list[dict[str, Any]]:
    """Institutions of one category ranked by an intensity, lowest first (能效领跑者 / 水效领跑者)."""
    if indicator not in ind.INDICATORS:
        raise HTTPException(status_code=422, detail=f"indicator {indicator!r}: one of {sorted(ind.INDICATORS)}")
    categories = [c.value for c in InstitutionCategory]
    if category not in categories:
        raise HTTPException(status_code=422, detail=f"category {category!r}: one of {categories}")
    rows = prepared(session, scope, "leaderboard", writer=request.app.state.engine, year=_year(year),
                    category=category, indicator=indicator, region=region)
    return rows[:limit] if limit else rows


@router.get("/statistics")
def api_statistics(session: SessionDep, scope: ScopeDep, year: Year = None, region: Region = None
                   ) -> list[dict[str, Any]]:
    """One row per institution in the shape of the provincial statistics report."""
    return figures.statistics_rows(session, scope, _year(year), region_code=region)


@router.get("/dashboard")
def api_dashboard(request: Request, session: SessionDep, scope: ScopeDep, year: Year = None, region: Region = None,
                  as_of: date | None = None) -> dict[str, Any]:
    """Everything the city (or district) dashboard shows, in one call (as of today: prepared figures; as of
    another day: computed for it)."""
    code, y = _region(scope, region), _year(year)
    figures_ = None if as_of else prepared(session, scope, "dashboard", writer=request.app.state.engine,
                                           region=code, year=y)
    return dashboard.city_dashboard(session, scope, region_code=code, year=y, as_of=as_of, prepared=figures_)
