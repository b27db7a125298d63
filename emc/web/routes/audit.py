"""The audit log (administrators, as docs/security.md has it): who did what to which object, when, what
changed from what to what, and why; filtered by dates, kind, object, actor and action; exported as CSV.

Only an administrator opens it (their scope is the whole installation); the events are nonetheless read
through the reader's scope (``scope.clause_for(AuditEvent)``), so the rule in ``emc/scope_rules.py`` is the
one place that would decide should the page ever open to a scoped role."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from emc.audit import queries
from emc.audit.models import AuditEvent
from emc.config import get_settings
from emc.errors import DomainError, Refused
from emc.org import queries as org_queries
from emc.web import audit_view
from emc.web.deps import AdminUser, ScopeDep, SessionDep
from emc.web.i18n import Translator
from emc.web.paging import PageNo
from emc.web.templating import language, render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
EXPORT_MAX = 20_000  # events in one CSV; more is refused (narrow the filter), never cut short silently


class ExportTooLarge(DomainError, ValueError, key="audit.export_too_large"):
    """The filtered log holds more events than one export carries."""


class LogQuery:
    """The filters, from the query string (every one optional); dates are days in the installation's zone."""

    def __init__(self, date_from: Annotated[str, Query(max_length=10)] = "",
                 date_to: Annotated[str, Query(max_length=10)] = "", kind: str = "", object_id: str = "",
                 actor: str = "", action: str = "") -> None:
        self.date_from, self.date_to = _day("date_from", date_from), _day("date_to", date_to)
        self.kind, self.object_id = kind.strip(), object_id.strip()
        self.actor, self.action = actor.strip(), action.strip()

    def filter(self) -> queries.AuditFilter:
        tz = get_settings().tz

        def start(day: date | None) -> datetime | None:
            return datetime.combine(day, time(), tzinfo=tz) if day else None

        return queries.AuditFilter(since=start(self.date_from),
                                   until=start(self.date_to + timedelta(days=1) if self.date_to else None),
                                   kind=self.kind, object_id=self.object_id, actor=self.actor, action=self.action)

    def params(self, **extra: Any) -> str:
        values = {"date_from": self.date_from or "", "date_to": self.date_to or "", "kind": self.kind,
                  "object_id": self.object_id, "actor": self.actor, "action": self.action, **extra}
        return urlencode({k: v for k, v in values.items() if v not in ("", None)})


LogQueryDep = Annotated[LogQuery, Depends()]


def _day(field: str, value: str) -> date | None:
    """A day from a date input: empty (the form sends the field blank) is no bound."""
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Refused(f"{field}: {value!r} is not a date (YYYY-MM-DD)") from None


@router.get("/audit")
def audit_page(request: Request, session: SessionDep, admin: AdminUser, scope: ScopeDep, q: LogQueryDep,
               page: PageNo = 1) -> Response:
    visible = scope.clause_for(AuditEvent)
    events, total = queries.events_page(session, q.filter(), visible=visible, offset=(page - 1) * PAGE_SIZE,
                                        limit=PAGE_SIZE)
    t = Translator(language(request))
    options = queries.choices(session, visible=visible)
    people = org_queries.user_names(session)
    return render(request, "audit/list.html", {
        "entries": audit_view.entries(session, scope, events, t), "q": q, "page": page, "total": total,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "kinds": [(k, audit_view.kind_label(t, k)) for k in options.kinds],
        "actions": [(a, audit_view.action_label(t, a)) for a in options.actions],
        "actors": [(a, _actor_option(t, a, people)) for a in options.actors],
        "field": lambda f: audit_view.field_label(t, f)}, block="results")


def _actor_option(t: Translator, name: str, people: dict[str, tuple[str, str]]) -> str:
    if name in people:
        display, role = people[name]
        return f"{display} ({name}, {t.label(f'role.{role}', role)})"
    return t.label(f"audit.actor.{name}", name)


@router.get("/audit.csv")
def audit_csv(request: Request, session: SessionDep, admin: AdminUser, scope: ScopeDep, q: LogQueryDep) -> Response:
    """The filtered log, every event (newest first) up to :data:`EXPORT_MAX`, UTF-8 with BOM so Excel reads the
    Chinese; headers translated; the same columns the page shows."""
    visible = scope.clause_for(AuditEvent)
    flt = q.filter()
    total = queries.count(session, flt, visible=visible)
    if total > EXPORT_MAX:
        raise ExportTooLarge(f"{total} events match; narrow the filter to at most {EXPORT_MAX}")
    t = Translator(language(request))
    events, _ = queries.events_page(session, flt, visible=visible, offset=0, limit=EXPORT_MAX)
    tz = get_settings().tz
    out = io.StringIO()
    csv.writer(out).writerows(audit_view.csv_rows(
        audit_view.entries(session, scope, events, t), t,
        lambda at: at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")))
    return Response(("\ufeff" + out.getvalue()).encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="audit-log.csv"'})
