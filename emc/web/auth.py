"""Log in and out, switch language. Sessions are signed cookies (itsdangerous via Starlette)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlparse

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from emc.audit import service as audit
from emc.config import get_settings
from emc.dbtypes import utcnow
from emc.org import queries
from emc.org.passwords import DUMMY_HASH, verify_password
from emc.org.service import end_session, start_session
from emc.web.deps import OptionalUser, SessionDep
from emc.web.i18n import LANGUAGES, Translator
from emc.web.security import request_client
from emc.web.templating import language, render

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only same-site paths: an open redirect after login is a phishing tool."""
    if not target:
        return "/"
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@router.get("/login")
def login_page(request: Request, user: OptionalUser, next: str = "/") -> Response:
    if user is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(request, "login.html", {"next": _safe_next(next), "error": None})


@router.post("/login")
def login(request: Request, session: SessionDep, username: Annotated[str, Form()],
          password: Annotated[str, Form()], next: Annotated[str, Form()] = "/") -> Response:
    throttle = request.app.state.login_throttle
    client = request_client(request)
    keys = (f"ip:{client}", f"user:{username.lower()}")
    t = Translator(language(request))
    wait = throttle.retry_after(*keys)
    if wait:
        return render(request, "login.html", {"next": _safe_next(next), "username": username,
                      "error": t("login.locked", minutes=max(1, -(-wait // 60)))}, status_code=429,
                      headers={"Retry-After": str(wait)})
    user = queries.user_named(session, username)
    ok = verify_password(user.password_hash if user else DUMMY_HASH, password)
    if user is None or not ok or not user.is_active:
        throttle.failed(*keys)
        audit.record(session, actor=username[:64] or "?", action="login.failed", object_type="user",
                     object_id=username[:60], after={"client": client})
        return render(request, "login.html", {"next": _safe_next(next), "username": username,
                      "error": t("login.failed")}, status_code=401)
    throttle.succeeded(keys[1])  # the address keeps its count: one good account must not reset it
    lang = request.session.get("lang")
    request.session.clear()  # a fresh session on login: no fixation
    settings = get_settings()
    request.session["sid"] = start_session(session, user, max_age_s=settings.session_max_age_s, client=client)
    if lang:
        request.session["lang"] = lang
    user.last_login_at = utcnow()
    audit.record(session, actor=user, action="login", object_type="user", object_id=user.username,
                 after={"client": client})
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request, session: SessionDep, user: OptionalUser) -> Response:
    """Ends the session on the server too: the cookie, replayed later, no longer signs anyone in."""
    sid = request.session.get("sid")
    if isinstance(sid, str):
        end_session(session, sid)
        if user is not None:
            audit.record(session, actor=user, action="logout", object_type="user", object_id=user.username,
                         after={"client": request_client(request)})
    lang = request.session.get("lang")
    request.session.clear()
    if lang:
        request.session["lang"] = lang
    return RedirectResponse("/login", status_code=303)


@router.post("/lang/{code}")
def switch_language(request: Request, code: str, next: Annotated[str, Form()] = "/") -> Response:
    if code in LANGUAGES:
        request.session["lang"] = code
    return RedirectResponse(_safe_next(next), status_code=303)
