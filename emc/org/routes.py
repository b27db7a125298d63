"""User administration (admin only) and who-am-I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from emc.org.models import Esco, Region, Role, User
from emc.org.scope import NotFound
from emc.org.service import OrgError, UserCreate, create_user, set_active
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
    rows = session.execute(
        select(User, Region.code, Esco.code).outerjoin(Region, Region.id == User.region_id)
        .outerjoin(Esco, Esco.id == User.esco_id).order_by(User.username)).all()
    return [UserOut(username=u.username, display_name=u.display_name, role=u.role, region=r, esco=e,
                    is_active=u.is_active) for u, r, e in rows]


def _users_page(request: Request, session: SessionDep, *, form: dict[str, str] | None = None,
                errors: list[str] | None = None, status_code: int = 200, toast: str | None = None) -> Response:
    return render(request, "admin/users.html", {
        "users": _users(session), "roles": [r.value for r in Role], "form": form or {}, "errors": errors or [],
        "toast": toast}, block="users", status_code=status_code)


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
        session.commit()
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
                     active: Annotated[bool, Form()]) -> Response:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise NotFound("user")
    if user.id == admin.id and not active:
        return _users_page(request, session, errors=["you cannot deactivate yourself"], status_code=422)
    set_active(session, user, active, actor=admin)
    session.commit()
    return _users_page(request, session)


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
    try:
        user = create_user(session, data, actor=admin)
        session.commit()
    except OrgError as exc:
        session.rollback()
        from fastapi import HTTPException

        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return UserOut(username=user.username, display_name=user.display_name, role=user.role, region=data.region,
                   esco=data.esco, is_active=True)
