"""The carbon pages: the city (or district) dashboard, an institution's page, the leaderboards, the factors,
and the statistics-report XLSX and ledger CSV exports. Thin: every figure comes from :mod:`emc.carbon.reads`
through the user's scope (docs/design.md §7–8); filters in the query string; a GET with HTMX gets only the
page's main block.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine

from emc import clock
from emc.carbon import alerts
from emc.carbon.core import indicators as ind
from emc.carbon.ledger_years import ledger_years
from emc.carbon.prepared import prepared
from emc.carbon.reads import dashboard, entries, figures, reference
from emc.contracts import queries as contract_queries
from emc.kinds import InstitutionCategory
from emc.org import queries as org_queries
from emc.org.models import Institution, Region, Role, User
from emc.org.scope import NotFound, Scope
from emc.reports.cells import safe_cell
from emc.web import htmx
from emc.web.charts import Series, time_chart
from emc.web.chartscale import percent_text
from emc.web.deps import CurrentUser, Forbidden, ScopeDep, SessionDep, require_roles
from emc.web.i18n import Translator
from emc.web.paging import PageNo
from emc.web.routes.notify import after as notify_after
from emc.web.templating import language, render

pages = APIRouter(include_in_schema=False)

Year = Annotated[int | None, Query(ge=2000, le=2100)]
Region6 = Annotated[str | None, Query(pattern=r"^(\d{6})?$")]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ACKNOWLEDGERS = ("admin", "manager")
FactorsUser = Annotated[User, Depends(require_roles(Role.admin, Role.manager))]
THOUSAND = Decimal(1000)


# -- filters ------------------------------------------------------------------------------------------------
def _year(session: SessionDep, year: int | None, years: list[int]) -> int:
    """The asked year, else the last complete year with data (this year is rarely complete)."""
    if year:
        return year
    this = clock.today().year
    return next((y for y in years if y < this), years[0] if years else this)


def _root(session: SessionDep, scope: Scope) -> Region:
    """The user's scope root: their region, or the top of the tree (admin, ESCO)."""
    if scope.region_path:
        return figures.region(session, [c for c in scope.region_path.split("/") if c][-1])
    top = org_queries.top_region(session)
    if top is None:
        raise NotFound("region")
    return top


def _region(session: SessionDep, scope: Scope, code: str | None) -> Region:
    """The asked region, which must be in the user's subtree (a district manager cannot open the city)."""
    root = _root(session, scope)
    if not code:
        return root
    found = figures.region(session, code)
    if not found.path.startswith(root.path):
        raise NotFound("region")
    return found


def _region_choices(session: SessionDep, root: Region) -> list[Region]:
    """The root and the regions under it down to districts, in tree order (the region filter)."""
    return org_queries.regions_under(session, root)


def _crumbs(session: SessionDep, root: Region, here: Region) -> list[Region]:
    """From the user's root down to ``here``."""
    codes = [c for c in here.path.split("/") if c]
    start = codes.index(root.code) if root.code in codes else len(codes) - 1
    regions = org_queries.regions_by_code(session, codes[start:])
    return [regions[c] for c in codes[start:] if c in regions]


def _d(value: Any) -> Decimal | None:
    return None if value is None or value == "" else Decimal(str(value))


def pct(value: Any, digits: int = 1, signed: bool = True) -> str:
    """A fraction as a percentage (−0.015 → "−1.5%", with ``signed`` a rise gets "+"); "—" for none."""
    d = _d(value)
    return "—" if d is None else percent_text(d, digits, signed=signed)  # rounded, then signed: never "−0.0%"


def trend(value: Any) -> str:
    """A CSS class for a year-on-year change: a cut is good news."""
    d = _d(value)
    return "" if d is None or d == 0 else ("down" if d < 0 else "up")


HELPERS = {"pct": pct, "trend": trend, "dec": _d}


def _t(value: Any) -> Decimal:
    """kg (as text or Decimal) → t."""
    return Decimal(str(value or 0)) / THOUSAND


# -- charts -------------------------------------------------------------------------------------------------
def _year_on_year(months: dict[str, dict[str, Any]], year: int, key: str, labels: tuple[str, str],
                  color: str, title: str, unit: str, lang: str) -> str:
    """This year's months (solid) over last year's drawn on the same months (dashed), in tonnes."""
    def points(y: int, shift: int) -> list[tuple[date, float | None]]:
        out: list[tuple[date, float | None]] = []
        for m in range(1, 13):
            row = months.get(date(y, m, 1).isoformat())
            out.append((date(y + shift, m, 1), float(_t(row[key])) if row else None))
        return out

    lines = [Series(labels[0], color, points(year, 0)), Series(labels[1], "#8a8f98", points(year - 1, 1), dashed=True)]
    return time_chart(lines, unit=unit, title=title, lang=lang)


def _dashboard_context(session: SessionDep, scope: Scope, user: User, lang: str, year: int | None,
                       region: str | None, writer: Engine) -> dict[str, Any]:
    years = ledger_years(session)
    y = _year(session, year, years)
    root = _root(session, scope)
    here = _region(session, scope, region)
    data = dashboard.city_dashboard(session, scope, region_code=here.code, year=y, prepared=prepared(
        session, scope, "dashboard", writer=writer, region=here.code, year=y))
    tr = Translator(lang)
    months = {m["month"]: m for m in data["months"]}
    label = (tr("carbon.this_year", year=y), tr("carbon.last_year", year=y - 1))
    charts = {"energy": _year_on_year(months, y, "energy_kgce", label, "#1f6f5c", tr("carbon.chart_energy"), "tce",
                                      lang),
              "co2": _year_on_year(months, y, "co2_kg", label, "#b5562b", tr("carbon.chart_co2"), "t CO₂e", lang)}
    f = data["region"]["figures"]
    totals = {"energy_tce": _t(f["energy_kgce"]), "co2_scope1_t": _t(f["co2_scope1_kg"]),
              "co2_scope2_t": _t(f["co2_scope2_kg"]), "water_m3": _d(f["water_m3"]),
              "savings_tce": _t(f["savings_kgce"]), "savings_tco2": _t(f["savings_kgco2"]),
              "pv_kwh": _d(f["pv_kwh"]), "institutions": data["region"]["institutions"]}
    institutions = [] if data["districts"] else prepared(session, scope, "institutions", writer=writer,
                                                        region=here.code, year=y)
    return {"d": data, "year": y, "years": years if y in years else sorted([*years, y], reverse=True),
            "region": here, "root": root, "crumbs": _crumbs(session, root, here),
            "regions": _region_choices(session, root), "totals": totals, "charts": charts,
            "institutions": institutions, "query": f"year={y}&region={here.code}"}


# -- pages --------------------------------------------------------------------------------------------------
BOARD_PAGE = 50  # rows of a leaderboard or a district's institution table by default; at most BOARD_PAGE_MAX
BOARD_PAGE_MAX = 200


@pages.get("/carbon")
def carbon_dashboard(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep, year: Year = None,
                     region: Region6 = None, page: PageNo = 1,
                     per_page: Annotated[int, Query(ge=1, le=BOARD_PAGE_MAX)] = BOARD_PAGE) -> Response:
    """The city dashboard, or a district's with a district code; HTMX gets ``{% block dashboard %}``. A district's
    table of institutions is shown ``per_page`` rows at a time (issue 15: it listed every institution)."""
    context = _dashboard_context(session, scope, user, language(request), year, region or None,
                                 request.app.state.engine)
    rows = context["institutions"]
    pages_ = max(1, -(-len(rows) // per_page))
    page = min(page, pages_)
    context.update(institutions=rows[(page - 1) * per_page:page * per_page], page=page, pages=pages_,
                   page_query=context["query"] + (f"&per_page={per_page}" if per_page != BOARD_PAGE else ""))
    return render(request, "carbon/dashboard.html", {**context, **HELPERS}, block="dashboard")


def _institutionledger_years(session: SessionDep, scope: Scope, inst: Institution, path: str,
                       years: list[int]) -> list[dict[str, Any]]:
    """Per year: energy, CO₂, water, the four indicators, the months with complete data, and the change on the
    year before over the months complete in both (like for like; none without a common month)."""
    meters = figures.metered(session, scope, path, institution_id=inst.id)
    today = clock.today()
    reads = {y: figures.read_year(session, scope, y, path, institution_id=inst.id)
             for y in sorted({*years, *(y - 1 for y in years)})}
    covered = {y: figures.coverage_of(r, y, today, meters) for y, r in reads.items()}
    out: list[dict[str, Any]] = []
    for y in sorted(years):
        f = reads[y].figures.get(inst.id)
        if f is None:
            continue
        now, before = figures.like_for_like(reads[y], reads[y - 1], covered[y], covered[y - 1])
        values = ind.values(f.totals())
        changes = {k: ind.change(ind.value(now[inst.id].totals(), k), ind.value(before[inst.id].totals(), k))
                   if inst.id in now else None for k in values}
        out.append({"year": y, "energy_tce": f.energy_kgce / THOUSAND, "co2_t": f.co2_kg / THOUSAND,
                    "water_m3": f.water_m3, "floor_area_m2": f.floor_area_m2, "energy_users": f.energy_users,
                    "savings_tce": f.savings_kgce / THOUSAND, "months": len(covered[y].months(inst.id)),
                    "elapsed": covered[y].elapsed, "complete": covered[y].complete(inst.id),
                    "indicators": {k: (v, changes[k]) for k, v in values.items()}})
    return sorted(out, key=lambda r: -r["year"])


def _warnings_context(session: SessionDep, scope: Scope, user: User, inst: Institution) -> dict[str, Any]:
    return {"warnings": entries.warnings(session, scope, institution_id=inst.id, per_page=50).rows,
            "can_acknowledge": user.role in ACKNOWLEDGERS, "inst": inst}


@pages.get("/carbon/institutions/{code}")
def carbon_institution(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep, code: str,
                       year: Year = None) -> Response:
    """One institution: monthly trend, indicators by year, its contracts and its warnings (404 outside scope)."""
    inst = figures.institution(session, scope, code)
    place = session.get(Region, inst.region_id)
    path = place.path if place else None
    years = ledger_years(session, inst.id)
    y = _year(session, year, years)
    monthly = figures.monthly(session, scope, [y - 2, y - 1, y], region_path=path, institution_id=inst.id)
    tr = Translator(language(request))
    energy: list[tuple[date | datetime, float | None]] = [(m, float(f.energy_kgce / THOUSAND))
                                                          for m, f in monthly.items()]
    co2: list[tuple[date | datetime, float | None]] = [(m, float(f.co2_kg / THOUSAND)) for m, f in monthly.items()]
    water: list[tuple[date | datetime, float | None]] = [(m, float(f.water_m3)) for m, f in monthly.items()]
    charts = {"energy": time_chart([Series(tr("carbon.energy_tce"), "#1f6f5c", energy, unit="tce"),
                                    Series(tr("carbon.co2_t"), "#b5562b", co2, dashed=True, unit="t CO₂e")],
                                   unit="tce · t CO₂e", title=tr("carbon.chart_trend"), lang=tr.lang),
              "water": time_chart([Series(tr("carbon.water_m3"), "#2b6fb5", water, bars=True)], unit="m³",
                                  title=tr("carbon.chart_water"), lang=tr.lang)}
    contracts = contract_queries.of_institution(session, scope, inst.id)
    return render(request, "carbon/institution.html", {
        "inst": inst, "place": place, "year": y, "charts": charts,
        "by_year": _institutionledger_years(session, scope, inst, path or "", [v for v in years if v <= y][:5] or [y]),
        "contracts": contracts, **_warnings_context(session, scope, user, inst), **HELPERS})


@pages.post("/carbon/warnings/{warning_id}/acknowledge")
def carbon_acknowledge(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep,
                       warning_id: int) -> Response:
    """A bureau manager has seen the warning: the institution's warnings block again, and a toast."""
    if user.role not in ACKNOWLEDGERS:
        raise Forbidden()
    warning = alerts.acknowledge(session, scope, warning_id, actor=user)
    notify_after(session, warnings=[warning])  # acknowledged: the managers' notifications clear
    inst = session.get(Institution, warning.institution_id)
    assert inst is not None
    if not request.headers.get("hx-request"):
        return htmx.redirect(request, f"/carbon/institutions/{inst.code}")
    message = Translator(language(request))("carbon.acknowledged_toast")
    context = {**_warnings_context(session, scope, user, inst), **HELPERS}
    parts = [render(request, "carbon/institution.html", context, block="warnings"),
             render(request, "partials/toast.html", {"level": "info", "message": message}, block="toast")]
    return HTMLResponse(b"".join(bytes(p.body) for p in parts))


@pages.get("/carbon/leaderboards")
def carbon_leaderboards(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep,
                        year: Year = None, category: str = "organ", indicator: str = "energy_per_area",
                        region: Region6 = None, page: PageNo = 1,
                        per_page: Annotated[int, Query(ge=1, le=BOARD_PAGE_MAX)] = BOARD_PAGE) -> Response:
    """Institutions of a category ranked by an intensity, lowest first (能效领跑者 / 水效领跑者), a page of
    ``per_page`` rows at a time, at most :data:`BOARD_PAGE_MAX` (issue 15: at 5× Wuxi the whole board was
    261 KB); the ranks and the ranked / unranked counts are over the whole board."""
    categories = [c.value for c in InstitutionCategory]
    if category not in categories:
        category = categories[0]
    if indicator not in ind.INDICATORS:
        indicator = "energy_per_area"
    years = ledger_years(session)
    y = _year(session, year, years)
    here = _region(session, scope, region or None)
    rows = prepared(session, scope, "leaderboard", writer=request.app.state.engine, year=y, category=category,
                    indicator=indicator, region=here.code)
    pages_ = max(1, -(-len(rows) // per_page))
    page = min(page, pages_)
    shown = rows[(page - 1) * per_page:page * per_page]
    ranked = sum(1 for r in rows if r["complete"])
    query = urlencode({"year": y, "category": category, "indicator": indicator, "region": here.code,
                       **({"per_page": per_page} if per_page != BOARD_PAGE else {})})
    return render(request, "carbon/leaderboards.html", {
        "rows": shown, "ranked": ranked, "unranked": len(rows) - ranked, "elapsed": rows[0]["elapsed"] if rows else 0,
        "page": page, "pages": pages_, "query": query, "year": y, "years": years, "category": category,
        "categories": categories,
        "indicator": indicator, "indicators": list(ind.INDICATORS), "unit": ind.INDICATORS[indicator][2],
        "region": here, "regions": _region_choices(session, _root(session, scope)), **HELPERS}, block="board")


@pages.get("/carbon/factors")
def carbon_factors(request: Request, session: SessionDep, user: FactorsUser, scope: ScopeDep,
                   year: Year = None) -> Response:
    """Every factor version with its status and source, and the year's restatements."""
    years = ledger_years(session)
    y = _year(session, year, years)
    return render(request, "carbon/factors.html", {
        "factors": reference.factors(session), "restatements": entries.restatements(session, scope, year=y),
        "year": y, "years": years})


# -- exports ------------------------------------------------------------------------------------------------
STATISTICS_COLUMNS = [  # (key, 中文 header, number?)
    ("year", "年度", True), ("region", "行政区划代码", False), ("region_name", "地区", False),
    ("institution", "单位代码", False), ("name", "单位名称", False), ("category", "单位类别", False),
    ("months_covered", "数据完整月数", True), ("months_elapsed", "应报月数", True),
    ("floor_area_m2", "建筑面积（m²）", True), ("energy_users", "用能人数（人）", True),
    ("electricity_kwh", "电力（kWh）", True), ("gas_m3", "天然气（m³）", True), ("heat_gj", "热力（GJ）", True),
    ("pv_kwh", "光伏发电（kWh）", True), ("water_m3", "用水量（m³）", True),
    ("energy_tce", "综合能耗（tce）", True), ("co2_scope1_t", "直接排放 范围一（tCO₂）", True),
    ("co2_scope2_t", "间接排放 范围二（tCO₂）", True), ("savings_tce", "合同节能量（tce）", True),
    ("savings_tco2", "合同减排量（tCO₂）", True),
    ("energy_per_capita", "人均综合能耗（kgce/人）", True), ("energy_per_area", "单位建筑面积能耗（kgce/m²）", True),
    ("water_per_capita", "人均用水量（m³/人）", True), ("carbon_per_area", "单位建筑面积碳排放（kgCO₂/m²）", True),
]
CATEGORY_ZH = {"organ": "党政机关", "school": "学校", "hospital": "医院", "venue": "场馆", "other": "其他"}


def _number(value: Any) -> Any:
    """Numbers as numbers: an integral figure as int, else float (what a spreadsheet can sum)."""
    if value is None or value == "":
        return None
    d = Decimal(str(value))
    return int(d) if d == d.to_integral_value() else float(d)


@pages.get("/carbon/statistics.xlsx")
def carbon_statistics_xlsx(session: SessionDep, user: CurrentUser, scope: ScopeDep, year: Year = None,
                           region: Region6 = None) -> Response:
    """公共机构能源资源消费统计: one row per institution for the year (the provincial report's shape)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    y = _year(session, year, ledger_years(session))
    here = _region(session, scope, region or None)
    rows = figures.statistics_rows(session, scope, y, region_code=here.code)
    wb = Workbook()
    ws = wb.active
    ws.title = f"{y}年能源资源消费统计"
    ws.append([h for _, h, _ in STATISTICS_COLUMNS])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        out = []
        for key, _, numeric in STATISTICS_COLUMNS:
            value = row.get(key)
            if key == "category":
                value = CATEGORY_ZH.get(value, value)
            out.append(_number(value) if numeric else safe_cell(value))
        ws.append(out)
    ws.freeze_panes = "A2"
    for i, (_, header, _) in enumerate(STATISTICS_COLUMNS, start=1):
        ws.column_dimensions[ws.cell(1, i).column_letter].width = max(10, len(header) * 2)
    buffer = io.BytesIO()
    wb.save(buffer)
    name = f"carbon-statistics-{here.code}-{y}.xlsx"
    return Response(buffer.getvalue(), media_type=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


LEDGER_COLUMNS = [  # (key, 中文 header)
    ("month", "月份"), ("institution", "单位代码"), ("institution_name", "单位名称"), ("utility", "介质"),
    ("kind", "类别"), ("contract", "合同编号"), ("carrier", "能源品种"), ("quantity", "实物量"), ("unit", "单位"),
    ("kgce", "折标煤（kgce）"), ("kgco2", "二氧化碳（kgCO₂）"), ("scope", "排放范围"), ("in_energy", "计入综合能耗"),
    ("owner", "减排量归属"), ("esco_kgco2", "节能服务公司减排量（kgCO₂）"), ("coal_factor", "折标系数版本"),
    ("co2_factor", "排放因子版本"), ("provisional", "暂定因子"), ("series", "因子系列"), ("source", "数据来源"),
    ("key", "条目键"), ("revision", "修订"),
]


@pages.get("/carbon/ledger.csv")
def carbon_ledger_csv(session: SessionDep, user: CurrentUser, scope: ScopeDep, year: Year = None,
                      region: Region6 = None) -> Response:
    """The year's current ledger entries in the region (UTF-8 with BOM for Excel)."""
    y = _year(session, year, ledger_years(session))
    here = _region(session, scope, region or None)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([h for _, h in LEDGER_COLUMNS])
    page = 1
    while True:
        got = entries.ledger(session, scope, year=y, region_path=here.path, page=page, per_page=1000)
        for row in got.rows:
            writer.writerow([safe_cell(row.get(k)) for k, _ in LEDGER_COLUMNS])
        if page >= got.pages:
            break
        page += 1
    name = f"carbon-ledger-{here.code}-{y}.csv"
    return Response(("\ufeff" + out.getvalue()).encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
