"""Settlement pages and API: list, detail with the actions each role may take, the PDF, verification."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from emc import clock
from emc.audit import queries as audit_queries
from emc.config import get_settings
from emc.contracts import queries as contract_queries
from emc.contracts.models import Contract
from emc.contracts.spec import ContractType
from emc.errors import DomainError, Refused
from emc.i18n import messages
from emc.metering import service as metering
from emc.org.models import Role, User
from emc.org.scope import NotFound, Scope
from emc.settlement import (
    corrections,
    exports,
    ledger_export,
    provenance,
    queries,
    records,
    statements,
    statements_allocation,
    verification,
    workflow,
)
from emc.settlement.core import controls
from emc.settlement.models import Settlement, SettlementStatus
from emc.settlement.portfolio import portfolio
from emc.web import htmx
from emc.web.deps import CurrentUser, Forbidden, ScopeDep, SessionDep
from emc.web.i18n import Translator
from emc.web.paging import PageNo
from emc.web.routes.contracts import contract_filter
from emc.web.routes.notify import after as notify_after
from emc.web.security import request_client
from emc.web.templating import is_htmx, language, render

pages = APIRouter(include_in_schema=False)
api = APIRouter(tags=["settlements"])
PAGE = 25
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ACTIONS_BY_ROLE = {
    Role.admin: ("submit", "approve", "reject", "issue", "pay", "reverse_payment", "adjust"),
    Role.manager: ("submit", "approve", "reject", "issue", "adjust"),
    Role.finance: ("pay", "reverse_payment"),
    Role.esco: ("countersign",),
    Role.viewer: (),
}
MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def _actions(user: User, row: Settlement) -> list[str]:
    allowed = ACTIONS_BY_ROLE.get(Role(user.role), ())
    possible = [a for a, (sources, _, _) in workflow.TRANSITIONS.items() if row.status in sources]
    if row.status in (SettlementStatus.issued, SettlementStatus.paid) and row.countersigned_at is None:
        possible.append("countersign")
    if row.flagged and not row.flagged.startswith("adjusted by"):
        possible.append("adjust")
    return [a for a in possible if a in allowed]


@pages.get("/portfolio")
def portfolio_page(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep,
                   flt: Annotated[Any, Depends(contract_filter)]) -> Response:
    data = portfolio(session, scope, flt, clock.today())
    return render(request, "settlements/portfolio.html", {
        "p": data, "flt": flt, "types": [t.value for t in ContractType],
        "escos": [] if scope.is_esco else contract_queries.escos_in_scope(session, scope),
        "regions": [] if scope.is_esco else contract_queries.regions_in_scope(session, scope)}, block="results")


def _month(value: str) -> str:
    if not MONTH.fullmatch(value):
        raise Refused(f"month {value!r}: write YYYY-MM")
    return value


def _back(next_: str) -> str | None:
    """Where a form on the statements page wants to return: only that page (never another site)."""
    return next_ if next_ == "/statements" or next_.startswith("/statements?") else None


@pages.post("/settlements/issue-period")
def settlements_issue_period(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep,
                             month: Annotated[str, Form()], next_: Annotated[str, Form(alias="next")] = "",
                             confirm_amount: Annotated[str, Form()] = "") -> Response:
    """Issue the month's approved statements; the form confirms their total net amount (what the dialog
    showed), so statements approved meanwhile are never issued unseen."""
    if Role(user.role) not in (Role.admin, Role.manager):
        raise Forbidden()
    total = exports.approved_total(session, scope, _month(month))
    controls.check_confirmation(month, "issue", total, confirm_amount)
    issued = exports.issue_period(session, scope, _month(month), actor=user)
    if not issued:
        raise controls.SettlementError(f"{month}: no approved settlement to issue")
    notify_after(session, settlements=issued)
    return htmx.redirect(request, _back(next_) or "/settlements?status=issued")


def public_base(request: Request) -> str:
    """Where a statement's QR code and verification link send the reader: EMC_PUBLIC_URL when it is configured,
    else the server this request reached (scheme, host and port as the reader used them; through a trusted proxy,
    its forwarded scheme) — not a fixed http://127.0.0.1:8000."""
    settings = get_settings()
    if "public_url" in settings.model_fields_set:
        return settings.public_url.rstrip("/")
    return str(request.base_url).rstrip("/")


@pages.get("/settlements/period/{month}.zip")
def settlements_period_zip(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep,
                           month: str) -> Response:
    if Role(user.role) not in (Role.admin, Role.manager, Role.finance):
        raise Forbidden()
    # the copies' digests, committed on return
    data = exports.period_bundle(session, scope, _month(month), public_base(request))
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="statements-{month}.zip"'})


def _statement_context(user: User, rows: list[tuple[Settlement, Contract, Any, str]]) -> list[dict[str, Any]]:
    return [{"s": s, "c": c, "esco": e.name, "institutions": inst, "actions": _actions(user, s)}
            for s, c, e, inst in rows]


STATEMENTS_PAGE = 100


def _statements_view(session: SessionDep, scope: Scope, user: User, month: str, status: str, contract: str,
                     page: int, by: str = "issue", overdue: str = "") -> dict[str, Any]:
    """What the statements page shows for its filters (the page, and the parts a payment updates)."""
    if status and status not in exports.STATEMENT_STATUSES:
        raise Refused(f"status {status!r}: one of approved, issued, paid")
    if by not in exports.GROUPINGS:
        raise Refused(f"by {by!r}: one of {', '.join(exports.GROUPINGS)}")
    contract = contract.strip()
    today = clock.today()
    where = exports.statement_filter(status, contract, bool(overdue), today)
    months = exports.month_totals(session, scope, where, by)
    latest = months[0].month if months else f"{clock.today():%Y-%m}"
    month = _month(month) if month else latest
    current = next((m for m in months if m.month == month), exports.MonthTotals(month))
    query = {k: v for k, v in (("by", by), ("month", month), ("status", status), ("contract", contract),
                               ("overdue", "1" if overdue else "")) if v}
    role = Role(user.role)
    return {
        "month": month, "status": status, "contract": contract, "months": months[:12],
        "more_months": max(0, len(months) - 12), "current": current, "where": where,
        "page": page, "pages": max(1, -(-current.count // STATEMENTS_PAGE)), "by": by, "groupings": exports.GROUPINGS,
        "overdue": bool(overdue), "today": today,
        "next": "/statements?" + urlencode({**query, "page": page} if page > 1 else query),
        "query": urlencode(query), "statuses": [s.value for s in exports.STATEMENT_STATUSES],
        # issuing a month and its zip go by the period's month: offered when the page groups by it
        "can_issue": by == "period" and role in (Role.admin, Role.manager) and current.counts.get("approved", 0) > 0,
        "can_zip": by == "period" and role in (Role.admin, Role.manager, Role.finance)
        and current.counts.get("issued", 0) + current.counts.get("paid", 0) > 0,
        "parties": ["institution", "esco", "lessor"]}


def _after_payment(request: Request, session: SessionDep, user: User, scope: Scope, row: Settlement,
                   back: str) -> Response:
    """The answer to a payment recorded on the statements page: the month's block as the page shows it (the
    row updated, the month's totals with it), the totals per month out of band, and a toast."""
    args = {k: v[-1] for k, v in parse_qs(urlsplit(back).query).items()}
    try:
        page = max(1, int(args.get("page", "1")))
        view = _statements_view(session, scope, user, args.get("month", ""), args.get("status", ""),
                                args.get("contract", ""), page, args.get("by", "issue"), args.get("overdue", ""))
    except ValueError:  # a hand-made (Refused is a ValueError) `next`: go to the statement instead
        return htmx.redirect(request, f"/settlements/{row.number}")
    rows = exports.month_statements(session, scope, view["month"], view["where"],
                                    offset=(page - 1) * STATEMENTS_PAGE, limit=STATEMENTS_PAGE, by=view["by"])
    context = {**view, "rows": _statement_context(user, rows)}
    message = Translator(language(request))("statements.paid_toast", number=row.number)
    parts = [render(request, "statements/period.html", context, block="month"),
             render(request, "statements/period.html", {**context, "oob": True}, block="months"),
             render(request, "partials/toast.html", {"level": "info", "message": message}, block="toast")]
    return HTMLResponse(b"".join(bytes(p.body) for p in parts))


@pages.get("/statements")
def statements_page(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep, month: str = "",
                    status: str = "", contract: str = "", page: PageNo = 1, by: str = "issue",
                    overdue: str = "") -> Response:
    """Finance's page: statements by the month they were issued in (or fall due, or their period starts in),
    with totals per month; overdue unpaid ones marked (and a filter for them); one PDF or the month's zip;
    payments recorded in place. What a role cannot do is not shown."""
    view = _statements_view(session, scope, user, month, status, contract, page, by, overdue)
    rows = exports.month_statements(session, scope, view["month"], view["where"],
                                    offset=(page - 1) * STATEMENTS_PAGE, limit=STATEMENTS_PAGE, by=by)
    return render(request, "statements/period.html", {**view, "rows": _statement_context(user, rows)},
                  block="results")


@pages.get("/ledger/export.{fmt}")
def ledger_export_file(session: SessionDep, user: CurrentUser, scope: ScopeDep, fmt: str, contract: str = "",
                       party: str = "", start: Annotated[str, Query(alias="from")] = "",
                       end: Annotated[str, Query(alias="to")] = "") -> Response:
    """The money ledger's entries in scope (CSV, or XLSX with the balances at ``to`` — or today — beside them)."""
    flt = ledger_export.LedgerFilter.parse(contract, party, start, end)
    rows = ledger_export.entries(session, scope, flt)
    if fmt == "csv":
        return Response(ledger_export.entries_csv(rows), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="ledger.csv"'})
    if fmt == "xlsx":
        totals = ledger_export.balances(session, scope, flt, flt.end or clock.today())
        return Response(ledger_export.ledger_xlsx(rows, totals), media_type=XLSX,
                        headers={"Content-Disposition": 'attachment; filename="ledger.xlsx"'})
    raise NotFound("export format")


@pages.get("/ledger/balances.{fmt}")
def ledger_balances_file(session: SessionDep, user: CurrentUser, scope: ScopeDep, fmt: str, contract: str = "",
                         party: str = "", on: Annotated[str, Query(alias="to")] = "") -> Response:
    """Balances per contract and party at the end of ``to`` (default today); balances are cumulative."""
    flt = ledger_export.LedgerFilter.parse(contract, party, "", on)
    totals = ledger_export.balances(session, scope, flt, flt.end or clock.today())
    if fmt == "csv":
        return Response(ledger_export.balances_csv(totals), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="ledger-balances.csv"'})
    if fmt == "xlsx":
        return Response(ledger_export.ledger_xlsx([], totals), media_type=XLSX,
                        headers={"Content-Disposition": 'attachment; filename="ledger-balances.xlsx"'})
    raise NotFound("export format")


@pages.get("/settlements/{number}")
def settlement_page(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep, number: str) -> Response:
    row = queries.by_number(session, scope, number)
    history = audit_queries.history(session, "settlement", row.number)
    contract = records.contract_of(session, row)
    sources = provenance.sources_of(session, row)
    batch_ids = [int(src.ref) for src in sources
                 if src.kind in ("reading_batch", "weather_batch") and src.ref.isdigit()]
    return render(request, "settlements/detail.html", {
        "s": row, "c": contract, "lines": records.lines_of(session, row),
        "components": messages.component_labels(records.current_version_spec(session, contract), Translator(
            language(request))),
        "history": history, "actions": _actions(user, row), "payments": workflow.payments(session, row),
        "sources": sources, "open_batches": metering.visible_batches(session, scope, batch_ids),
        "code": statements.verification_code(row) if row.inputs_hash else "",
        "statement": statements.statement_of(session, row) if row.inputs_hash else None})


def _act(session: SessionDep, user: User, row: Settlement, action: str, reason: str, paid_on: str,
         reference: str, confirm_amount: Any = None) -> Settlement:
    if action not in _actions(user, row):
        if action not in ACTIONS_BY_ROLE.get(Role(user.role), ()):
            raise Forbidden()
        raise controls.SettlementError(f"{row.number} is {row.status}; '{action}' is not possible now")
    controls.check_confirmation(row.number, action, row.net_to_esco, confirm_amount)
    try:
        if action == "countersign":
            result = workflow.countersign(session, row, actor=user)
        elif action == "adjust":
            result = corrections.adjust(session, row, actor=user)
        else:
            result = workflow.transition(session, row, action, actor=user, reason=reason, reference=reference,
                                         paid_on=date.fromisoformat(paid_on) if paid_on else None)
    except DomainError:
        raise
    except ValueError as exc:  # a date that is none, a value the engine refuses: a refused action, as ever
        raise controls.SettlementError(str(exc)) from exc
    notify_after(session, settlements=[row, result])  # its notifications open and clear with the action
    return result


@pages.post("/settlements/{number}/{action}")
def settlement_action(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep, number: str,
                      action: str, reason: Annotated[str, Form()] = "", paid_on: Annotated[str, Form()] = "",
                      reference: Annotated[str, Form()] = "", confirm_amount: Annotated[str, Form()] = "",
                      next_: Annotated[str, Form(alias="next")] = "") -> Response:
    row = queries.by_number(session, scope, number)
    result = _act(session, user, row, action, reason, paid_on, reference, confirm_amount)
    back = _back(next_)
    if back and action == "pay":  # from the statements page: its month, updated in place, and a toast
        if not is_htmx(request):
            return Response(status_code=303, headers={"Location": back})
        return _after_payment(request, session, user, scope, result, back)
    return htmx.redirect(request, f"/settlements/{result.number}")


@pages.get("/settlements/{number}/statement.pdf")
def settlement_pdf(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep,
                   number: str) -> Response:
    row = queries.by_number(session, scope, number)
    pdf = verification.issued_copy(session, row, public_base(request))  # a draft has none: SettlementError, 409
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{row.number}.pdf"'})


@pages.get("/settlements/{number}/allocation.{fmt}")
def settlement_allocation(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep, number: str,
                          fmt: str) -> Response:
    """The statement's split among its institutions, for finance offices to book (headers in the user's
    language); whoever may see the statement may download it."""
    row = queries.by_number(session, scope, number)
    if fmt not in ("csv", "xlsx"):
        raise NotFound("export format")
    statement = statements.approved_statement(session, row)
    if not statement.allocation:
        raise NotFound("allocation")
    _ = Translator(language(request))
    header = [_(f"allocation.{key}") for key in ("code", "institution", "basis", "unit", "share", "amount")]
    rows = statements_allocation.table(statement)
    rows[-1][1] = _("allocation.total")
    name = f'attachment; filename="{row.number}-allocation.{fmt}"'
    if fmt == "csv":
        return Response(statements_allocation.as_csv(header, rows), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": name})
    return Response(statements_allocation.as_xlsx(_("allocation.title"), header, rows), media_type=XLSX,
                    headers={"Content-Disposition": name})


def _verify(request: Request, number: str, result: bool | None, status_code: int = 200,
            headers: dict[str, str] | None = None) -> Response:
    return render(request, "settlements/verify.html", {"number": number, "result": result,
                                                         "throttled": status_code == 429},
                  status_code=status_code, headers=headers)


def _verify_throttled(request: Request, number: str) -> Response | None:
    wait = request.app.state.verify_throttle.retry_after(f"verify:{request_client(request)}")
    if wait:
        return _verify(request, number, None, status_code=429, headers={"Retry-After": str(wait)})
    return None


def _verified(request: Request, number: str, ok: bool) -> Response:
    if not ok:  # only failures count: someone guessing codes is slowed down, a clerk checking a pile is not
        request.app.state.verify_throttle.failed(f"verify:{request_client(request)}")
    return _verify(request, number, ok)


@pages.get("/verify")
@pages.get("/verify/{number}")
def verify_page(request: Request, session: SessionDep, number: str = "", code: str = "") -> Response:
    """Public: whoever holds a statement checks it by the number and the code printed on it (or the PDF).
    The answer is only "matches" or "does not match"; nothing about the statement is shown."""
    if not code:
        return _verify(request, number, None)
    return _verify_throttled(request, number) or _verified(
        request, number, verification.code_matches(session, number, code))


@pages.post("/verify")
@pages.post("/verify/{number}")
def verify_upload(request: Request, session: SessionDep, number: str = "",
                  number_field: Annotated[str, Form(alias="number")] = "", code: Annotated[str, Form()] = "",
                  file: Annotated[UploadFile | None, File()] = None) -> Response:
    """Compare a presented PDF with the copies this system handed out (by digest; nothing is rendered), or
    the typed code with the approved settlement's. A plain ``def``: reading and hashing the file runs in the
    thread pool, never on the event loop."""
    number = (number_field or number).strip()[:80]
    throttled = _verify_throttled(request, number)
    if throttled:
        return throttled
    if file is not None and file.filename:
        presented = file.file.read(20 * 1024 * 1024)
        return _verified(request, number, verification.pdf_matches(session, number, presented))
    if not code.strip():  # nothing to check: the form again
        return _verify(request, number, None)
    return _verified(request, number, verification.code_matches(session, number, code))


class ActionIn(BaseModel):
    reason: str = ""
    paid_on: date | None = None
    reference: str = ""
    # approve, issue, pay and reverse_payment: the net amount the client confirms (a string, e.g. "1307829.01")
    confirm_amount: str | None = None


@api.get("/settlements")
def api_settlements(session: SessionDep, scope: ScopeDep, status: str = "", contract: str = "",
                    page: PageNo = 1) -> list[dict[str, Any]]:
    rows = queries.newest(session, scope, status, contract, offset=(page - 1) * 100, limit=100)
    return [{"number": s.number, "contract": c.code, "kind": s.kind, "status": s.status,
             "period": [s.period_start, s.period_end], "net_to_esco": str(s.net_to_esco), "flagged": s.flagged}
            for s, c in rows]


@api.get("/settlements/{number}")
def api_settlement(session: SessionDep, scope: ScopeDep, number: str) -> dict[str, Any]:
    return records.as_json(session, queries.by_number(session, scope, number))


@api.post("/settlements/{number}/{action}")
def api_action(session: SessionDep, user: CurrentUser, scope: ScopeDep, number: str, action: str,
               body: ActionIn) -> dict[str, Any]:
    row = queries.by_number(session, scope, number)
    result = _act(session, user, row, action, body.reason, body.paid_on.isoformat() if body.paid_on else "",
                  body.reference, body.confirm_amount)
    return records.as_json(session, result)
