"""The inbox (通知): a user's notifications, the bell's count, marking read; and the hooks the action routes call
so a notification appears or clears in the same transaction as the action that caused it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlmodel import Session

from emc import clock
from emc.audit import service as audit
from emc.errors import Refused
from emc.notify import delivery, inbox, sync
from emc.web import htmx
from emc.web.deps import CurrentUser, ScopeDep, SessionDep
from emc.web.paging import PageNo
from emc.web.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(tags=["notifications"])
SHOWS = ("unread", "open", "all")


def after(session: Session, *, settlements: Iterable[Any] = (), batches: Iterable[Any] = (),
          warnings: Iterable[Any] = ()) -> None:
    """Bring the notifications of the subjects just acted on in line (in the action's transaction)."""
    session.flush()
    sync.sync(session, clock.today(), sync.Subjects.only(
        [s.id for s in settlements if s is not None], [b.id for b in batches if b is not None],
        [w.institution_id for w in warnings if w is not None]))


@pages.get("/notifications")
def notifications_page(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep,
                       show: str = "unread", page: PageNo = 1) -> Response:
    show = show if show in SHOWS else "unread"
    rows, total = inbox.listing(session, scope, show, page)
    pages_ = max(1, -(-total // inbox.PAGE))
    return render(request, "notifications/inbox.html", {
        "rows": rows, "show": show, "shows": SHOWS, "page": page, "pages": pages_, "total": total,
        "email_on": "email" in delivery.DeliverySettings().channels()}, block="results")


@pages.get("/notifications/count")
def notifications_count(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep) -> Response:
    """The bell's number (the header loads it after the page: one query, no cost to the page itself)."""
    return render(request, "notifications/bell.html", {"unread": inbox.unread_count(session, scope)})


@pages.post("/notifications/{notification_id}/read")
def notification_read(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep,
                      notification_id: int, next_: Annotated[str, Form(alias="next")] = "") -> Response:
    row = inbox.mark_read(session, scope, notification_id)
    if next_ == "open":  # "open" follows the link: read, then the page of the thing
        return htmx.redirect(request, row.link or "/notifications")
    if request.headers.get("hx-request"):
        return render(request, "notifications/_row.html", {"n": row})
    return htmx.redirect(request, "/notifications")


@pages.post("/notifications/read-all")
def notifications_read_all(request: Request, session: SessionDep, user: CurrentUser, scope: ScopeDep) -> Response:
    inbox.mark_all_read(session, scope)
    return htmx.redirect(request, "/notifications?show=open")


EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@pages.post("/notifications/email")
def notifications_email(request: Request, session: SessionDep, user: CurrentUser,
                        email: Annotated[str, Form()] = "") -> Response:
    """Where the user's notifications are e-mailed (when the installation sends e-mail); empty: not at all."""
    email = email.strip()
    if email and (len(email) > 254 or not EMAIL.fullmatch(email)):
        raise Refused(f"email: {email!r} is not an e-mail address")
    if email != user.email:
        before = user.email
        user.email = email
        session.add(user)
        audit.record(session, actor=user, action="user.email", object_type="user", object_id=user.username,
                     before={"email": before}, after={"email": email})
    return htmx.redirect(request, "/notifications")


class NotificationOut(BaseModel):
    id: int
    kind: str
    subject_type: str
    ref: str
    link: str
    opened_at: str
    read: bool
    resolved: bool


@api.get("/notifications", response_model=list[NotificationOut])
def api_notifications(session: SessionDep, user: CurrentUser, scope: ScopeDep, show: str = "unread",
                      page: PageNo = 1) -> list[NotificationOut]:
    rows, _ = inbox.listing(session, scope, show if show in SHOWS else "unread", page)
    return [NotificationOut(id=r.id or 0, kind=r.kind, subject_type=r.subject_type, ref=r.ref, link=r.link,
                            opened_at=r.opened_at.isoformat(), read=r.read_at is not None,
                            resolved=r.resolved_at is not None) for r in rows]
