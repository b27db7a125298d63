"""Settlement pages and API: list, detail with the actions each role may take, the PDF, verification."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import func, select

from emc.audit.models import AuditEvent
from emc.contracts.models import Contract
from emc.contracts.routes import contract_filter
from emc.org.models import Role, User
from emc.org.scope import NotFound, Scope
from emc.settlement import service, statements
from emc.settlement.models import Settlement, SettlementStatus
from emc.web.deps import CurrentUser, ScopeDep, SessionDep
from emc.web import htmx
from emc.web.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(tags=["settlements"])
PAGE = 25
ACTIONS_BY_ROLE = {
    Role.admin: ("submit", "approve", "reject", "issue", "pay", "adjust"),
    Role.manager: ("submit", "approve", "reject", "issue", "adjust"),
    Role.finance: ("pay",),
    Role.esco: ("countersign",),
    Role.viewer: (),
}


def _query(scope: Scope, status: str, contract: str):  # type: ignore[no-untyped-def]
    query = select(Settlement, Contract).join(Contract, Contract.id == Settlement.contract_id).where(scope.contracts())
    if status:
        query = query.where(Settlement.status == status)
    if contract:
        query = query.where(Contract.code == contract)
    return query


def _get(session: SessionDep, scope: Scope, number: str) -> Settlement:
    row = session.execute(_query(scope, "", "").where(Settlement.number == number)).first()
    if row is None:
        raise NotFound("settlement")
    return row[0]


def _actions(user: User, row: Settlement) -> list[str]:
    allowed = ACTIONS_BY_ROLE.get(Role(user.role), ())
    possible = [a for a, (sources, _, _) in service.TRANSITIONS.items() if row.status in sources]
    if row.status in (SettlementStatus.issued, SettlementStatus.paid) and row.countersigned_at is None:
        possible.append("countersign")
    if row.flagged and not row.flagged.startswith("adjusted by"):
        possible.append("adjust")
    return [a for a in possible if a in allowed]


@pages.get("/portfolio")
def portfolio_page(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep,
                   flt: Annotated[Any, Depends(contract_filter)]) -> Response:
    from emc.contracts import queries
    from emc.contracts.spec import ContractType
    from emc.settlement.portfolio import portfolio

    data = portfolio(session, scope, flt, date.today())
    return render(request, "settlements/portfolio.html", {
        "p": data, "flt": flt, "types": [t.value for t in ContractType],
        "escos": [] if scope.is_esco else queries.escos_in_scope(session, scope),
        "regions": [] if scope.is_esco else queries.regions_in_scope(session, scope)}, block="results")


@pages.get("/settlements")
def settlements_page(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep, status: str = "",
                     contract: str = "", page: Annotated[int, Query(ge=1)] = 1) -> Response:
    query = _query(scope, status, contract)
    total, net = session.execute(select(func.count(), func.coalesce(func.sum(query.subquery().c.net_to_esco), 0))).one()
    rows = session.execute(query.order_by(Settlement.period_start.desc(), Contract.code, Settlement.version)
                           .offset((page - 1) * PAGE).limit(PAGE)).all()
    return render(request, "settlements/list.html", {
        "reminders": service.reminders(session, scope, date.today()), "rows": rows, "total": total, "page": page, "pages": max(1, -(-total // PAGE)), "status": status,
        "contract": contract, "statuses": [s.value for s in SettlementStatus]}, block="results")


@pages.get("/settlements/export.{fmt}")
def settlements_export(session: SessionDep, user: CurrentUser, scope: ScopeDep, fmt: str, status: str = "",
                       contract: str = "") -> Response:
    from emc.settlement import exports

    where = [Settlement.status == status] if status else []
    if contract:
        where.append(Contract.code == contract)
    if fmt == "csv":
        return Response(exports.export_csv(session, scope, where), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="settlements.csv"'})
    if fmt == "xlsx":
        return Response(exports.export_xlsx(session, scope, where),
                        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": 'attachment; filename="settlements.xlsx"'})
    raise NotFound("export format")


def _month(value: str) -> str:
    import re

    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
        raise HTTPException(status_code=422, detail=f"month {value!r}: write YYYY-MM")
    return value


@pages.post("/settlements/issue-period")
def settlements_issue_period(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep,
                             month: Annotated[str, Form()]) -> Response:
    from emc.settlement import exports
    from emc.web.deps import Forbidden

    if Role(user.role) not in (Role.admin, Role.manager):
        raise Forbidden()
    try:
        issued = exports.issue_period(session, scope, _month(month), actor=user)
        session.commit()
    except HTTPException as exc:
        return htmx.toast(request, str(exc.detail))
    if not issued:
        return htmx.toast(request, f"{month}: no approved settlement to issue", status_code=409)
    return htmx.redirect(request, "/settlements?status=issued")


@pages.get("/settlements/period/{month}.zip")
def settlements_period_zip(session: SessionDep, user: CurrentUser, scope: ScopeDep, month: str) -> Response:
    from emc.settlement import exports
    from emc.web.deps import Forbidden

    if Role(user.role) not in (Role.admin, Role.manager, Role.finance):
        raise Forbidden()
    data = exports.period_bundle(session, scope, _month(month))
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="statements-{month}.zip"'})


@pages.get("/settlements/{number}")
def settlement_page(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep, number: str) -> Response:
    row = _get(session, scope, number)
    history = session.execute(select(AuditEvent).where(AuditEvent.object_type == "settlement",
                                                       AuditEvent.object_id == row.number)
                              .order_by(AuditEvent.id)).scalars().all()
    return render(request, "settlements/detail.html", {
        "s": row, "c": service.contract_of(session, row), "lines": service.lines_of(session, row),
        "history": history, "actions": _actions(user, row),
        "code": statements.verification_code(row) if row.inputs_hash else ""})


def _act(session: SessionDep, user: User, row: Settlement, action: str, reason: str, paid_on: str,
         reference: str) -> Settlement:
    if action not in _actions(user, row):
        from emc.web.deps import Forbidden

        if action not in ACTIONS_BY_ROLE.get(Role(user.role), ()):
            raise Forbidden()
        raise service.SettlementError(f"{row.number} is {row.status}; '{action}' is not possible now")
    if action == "countersign":
        return service.countersign(session, row, actor=user)
    if action == "adjust":
        return service.adjust(session, row, actor=user)
    return service.transition(session, row, action, actor=user, reason=reason, reference=reference,
                              paid_on=date.fromisoformat(paid_on) if paid_on else None)


@pages.post("/settlements/{number}/{action}")
def settlement_action(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep, number: str,
                      action: str, reason: Annotated[str, Form()] = "", paid_on: Annotated[str, Form()] = "",
                      reference: Annotated[str, Form()] = "") -> Response:
    row = _get(session, scope, number)
    try:
        result = _act(session, user, row, action, reason, paid_on, reference)
        session.commit()
    except (service.SettlementError, ValueError) as exc:
        session.rollback()
        return htmx.toast(request, str(exc), status_code=409)
    return htmx.redirect(request, f"/settlements/{result.number}")


@pages.get("/settlements/{number}/statement.pdf")
def settlement_pdf(session: SessionDep, user: CurrentUser, scope: ScopeDep, number: str) -> Response:
    row = _get(session, scope, number)
    try:
        pdf = statements.render(session, row)
    except service.SettlementError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{row.number}.pdf"'})


@pages.get("/verify/{number}")
def verify_page(request: Request, session: SessionDep, number: str, code: str = "") -> Response:
    """Public: anyone holding a statement can check it (the QR code leads here). Shows nothing private."""
    row = session.execute(select(Settlement).where(Settlement.number == number)).scalars().first()
    valid = row is not None and bool(row.inputs_hash)
    return render(request, "settlements/verify.html", {
        "number": number, "found": valid, "s": row if valid else None,
        "code": statements.verification_code(row) if valid else "", "result": None})


@pages.post("/verify/{number}")
async def verify_upload(request: Request, session: SessionDep, number: str,
                        file: Annotated[UploadFile, File()]) -> Response:
    """Compare a presented PDF with the statement the approved settlement renders (byte for byte)."""
    row = session.execute(select(Settlement).where(Settlement.number == number)).scalars().first()
    valid = row is not None and bool(row.inputs_hash)
    result = None
    if valid:
        presented = await file.read(20 * 1024 * 1024)
        result = statements.pdf_digest(presented) == statements.pdf_digest(statements.render(session, row))
    return render(request, "settlements/verify.html", {
        "number": number, "found": valid, "s": row if valid else None,
        "code": statements.verification_code(row) if valid else "", "result": result})


class ActionIn(BaseModel):
    reason: str = ""
    paid_on: date | None = None
    reference: str = ""


@api.get("/settlements")
def api_settlements(session: SessionDep, scope: ScopeDep, status: str = "", contract: str = "",
                    page: Annotated[int, Query(ge=1)] = 1) -> list[dict[str, Any]]:
    rows = session.execute(_query(scope, status, contract).order_by(Settlement.period_start.desc())
                           .offset((page - 1) * 100).limit(100)).all()
    return [{"number": s.number, "contract": c.code, "kind": s.kind, "status": s.status,
             "period": [s.period_start, s.period_end], "net_to_esco": str(s.net_to_esco), "flagged": s.flagged}
            for s, c in rows]


@api.get("/settlements/{number}")
def api_settlement(session: SessionDep, scope: ScopeDep, number: str) -> dict[str, Any]:
    return service.as_json(session, _get(session, scope, number))


@api.post("/settlements/{number}/{action}")
def api_action(session: SessionDep, user: CurrentUser, scope: ScopeDep, number: str, action: str,
               body: ActionIn) -> dict[str, Any]:
    row = _get(session, scope, number)
    try:
        result = _act(session, user, row, action, body.reason, body.paid_on.isoformat() if body.paid_on else "",
                      body.reference)
        session.commit()
    except (service.SettlementError, ValueError) as exc:
        session.rollback()
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    return service.as_json(session, result)
