"""User administration (admin only) and who-am-I.

A refused form here is shown again with its errors (not a toast), so those handlers roll back themselves
before they answer: the request's transaction commits whatever a handler that returns has left."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from emc.config import get_settings
from emc.dbtypes import utcnow
from emc.org import queries
from emc.org.admin import GuardRefused, change_role, set_user_active
from emc.org.models import ApiToken, Esco, Region, Role, User
from emc.org.scope import NotFound
from emc.org.service import (
    OrgError,
    UserCreate,
    change_password,
    create_user,
    issue_token,
    reset_password,
    revoke_token,
    start_session,
    tokens_of,
)
from emc.web.deps import AdminUser, CurrentUser, SessionDep
from emc.web.i18n import Translator
from emc.web.templating import language, render

pages = APIRouter(include_in_schema=False)
api = APIRouter(tags=["users"])


class UserOut(BaseModel):
    username: str
    display_name: str
    role: str
    region: str | None
    esco: str | None
    is_active: bool


def _users(session: SessionDep) -> list[UserOut]:
    rows = queries.users_with_places(session)
    return [UserOut(username=u.username, display_name=u.display_name, role=u.role, region=r.code if r else None,
                    esco=e.code if e else None, is_active=u.is_active) for u, r, e in rows]


def _users_page(request: Request, session: SessionDep, *, form: dict[str, str] | None = None,
                errors: list[str] | None = None, status_code: int = 200, toast: str | None = None) -> Response:
    return render(request, "admin/users.html", {
        "rows": queries.users_with_places(session), "roles": [r.value for r in Role],
        "regions": queries.all_regions(session), "escos": queries.all_escos(session), "form": form or {},
        "errors": errors or [], "toast": toast}, block="users", status_code=status_code)


def _refused(request: Request, session: SessionDep, username: str, exc: OrgError) -> Response:
    """The page again with the refusal (nothing of the change kept); a guard's sentence is translated."""
    session.rollback()
    t = Translator(language(request))
    message = t(exc.message_key) if isinstance(exc, GuardRefused) else str(exc)
    return _users_page(request, session, errors=[f"{username}: {message}"], status_code=exc.status)


def _named(session: SessionDep, username: str) -> User:
    user = queries.user_named(session, username)
    if user is None:
        raise NotFound("user")
    return user


@pages.get("/admin/users")
def users_page(request: Request, session: SessionDep, admin: AdminUser) -> Response:
    return _users_page(request, session)


@pages.post("/admin/users")
def users_create(request: Request, session: SessionDep, admin: AdminUser,
                 username: Annotated[str, Form()], password: Annotated[str, Form()], role: Annotated[str, Form()],
                 display_name: Annotated[str, Form()] = "", region: Annotated[str, Form()] = "",
                 esco: Annotated[str, Form()] = "") -> Response:
    form = {"username": username, "role": role, "display_name": display_name, "region": region, "esco": esco}
    try:
        data = UserCreate(username=username.strip(), password=password, role=role, display_name=display_name,
                          region=region.strip() or None, esco=esco.strip() or None)
        create_user(session, data, actor=admin)
    except ValidationError as exc:
        errors = [f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg'].removeprefix('Value error, ')}"
                  for e in exc.errors()]
        return _users_page(request, session, form=form, errors=errors, status_code=422)
    except OrgError as exc:
        session.rollback()
        return _users_page(request, session, form=form, errors=[str(exc)], status_code=422)
    t = Translator(language(request))
    return _users_page(request, session, toast=t("users.created", username=data.username))


@pages.post("/admin/users/{username}/active")
def users_set_active(request: Request, session: SessionDep, admin: AdminUser, username: str,
                     active: Annotated[bool, Form()], reason: Annotated[str, Form(max_length=1000)] = "") -> Response:
    """Deactivate (sessions end, tokens are revoked) or reactivate a user; never oneself, never the last admin."""
    user = _named(session, username)
    try:
        set_user_active(session, user, active, actor=admin, reason=reason.strip())
    except OrgError as exc:
        return _refused(request, session, username, exc)
    t = Translator(language(request))
    return _users_page(request, session, toast=t("users.activated" if active else "users.deactivated",
                                                 username=username))


@pages.post("/admin/users/{username}/role")
def users_change_role(request: Request, session: SessionDep, admin: AdminUser, username: str,
                      role: Annotated[str, Form()], region: Annotated[str, Form()] = "",
                      esco: Annotated[str, Form()] = "",
                      reason: Annotated[str, Form(max_length=1000)] = "") -> Response:
    """Change a user's role and scope (region or ESCO); it takes effect on their next request."""
    user = _named(session, username)
    try:
        change_role(session, user, role, region=region.strip() or None, esco=esco.strip() or None, actor=admin,
                    reason=reason.strip())
    except OrgError as exc:
        return _refused(request, session, username, exc)
    t = Translator(language(request))
    return _users_page(request, session, toast=t("users.role_changed", username=username))


@pages.post("/admin/users/{username}/password")
def users_reset_password(request: Request, session: SessionDep, admin: AdminUser, username: str,
                         password: Annotated[str, Form()], confirm: Annotated[str, Form()],
                         reason: Annotated[str, Form(max_length=1000)] = "") -> Response:
    """An administrator sets a new password (typed twice) for a user who forgot theirs; the user's sessions and
    tokens end."""
    user = _named(session, username)
    t = Translator(language(request))
    if password != confirm:
        return _users_page(request, session, errors=[f"{username}: {t('users.password_mismatch')}"],
                           status_code=422)
    try:
        reset_password(session, user, password, actor=admin, reason=reason.strip())
    except OrgError as exc:
        return _refused(request, session, username, exc)
    if user.id == admin.id:  # keep the admin who reset their own password signed in here
        request.session["sid"] = start_session(session, user, max_age_s=get_settings().session_max_age_s)
    return _users_page(request, session, toast=t("users.password_reset", username=username))


# -- the signed-in user's own account: password, API tokens ---------------------------------------------
def _account(request: Request, session: SessionDep, user: User, *, errors: list[str] | None = None,
             new_token: str | None = None, toast: str | None = None, status_code: int = 200) -> Response:
    return render(request, "account.html", {"tokens": tokens_of(session, user), "errors": errors or [],
                                            "new_token": new_token, "toast": toast, "now": _now()},
                  status_code=status_code)


def _now() -> datetime:
    return utcnow()


@pages.get("/account")
def account_page(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    return _account(request, session, user)


@pages.post("/account/password")
def account_password(request: Request, session: SessionDep, user: CurrentUser, current: Annotated[str, Form()],
                     new: Annotated[str, Form()], confirm: Annotated[str, Form()]) -> Response:
    """Change one's own password: every other session and every API token of the user ends."""
    t = Translator(language(request))
    if new != confirm:
        return _account(request, session, user, errors=[t("account.mismatch")], status_code=422)
    try:
        change_password(session, user, current, new)
    except OrgError as exc:
        session.rollback()
        return _account(request, session, user, errors=[str(exc)], status_code=422)
    request.session["sid"] = start_session(session, user, max_age_s=get_settings().session_max_age_s)
    return _account(request, session, user, toast=t("account.password_changed"))


@pages.post("/account/tokens")
def account_issue_token(request: Request, session: SessionDep, user: CurrentUser, name: Annotated[str, Form()],
                        days: Annotated[int, Form()] = 90) -> Response:
    try:
        issued = issue_token(session, user, name, actor=user, days=days)
    except OrgError as exc:
        session.rollback()
        return _account(request, session, user, errors=[str(exc)], status_code=422)
    return _account(request, session, user, new_token=issued.token)


def _own_token(session: SessionDep, user: User, token_id: int) -> ApiToken:
    record = session.get(ApiToken, token_id)
    if record is None or record.user_id != user.id:
        raise NotFound("token")
    return record


@pages.post("/account/tokens/{token_id}/revoke")
def account_revoke_token(request: Request, session: SessionDep, user: CurrentUser, token_id: int) -> Response:
    revoke_token(session, _own_token(session, user, token_id), actor=user)
    t = Translator(language(request))
    return _account(request, session, user, toast=t("account.token_revoked"))


class TokenOut(BaseModel):
    id: int
    name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked: bool


def _token_out(t: ApiToken) -> TokenOut:
    return TokenOut(id=t.id or 0, name=t.name, created_at=t.created_at, expires_at=t.expires_at,
                    last_used_at=t.last_used_at, revoked=t.revoked)


@api.get("/tokens", response_model=list[TokenOut])
def api_tokens(session: SessionDep, user: CurrentUser) -> list[TokenOut]:
    """The caller's own API tokens (never the secret: it was shown once, at issue)."""
    return [_token_out(t) for t in tokens_of(session, user)]


@api.post("/tokens/{token_id}/revoke", response_model=TokenOut)
def api_revoke_token(session: SessionDep, user: CurrentUser, token_id: int) -> TokenOut:
    record = _own_token(session, user, token_id)
    revoke_token(session, record, actor=user)
    return _token_out(record)


class Me(BaseModel):
    username: str
    display_name: str
    role: str
    region: str | None
    esco: str | None


@api.get("/me", response_model=Me)
def me(session: SessionDep, user: CurrentUser) -> Me:
    region = session.get(Region, user.region_id) if user.region_id else None
    esco = session.get(Esco, user.esco_id) if user.esco_id else None
    return Me(username=user.username, display_name=user.display_name, role=user.role,
              region=region.code if region else None, esco=esco.code if esco else None)


@api.get("/users", response_model=list[UserOut])
def api_users(session: SessionDep, admin: AdminUser) -> list[UserOut]:
    return _users(session)


@api.post("/users", response_model=UserOut, status_code=201)
def api_create_user(session: SessionDep, admin: AdminUser, data: UserCreate) -> UserOut:
    user = create_user(session, data, actor=admin)  # OrgError: 422, its message
    return UserOut(username=user.username, display_name=user.display_name, role=user.role, region=data.region,
                   esco=data.esco, is_active=True)
