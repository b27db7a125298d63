"""The audit log page (admin)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from emc.audit import queries
from emc.web.deps import AdminUser, SessionDep
from emc.web.paging import PageNo
from emc.web.templating import render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


@router.get("/audit")
def audit_page(request: Request, session: SessionDep, admin: AdminUser, action: str = "", actor: str = "",
               page: PageNo = 1) -> Response:
    events, total = queries.events_page(session, action=action, actor=actor, offset=(page - 1) * PAGE_SIZE,
                                        limit=PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    return render(request, "audit/list.html", {"events": events, "action": action, "actor": actor, "page": page,
                                               "pages": pages, "total": total}, block="results")
