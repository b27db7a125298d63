"""The M&V page of a contract: baseline model and gates, charts, savings, adjustments, decisions by role."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from emc.baselines import queries, results, service
from emc.baselines.models import Baseline, NonRoutineAdjustment
from emc.baselines.series import SeriesError
from emc.contracts.models import Contract
from emc.errors import Conflict, Refused
from emc.memo import Memo
from emc.org.models import Role, User
from emc.reporting import annual_report, emission
from emc.reports.mv_report import render_mv_report
from emc.units import UTILITY_UNITS
from emc.web import htmx
from emc.web.charts import Series, time_chart
from emc.web.chartscale import percent_text
from emc.web.deps import CurrentUser, ScopeDep, SessionDep, require_roles
from emc.web.i18n import Translator
from emc.web.templating import language, render

pages = APIRouter(include_in_schema=False)
api = APIRouter(tags=["baselines"])

DECIDERS = (Role.admin, Role.manager)
PROPOSERS = (Role.admin, Role.manager, Role.esco)
Decider = Annotated[User, Depends(require_roles(*DECIDERS))]
Proposer = Annotated[User, Depends(require_roles(*PROPOSERS))]


def _contract(session: SessionDep, scope: ScopeDep, code: str) -> Contract:
    return scope.find(session, Contract, Contract.code == code)


UNITS = UTILITY_UNITS  # the M&V series' units on the page


def _settled(rows: list[dict[str, Any]], key: str) -> list[tuple[date, float | None]]:
    """Monthly points; a period that is not settled (too little data) is a hole, not a zero."""
    return [(pd.Timestamp(r["period_start"]).date(), r[key] if r.get("settled") else None) for r in rows]


def _interval(rows: list[dict[str, Any]], key: str) -> list[tuple[date, float, float]]:
    """``key`` ± the period's 90 % uncertainty (the prediction interval M&V computed), settled periods only."""
    out = []
    for r in rows:
        u = r.get("uncertainty_90")
        if r.get("settled") and u is not None and u == u:
            out.append((pd.Timestamp(r["period_start"]).date(), r[key] - u, r[key] + u))
    return out


def _opening_utility(session: SessionDep, contract: Contract, utilities: list[str],
                     asked: str) -> tuple[str, list[Baseline]]:
    """The utility asked for, else the first with a baseline (the flagship's electricity may have none while its
    water has one), else the first; with its baseline versions. At most one query per utility of the contract."""
    if asked in utilities:
        return asked, service.versions(session, contract, asked)
    for u in utilities:
        versions = service.versions(session, contract, u)
        if versions:
            return u, versions
    return (utilities[0], []) if utilities else ("", [])


def _baseline_chart(contract: Contract, utility: str, result: results.PageResult, tr: Translator) -> str:
    return time_chart([
        Series(tr("chart.actual"), "#1f6f5c", result.actual),
        Series(tr("chart.baseline_model"), "#d9822b", result.predicted, dashed=True)],
        unit=UNITS.get(utility, ""), lang=tr.lang,
        title=tr("chart.title_baseline", code=contract.code, utility=tr("utility." + utility)))


def _reporting_charts(contract: Contract, utility: str, rows: list[dict[str, Any]], tr: Translator) -> dict[str, str]:
    """Adjusted baseline (with its 90 % prediction interval) and actual, scaled to their data so that a few per
    cent of savings show; and the savings as bars from zero, each with its 90 % interval."""
    unit = UNITS.get(utility, "")
    title = tr("chart.title_reporting", code=contract.code, utility=tr("utility." + utility))
    lines = time_chart([
        Series(tr("chart.adjusted_baseline"), "#d9822b", _settled(rows, "adjusted_baseline"),
               band=_interval(rows, "adjusted_baseline"), band_label=tr("chart.band_90")),
        Series(tr("chart.actual"), "#1f6f5c", _settled(rows, "actual"))], unit=unit, lang=tr.lang, title=title)
    bars = time_chart([Series(tr("chart.savings"), "#6b8fd6", _settled(rows, "savings"), bars=True,
                              band=_interval(rows, "savings"), band_label=tr("chart.savings_90"))],
                      unit=unit, lang=tr.lang, title=f"{title} · {tr('chart.savings')}")
    return {"reporting": lines, "savings": bars}


def _charts(contract: Contract, utility: str, result: results.PageResult, tr: Translator) -> dict[str, str]:
    charts: dict[str, str] = {}
    if result.actual or result.predicted:
        charts["baseline"] = _baseline_chart(contract, utility, result, tr)
    if result.savings_rows or result.total:
        charts.update(_reporting_charts(contract, utility, result.savings_rows, tr))
    return charts


CHARTS: Memo[dict[str, str]] = Memo(64)  # by stored result and language


def _page_context(request: Request, session: SessionDep, user: User, contract: Contract, utility: str,
                  tr: Translator) -> dict[str, Any]:
    utilities = service.utilities(session, contract)
    utility, versions = _opening_utility(session, contract, utilities, utility)
    adjustments = service.adjustments(session, contract, utility) if utility else []
    current = next((b for b in versions if b.status == "approved"), versions[0] if versions else None)
    charts: dict[str, str] = {}
    savings_rows: list[dict[str, Any]] = []
    total: dict[str, Any] = {}
    problems: list[str] = []
    # the model's predictions and the savings: stored per state of the data, computed on the first view only
    result = results.page_result(session, contract, utility, versions, adjustments,
                                 writer=request.app.state.engine)
    if result is not None:
        problems = result.problems
        if result.savings_rows or result.total:
            savings_rows, total = result.savings_rows, result.total
        # a stored result's charts are drawn once per language (thousands of points with their tooltips)
        charts = _charts(contract, utility, result, tr) if result.stored is None else CHARTS.get(
            (result.stored, result.computed_at, tr.lang, contract.code), lambda: _charts(contract, utility, result, tr))
    return {"c": contract, "utility": utility, "unit": UNITS.get(utility, ""), "utilities": utilities,
            "versions": versions, "current": current,
            "charts": charts, "savings_rows": savings_rows, "total": total, "problems": problems,
            "report_years": annual_report.report_years(session, contract),
            "adjustments": adjustments,
            "can_decide": user.role in DECIDERS, "can_propose": user.role in PROPOSERS,
            "computed_at": result.computed_at if result is not None else None}


@pages.get("/contracts/{code}/mv")
def mv_page(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep, code: str,
            utility: str = "") -> Response:
    contract = _contract(session, scope, code)
    context = _page_context(request, session, user, contract, utility, Translator(language(request)))
    return render(request, "contracts/mv.html", {**context, "pct": percent_text})


@pages.get("/contracts/{code}/mv/report/{year}.pdf")
def mv_annual_report(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep, code: str,
                     year: int) -> Response:
    """The annual M&V report of contract year ``year`` (1-based) as PDF, from stored data."""
    contract = _contract(session, scope, code)
    # no report (404), not ready or no CJK font (409): the error page says why in so many words
    factor = emission.city_factor(session, contract, year) or emission.GRID_2022
    report = annual_report.build_annual_report(session, contract, year, factor=factor)
    pdf = render_mv_report(report)
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{report.number}.pdf"'})


def _back(request: Request, code: str, utility: str) -> Response:
    return htmx.redirect(request, f"/contracts/{code}/mv?utility={utility}")


@pages.post("/contracts/{code}/mv/fit")
def mv_fit(request: Request, session: SessionDep, user: Proposer, scope: ScopeDep, code: str,
           utility: Annotated[str, Form()], granularity: Annotated[str, Form()] = "") -> Response:
    contract = _contract(session, scope, code)
    service.fit(session, contract, utility, actor=user, granularity=granularity or None)
    return _back(request, code, utility)


@pages.post("/contracts/{code}/mv/baselines/{baseline_id}")
def mv_decide(request: Request, session: SessionDep, user: Decider, scope: ScopeDep, code: str,
              baseline_id: int, decision: Annotated[str, Form()], reason: Annotated[str, Form()] = "") -> Response:
    contract = _contract(session, scope, code)
    baseline = scope.find(session, Baseline, Baseline.id == baseline_id, Baseline.contract_id == contract.id)
    if decision == "approve":
        service.approve(session, baseline, actor=user, reason=reason)
    else:
        service.reject(session, baseline, actor=user, reason=reason)
    return _back(request, code, baseline.utility)


@pages.post("/contracts/{code}/mv/adjustments")
def mv_propose_adjustment(request: Request, session: SessionDep, user: Proposer, scope: ScopeDep, code: str,
                          utility: Annotated[str, Form()], kind: Annotated[str, Form()],
                          start: Annotated[date, Form()], reason: Annotated[str, Form()],
                          end: Annotated[str, Form()] = "", amount: Annotated[str, Form()] = "",
                          multiplier: Annotated[str, Form()] = "") -> Response:
    contract = _contract(session, scope, code)
    try:
        service.propose_adjustment(
            session, contract, utility, kind=kind, start=start, reason=reason, actor=user,
            end=date.fromisoformat(end) if end.strip() else None,
            amount=float(amount) if amount.strip() else None,
            multiplier=float(multiplier) if multiplier.strip() else None)
    except ValueError as exc:  # a date or number that is none, or the service's refusal: said of the form
        raise Refused(f"adjustment: {exc}") from exc
    return _back(request, code, utility)


@pages.post("/contracts/{code}/mv/adjustments/{adjustment_id}")
def mv_decide_adjustment(request: Request, session: SessionDep, user: Decider, scope: ScopeDep, code: str,
                         adjustment_id: int, decision: Annotated[str, Form()],
                         note: Annotated[str, Form()] = "") -> Response:
    contract = _contract(session, scope, code)
    row = scope.find(session, NonRoutineAdjustment, NonRoutineAdjustment.id == adjustment_id,
                     NonRoutineAdjustment.contract_id == contract.id)
    service.decide_adjustment(session, row, approve_it=decision == "approve", actor=user, note=note)
    return _back(request, code, row.utility)


@api.get("/contracts/{code}/baselines")
def api_baselines(session: SessionDep, scope: ScopeDep, code: str) -> list[dict[str, Any]]:
    contract = _contract(session, scope, code)
    rows = queries.all_versions(session, contract)
    return [{"utility": b.utility, "version": b.version, "status": b.status, "granularity": b.granularity,
             "period": [b.period_start, b.period_end], "meters": b.meters, "model": b.model,
             "passes_gates": b.passes_gates, "disqualified": b.disqualified, "reason": b.reason,
             "decided_by": b.decided_by} for b in rows]


@api.get("/contracts/{code}/savings")
def api_savings(session: SessionDep, scope: ScopeDep, code: str, utility: str, start: date,
                end: date) -> dict[str, Any]:
    contract = _contract(session, scope, code)
    try:
        report = service.compute_savings(session, contract, utility, start, end)
    except (service.BaselineError, SeriesError) as exc:  # no approved baseline, no data yet: the API says 409
        raise Conflict(str(exc)) from exc
    return {"baseline_version": report.baseline.version, "granularity": report.granularity, "notes": report.notes,
            **report.result.to_dict()}
