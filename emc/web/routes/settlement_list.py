"""The settlements list (结算审批): filters, totals of the filtered set, XLSX/CSV of it, bulk submit / approve /
issue with a confirmation step, and the confirmation page of a single settlement's irreversible action."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from emc import clock
from emc.contracts import queries as contract_queries
from emc.contracts.models import Contract
from emc.org.models import Role, User
from emc.org.scope import NotFound, Scope
from emc.settlement import bulk, drafting, exports, listing, queries, workflow
from emc.settlement.core import controls
from emc.settlement.models import SettlementStatus
from emc.settlement.portfolio import portfolio
from emc.web.deps import CurrentUser, Forbidden, ScopeDep, SessionDep
from emc.web.i18n import Translator
from emc.web.paging import PageNo
from emc.web.routes.contracts import contract_filter
from emc.web.routes.notify import after as notify_after
from emc.web.routes.settlement import ACTIONS_BY_ROLE, XLSX, _actions
from emc.web.templating import language, render

pages = APIRouter(include_in_schema=False)
PAGE = 25


def list_filter(status: str = "", start: Annotated[str, Query(alias="from")] = "",
                end: Annotated[str, Query(alias="to")] = "", esco: str = "", region: str = "",
                contract: str = "") -> listing.SettlementFilter:
    return listing.SettlementFilter(status.strip(), start.strip(), end.strip(), esco.strip(), region.strip(),
                                    contract.strip())


def form_filter(status: Annotated[str, Form()] = "", start: Annotated[str, Form(alias="from")] = "",
                end: Annotated[str, Form(alias="to")] = "", esco: Annotated[str, Form()] = "",
                region: Annotated[str, Form()] = "", contract: Annotated[str, Form()] = "") -> listing.SettlementFilter:
    return list_filter(status, start, end, esco, region, contract)


ListFilter = Annotated[listing.SettlementFilter, Depends(list_filter)]
FormFilter = Annotated[listing.SettlementFilter, Depends(form_filter)]


def _choices(session: SessionDep, scope: Scope) -> dict[str, Any]:
    return {"escos": [] if scope.is_esco else contract_queries.escos_in_scope(session, scope),
            "regions": [] if scope.is_esco else contract_queries.regions_in_scope(session, scope)}


def bulk_actions(user: User) -> list[str]:
    return [a for a in bulk.ACTIONS if a in ACTIONS_BY_ROLE.get(Role(user.role), ())]


@pages.get("/settlements")
def settlements_page(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep, flt: ListFilter,
                     page: PageNo = 1) -> Response:
    totals = listing.totals(session, scope, flt)
    rows = listing.rows(session, scope, flt, offset=(page - 1) * PAGE, limit=PAGE)
    return render(request, "settlements/list.html", {
        "reminders": workflow.reminders(session, scope, clock.today()), "waiting": drafting.waiting(session, scope),
        "one_day": timedelta(days=1), "rows": rows, "totals": totals, "page": page, "flt": flt,
        "pages": max(1, -(-totals.count // PAGE)), "query": flt.query(), "bulk_actions": bulk_actions(user),
        "statuses": [s.value for s in SettlementStatus], **_choices(session, scope)}, block="results")


def list_table(t: Translator, found: list[listing.Row]) -> tuple[list[str], list[list[object]]]:
    """The list as the page shows it, one row per settlement (what the XLSX and CSV hold)."""
    header = [t("settle.number"), t("contracts.code"), t("bulk.contract_name"), t("contracts.esco"),
              t("bulk.region"), t("bulk.period_from"), t("bulk.period_to"), t("settle.kind"),
              t("contracts.status"), t("settle.net")]
    lines: list[list[object]] = [[r.s.number, r.c.code, r.c.name, r.esco.name, "、".join(g.name for g in r.regions),
                                  r.s.period_start, r.s.last_day, t("settle.kind." + r.s.kind),
                                  t("settle.status." + r.s.status), r.s.net_to_esco] for r in found]
    return header, lines


@pages.get("/settlements/export.{fmt}")
def settlements_export(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep, fmt: str,
                       flt: ListFilter) -> Response:
    if fmt == "csv":  # the statement export (with verification codes), as before
        where: list[Any] = [c for c in flt.clauses()]
        return Response(exports.export_csv(session, scope, where), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="settlements.csv"'})
    if fmt != "xlsx":
        raise NotFound("export format")
    from emc.reports.table_xlsx import table_xlsx

    t = Translator(language(request))
    header, lines = list_table(t, listing.rows(session, scope, flt))
    totals = listing.totals(session, scope, flt)
    footer = [[t("bulk.total"), "", "", "", "", "", "", "", t("bulk.count_n", n=totals.count), totals.amount]]
    return Response(table_xlsx(t("bulk.title"), header, lines, footer), media_type=XLSX,
                    headers={"Content-Disposition": 'attachment; filename="settlements.xlsx"'})


def _may_bulk(user: User, action: str) -> None:
    if action not in bulk.ACTIONS:
        raise NotFound("bulk action")
    if action not in bulk_actions(user):
        raise Forbidden()


@pages.post("/settlements/bulk/{action}/review")
def bulk_review(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep, action: str,
                flt: FormFilter, number: Annotated[list[str] | None, Form()] = None,
                every: Annotated[str, Form(alias="all")] = "") -> Response:
    """The confirmation step: how many settlements, for what total, and which are skipped and why."""
    _may_bulk(user, action)
    numbers = [] if every else (number or [])
    if not every and not numbers:
        raise controls.SettlementError("select settlements first (tick them, or choose all matching the filter)")
    todo = bulk.plan(session, scope, user, action, flt, numbers)
    return render(request, "settlements/bulk_confirm.html", {
        "plan": todo, "action": action, "numbers": numbers, "every": bool(every), "query": flt.query()})


@pages.post("/settlements/bulk/{action}")
def bulk_run(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep, action: str,
             flt: FormFilter, number: Annotated[list[str] | None, Form()] = None,
             every: Annotated[str, Form(alias="all")] = "", confirm_count: Annotated[str, Form()] = "",
             confirm_amount: Annotated[str, Form()] = "") -> Response:
    _may_bulk(user, action)
    numbers = [] if every else (number or [])
    if not every and not numbers:
        raise controls.SettlementError("select settlements first (tick them, or choose all matching the filter)")
    todo = bulk.plan(session, scope, user, action, flt, numbers)
    outcome = bulk.execute(session, todo, user, confirm_count, confirm_amount)
    notify_after(session, settlements=[*todo.ready, *outcome.done])  # their notifications open and clear
    return render(request, "settlements/bulk_done.html", {"out": outcome, "action": action, "query": flt.query()})


CONFIRMED = ("approve", "issue", "pay", "reverse_payment", "reject")


@pages.get("/settlements/{number}/confirm/{action}")
def confirm_page(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep, number: str,
                 action: str) -> Response:
    """What an irreversible action on one settlement will do, with its amount; the form posts it."""
    row = queries.by_number(session, scope, number)
    if action not in CONFIRMED or action not in _actions(user, row):
        if action in ACTIONS_BY_ROLE.get(Role(user.role), ()):
            raise controls.SettlementError(f"{row.number} is {row.status}; '{action}' is not possible now")
        raise Forbidden()
    contract = session.get(Contract, row.contract_id)
    return render(request, "settlements/confirm.html", {"s": row, "c": contract, "action": action,
                                                        "irreversible": action in controls.IRREVERSIBLE})



@pages.get("/portfolio/export.xlsx")
def portfolio_export(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep,
                     flt: Annotated[Any, Depends(contract_filter)]) -> Response:
    """Every contract the portfolio's filter matches (all pages), the columns the page shows, money exact."""
    from emc.reports.table_xlsx import table_xlsx

    t = Translator(language(request))
    header = [t("contracts.code"), t("bulk.contract_name"), t("contracts.type"), t("contracts.esco"),
              t("contracts.institutions"), t("contracts.term"), t("contracts.value"), t("portfolio.paid"),
              t("portfolio.due"), t("portfolio.guarantee"), t("portfolio.settled_to")]
    lines: list[list[object]] = []
    page, data = 1, None
    while data is None or page <= data.pages:
        data = portfolio(session, scope, replace(flt, page=page, page_size=100), clock.today())
        for r in data.rows:
            c = r.contract.contract
            lines.append([c.code, c.name, t("type." + c.type), r.contract.esco.name, r.contract.first_institution,
                          f"{c.start_date} – {c.end_date}", c.contract_value, r.paid, r.due,
                          t("portfolio.g." + r.guarantee), str(r.last_period or "")])
        page += 1
    footer = [[t("bulk.total"), "", "", "", "", "", data.value, data.paid, data.due, "", ""]]
    return Response(table_xlsx(t("portfolio.title"), header, lines, footer), media_type=XLSX,
                    headers={"Content-Disposition": 'attachment; filename="portfolio.xlsx"'})
