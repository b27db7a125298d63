"""Every error answered in one place: domain refusals, lookups, roles, CSRF, validation, oversized bodies.

Under ``/api`` the answer is JSON (``{"detail": …}``, or for 422 the documented list of problems); an HTMX
request gets a toast that keeps the page (``HX-Reswap: none``); a browser's plain request gets the error page
(a plain form POST gets the toast, as the routes always answered it). A :class:`emc.errors.DomainError` brings
its own status and message key; the key is translated here, through :mod:`emc.web.i18n`.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from emc.errors import DomainError
from emc.web.deps import CsrfFailed, Forbidden, LoginRequired
from emc.web.i18n import Translator
from emc.web.limits import BodyTooLarge
from emc.web.templating import is_htmx, language, render

log = logging.getLogger(__name__)


class Problem(BaseModel):
    """Every API error but 422 (whose body lists the invalid fields): what went wrong, in words."""

    detail: str


# documented on every API operation, so clients (and schemathesis) know each error's status and body
API_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": text} for status, text in (
        (400, "bad request"), (401, "authentication required"), (403, "your role cannot do this"),
        (404, "not found, or not yours to see"), (409, "the object is not in a state that allows this"),
        (413, "request body over the limit"))}
# what the API says of an error whose message stays private (a 404 never tells "absent" from "not yours")
PRIVATE_DETAIL = {404: "not found", 403: "your role cannot do this"}


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _toast(request: Request, status: int, messages: list[str], title: str | None = None) -> Response:
    context: dict[str, Any] = {"level": "error", "title": title}
    context.update({"messages": messages} if len(messages) > 1 else {"message": messages[0] if messages else ""})
    return render(request, "partials/toast.html", context, block="toast", status_code=status,
                  headers={"HX-Reswap": "none"})


def _error(request: Request, status: int, key: str, detail: str) -> Response:
    if wants_json(request):
        return JSONResponse({"detail": detail}, status_code=status)
    message = Translator(language(request))(key)
    if is_htmx(request):  # show it as a toast; keep the page as it is
        return _toast(request, status, [message])
    return render(request, "error.html", {"message": message, "status": status}, status_code=status)


def _shown(value: object) -> str | int | float | bool | None:
    """A rejected input as JSON can carry it: scalars as they are, anything else (bytes, objects) as short text."""
    if value is None or isinstance(value, str | int | float | bool):
        return value[:300] if isinstance(value, str) else value
    if isinstance(value, bytes):
        return value[:300].decode("utf-8", "replace")
    return None if isinstance(value, dict | list) else str(value)[:300]


def _unprocessable(request: Request, message: str, problems: list[dict[str, Any]] | None = None) -> Response:
    """A 422: under /api the documented body (a list of problems), on a page the message as a toast or page."""
    if wants_json(request):
        return JSONResponse({"detail": problems or [{"loc": [], "msg": message, "type": "value_error", "field": "",
                                                     "message": message, "value": None}]}, status_code=422)
    if is_htmx(request):
        return _toast(request, 422, [message])
    return render(request, "error.html", {"message": message, "status": 422}, status_code=422)


def domain_error(request: Request, exc: DomainError) -> Response:
    """A domain's refusal: its status, its message (or only its key's text when the message is private)."""
    if not exc.public:
        return _error(request, exc.status, exc.key, PRIVATE_DETAIL.get(exc.status, exc.key))
    messages = exc.messages()
    if wants_json(request):
        if exc.status == 422:
            return _unprocessable(request, "\n".join(messages))
        return JSONResponse({"detail": "\n".join(messages)}, status_code=exc.status)
    title = Translator(language(request))(exc.key)
    if is_htmx(request) or request.method != "GET":  # a form's refusal: a toast, the page kept as it is
        return _toast(request, exc.status, messages, title)
    return render(request, "error.html", {"message": "\n".join(messages), "status": exc.status},
                  status_code=exc.status)


def _login(request: Request, _exc: LoginRequired) -> Response:
    if wants_json(request):
        return JSONResponse({"detail": "authentication required"}, status_code=401,
                            headers={"WWW-Authenticate": "Bearer"})
    target = f"/login?next={request.url.path}"
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _forbidden(request: Request, _exc: Forbidden) -> Response:
    return _error(request, 403, "error.forbidden", "your role cannot do this")


def _csrf(request: Request, _exc: CsrfFailed) -> Response:
    return _error(request, 403, "error.csrf", "missing or wrong CSRF token (X-CSRF-Token header)")


def _http(request: Request, exc: StarletteHTTPException) -> Response:
    if exc.status_code == 404:
        return _error(request, 404, "error.not_found", "not found")
    if isinstance(exc, BodyTooLarge):
        return _error(request, 413, "error.too_large", str(exc.detail))
    if exc.status_code == 422 and not isinstance(exc.detail, list):  # the documented 422 body: a list
        return _unprocessable(request, str(exc.detail))
    if wants_json(request) or exc.status_code not in (403, 405):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
    return _error(request, exc.status_code, "error.title", str(exc.detail))


def _unstorable(request: Request, exc: DataError) -> Response:
    """A value the database refuses (a NUL character on PostgreSQL, a number out of range): the request's
    fault, answered as such, never a 500."""
    return _unprocessable(request, f"a value the database cannot store: {str(exc.orig).splitlines()[0][:200]}")


def _invalid(request: Request, exc: RequestValidationError) -> Response:
    # FastAPI's documented shape (loc, msg, type: the OpenAPI HTTPValidationError) plus our field,
    # message and the value as text, so a body of any content type gives a JSON answer, never a 500
    problems = [{"loc": [p if isinstance(p, int) else str(p) for p in e["loc"]], "msg": e["msg"],
                 "type": e["type"],
                 "field": ".".join(str(p) for p in e["loc"] if p not in ("body", "query", "path")),
                 "message": e["msg"], "value": _shown(e.get("input"))}
                for e in exc.errors()]
    text = "; ".join(f"{p['field']}: {p['message']} (got {p['value']!r})" for p in problems)
    return _unprocessable(request, text, problems)


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    handlers: list[tuple[type[Exception], Any]] = [
        (LoginRequired, _login), (DomainError, domain_error), (Forbidden, _forbidden), (CsrfFailed, _csrf),
        (StarletteHTTPException, _http), (DataError, _unstorable), (RequestValidationError, _invalid)]
    for kind, handler in handlers:
        app.add_exception_handler(kind, handler)
