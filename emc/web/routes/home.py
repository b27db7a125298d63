"""The ESCO's home: what it is owed, what waits for its countersignature, where its meters' data have gaps,
and its recent imports — all within its own contracts (the scope). A bounded number of queries however many
contracts, meters and readings it has (tests/test_esco_home.py counts them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from emc import clock
from emc.metering import gaps
from emc.metering import service as imports
from emc.org.models import Role, User
from emc.settlement import receivables
from emc.web.deps import ScopeDep, SessionDep, require_roles
from emc.web.templating import render

pages = APIRouter(include_in_schema=False)
Esco = Annotated[User, Depends(require_roles(Role.esco))]
GAPS_SHOWN = 50  # meters listed (most missing days first); the count of all meters is shown beside
RECENT_IMPORTS = 5


@pages.get("/home")
def esco_home(request: Request, session: SessionDep, user: Esco, scope: ScopeDep) -> Response:
    today = clock.today()
    meters = gaps.data_gaps(session, scope, today)
    awaiting, awaiting_total = receivables.awaiting_countersignature(session, scope)
    recent, imports_total = imports.batches(session, scope, limit=RECENT_IMPORTS)
    return render(request, "home/esco.html", {
        "money": receivables.receivables(session, scope, today), "today": today,
        "awaiting": awaiting, "awaiting_total": awaiting_total,
        "gaps": [g for g in meters if g.missing_days][:GAPS_SHOWN],
        "gap_meters": sum(1 for g in meters if g.missing_days),
        "meters_total": len(meters), "window_days": gaps.WINDOW_DAYS,
        "recent": recent, "imports_total": imports_total})
