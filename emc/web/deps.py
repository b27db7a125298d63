"""Request dependencies: the database session (one transaction per request), the current user and their
scope, role checks, CSRF."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from emc.config import get_settings
from emc.dbtypes import utcnow
from emc.errors import Conflict
from emc.org.models import Role, User
from emc.org.scope import Scope
from emc.org.service import session_user, token_user
from emc.web import replica

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class LoginRequired(Exception):
    """No (valid) session: pages redirect to the login page, the API answers 401."""


class Forbidden(Exception):
    """Authenticated, but the role may not do this."""


class CsrfFailed(Exception):
    pass


CONCURRENT_CHANGE = "changed by someone else meanwhile (nothing was saved); reload it and try again"


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the handler returns, rolled back when it raises.

    Its scope is ``"function"``: FastAPI (0.121 and later) runs this exit as soon as the handler returns,
    before it sends the response, so a commit that fails answers an error, never the 200 the handler had
    prepared (the default ``"request"`` scope would run it after the response had gone). A unique key or a
    lock that another request won — at the handler's flush or at this commit — is a 409: someone else
    changed the object meanwhile. Anything else propagates to the app's handlers (emc.web.errors).

    A read runs on the read replica when there is one, a write on the primary (the rule: emc.web.replica)."""
    engine = replica.engine_for(request)
    request.state.database = "replica" if engine is not request.app.state.engine else "primary"
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except (IntegrityError, OperationalError) as exc:
            session.close()  # rolls back; the objects keep what they had loaded, for the error page
            if isinstance(exc, OperationalError) and exc.connection_invalidated:
                raise
            raise Conflict(CONCURRENT_CHANGE) from exc
        except BaseException:
            session.close()
            raise
        finally:
            # also after a failure: a handler may have committed part of its work first (an upload's kept file)
            replica.remember_write(request)


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def optional_user(request: Request, session: SessionDep) -> User | None:
    token = _bearer(request)
    if token is not None:
        found = token_user(session, token)
        if found is None:  # unknown, revoked, expired, or its user deactivated
            raise LoginRequired()
        record, user = found
        # Reads never write (on SQLite a read would wait on, then fail behind, a writer's lock); a write
        # records the token's use at most every EMC_TOKEN_TOUCH_MINUTES.
        every = timedelta(minutes=get_settings().token_touch_minutes)
        now = utcnow()
        if request.method in UNSAFE_METHODS and (record.last_used_at is None or now - record.last_used_at >= every):
            record.last_used_at = now
            session.commit()
        request.state.auth, request.state.user = "token", user
        return user
    sid = request.session.get("sid")
    if not isinstance(sid, str):
        return None
    found_user = session_user(session, sid)
    if found_user is None:
        request.session.clear()  # logged out, password changed, expired, deactivated or deleted
        return None
    request.state.auth, request.state.user = "session", found_user
    return found_user


# pure checks are coroutines: FastAPI runs a plain function dependency in its thread pool, a hop per request
async def current_user(user: Annotated[User | None, Depends(optional_user)]) -> User:
    if user is None:
        raise LoginRequired()
    return user


OptionalUser = Annotated[User | None, Depends(optional_user)]
CurrentUser = Annotated[User, Depends(current_user)]


def user_scope(user: CurrentUser, session: SessionDep) -> Scope:
    return Scope.of(session, user)


ScopeDep = Annotated[Scope, Depends(user_scope)]


def require_roles(*roles: Role) -> Callable[[User], Awaitable[User]]:
    async def check(user: CurrentUser) -> User:
        if Role(user.role) not in roles:
            raise Forbidden()
        return user

    return check


AdminUser = Annotated[User, Depends(require_roles(Role.admin))]


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def verify_csrf(request: Request) -> None:
    """Every state-changing request carries the session's token (header for HTMX, field for forms).
    Bearer-token clients carry no ambient credential, so they need none."""
    if request.method not in UNSAFE_METHODS or _bearer(request) is not None:
        return
    expected = request.session.get("csrf")
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        field = (await request.form()).get("csrf_token")  # cached: the route reads the same form
        sent = field if isinstance(field, str) else None
    if not expected or not isinstance(sent, str) or not secrets.compare_digest(expected, sent):
        raise CsrfFailed()
