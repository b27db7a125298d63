"""The audit log page (admin)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from emc.audit.models import AuditEvent
from emc.web.deps import AdminUser, SessionDep
from emc.web.paging import PageNo
from emc.web.templating import render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


@router.get("/audit")
def audit_page(request: Request, session: SessionDep, admin: AdminUser, action: str = "", actor: str = "",
               page: PageNo = 1) -> Response:
    where = []
    if action:
        where.append(AuditEvent.action.startswith(action, autoescape=True))
    if actor:
        where.append(AuditEvent.actor == actor)
    total = session.execute(select(func.count(AuditEvent.id)).where(*where)).scalar_one()
    events = session.execute(select(AuditEvent).where(*where).order_by(AuditEvent.id.desc())
                             .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).scalars().all()
    pages = max(1, -(-total // PAGE_SIZE))
    return render(request, "audit/list.html", {"events": events, "action": action, "actor": actor, "page": page,
                                               "pages": pages, "total": total}, block="results")
