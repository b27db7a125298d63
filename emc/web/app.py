"""The application factory."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from emc import __version__
from emc.config import Settings, get_settings
from emc.db import check_migrated, current_revision, get_engine, head_revision
from emc.org.scope import NotFound
from emc.paths import STATIC_DIR
from emc.web import auth, metrics, requestlog
from emc.web.metrics import allowed_networks
from emc.web.deps import CsrfFailed, CurrentUser, Forbidden, LoginRequired, verify_csrf
from emc.web.i18n import Translator
from emc.web.limits import BodyLimit, BodyTooLarge
from emc.web.ratelimit import LoginThrottle
from emc.web.security import SESSION_COOKIE, SecurityHeaders, parse_proxies
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


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _error(request: Request, status: int, key: str, detail: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"detail": detail}, status_code=status)
    message = Translator(language(request))(key)
    if is_htmx(request):  # show it as a toast; keep the page as it is
        return render(request, "partials/toast.html", {"message": message, "level": "error"},
                      block="toast", status_code=status, headers={"HX-Reswap": "none"})
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
    if _wants_json(request):
        return JSONResponse({"detail": problems or [{"loc": [], "msg": message, "type": "value_error", "field": "",
                                                     "message": message, "value": None}]}, status_code=422)
    if is_htmx(request):
        return render(request, "partials/toast.html", {"message": message, "level": "error"}, block="toast",
                      status_code=422, headers={"HX-Reswap": "none"})
    return render(request, "error.html", {"message": message, "status": 422}, status_code=422)


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = engine or get_engine(settings.db_url)
    check_migrated(engine)

    app = FastAPI(title="emc", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json", dependencies=[Depends(verify_csrf)],
                  description="Contracts, meters, settlements and ledgers of energy-performance and "
                              "water-saving contracts. Authenticate with a session cookie (plus the "
                              "X-CSRF-Token header on writes) or `Authorization: Bearer <token>` "
                              "(`emc users token`).")
    app.state.settings = settings
    app.state.engine = engine
    app.state.login_throttle = LoginThrottle(settings.login_max_failures, settings.login_window_s)
    app.state.verify_throttle = LoginThrottle(settings.login_max_failures * 4, settings.login_window_s)
    app.state.trusted_proxies = parse_proxies(settings.trusted_proxies)
    # The cookie carries only a random session id (emc.org.service.start_session); Secure is added per
    # request by SecurityHeaders whenever the request came over HTTPS.
    app.add_middleware(SessionMiddleware, secret_key=settings.secret_key, session_cookie=SESSION_COOKIE,
                       max_age=settings.session_max_age_s, same_site="lax", https_only=settings.cookie_secure)
    app.add_middleware(BodyLimit, upload_max=settings.upload_max_bytes, request_max=settings.request_max_bytes)
    # outermost: every answer, a 413 from BodyLimit included, carries the frame and content policies
    app.add_middleware(SecurityHeaders, proxies=app.state.trusted_proxies, always_secure=settings.cookie_secure)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    from emc.web.routes.audit import router as audit_router
    from emc.web.routes.baselines import api as baselines_api
    from emc.web.routes.baselines import pages as baselines_pages
    from emc.web.routes.carbon import pages as carbon_pages
    from emc.web.routes.carbon_api import router as carbon_api
    from emc.web.routes.contracts import api as contracts_api
    from emc.web.routes.contracts import pages as contracts_pages
    from emc.web.routes.metering import api as imports_api
    from emc.web.routes.metering import pages as imports_pages
    from emc.web.routes.org import api as org_api
    from emc.web.routes.org import pages as org_pages
    from emc.web.routes.settlement import api as settlements_api
    from emc.web.routes.settlement import pages as settlements_pages
    from emc.web.routes.tariffs import api as tariffs_api
    from emc.web.routes.tariffs import pages as tariffs_pages

    if settings.json_logs:
        requestlog.configure_json_logs()
    app.state.metrics_allow = allowed_networks(settings.metrics_allow)
    requestlog.install(app)
    app.include_router(metrics.router)
    app.include_router(auth.router)
    app.include_router(contracts_pages)
    app.include_router(org_pages)
    app.include_router(audit_router)
    app.include_router(imports_pages)
    app.include_router(baselines_pages)
    app.include_router(settlements_pages)
    app.include_router(tariffs_pages)
    app.include_router(settlements_api, prefix="/api", responses=API_ERRORS)
    app.include_router(tariffs_api, prefix="/api", responses=API_ERRORS)
    app.include_router(carbon_pages)
    app.include_router(carbon_api, prefix="/api", responses=API_ERRORS)
    app.include_router(baselines_api, prefix="/api", responses=API_ERRORS)
    app.include_router(imports_api, prefix="/api", responses=API_ERRORS)
    app.include_router(contracts_api, prefix="/api", responses=API_ERRORS)
    app.include_router(org_api, prefix="/api", responses=API_ERRORS)

    @app.get("/", include_in_schema=False)
    def home(user: CurrentUser) -> Response:
        """The bureau opens its portfolio first; an ESCO its own contracts."""
        return RedirectResponse("/contracts" if user.role == "esco" else "/portfolio", status_code=303)

    @app.get("/api/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/api/openapi.json", title="emc API",
                                   swagger_js_url="/static/swagger/swagger-ui-bundle.js",
                                   swagger_css_url="/static/swagger/swagger-ui.css",
                                   swagger_favicon_url="/static/favicon.svg")

    @app.get("/healthz", include_in_schema=False)
    def health() -> Response:
        """For load balancers and orchestrators: 200 when the database answers and its schema is the one this
        code needs, 503 otherwise. No login, and nothing about the data."""
        try:
            current = current_revision(engine)
        except SQLAlchemyError:
            log.exception("health check: the database does not answer")
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
        if current != head_revision():
            return JSONResponse({"status": "unavailable", "database": "ok", "migrations": "not at head"},
                                status_code=503)
        return JSONResponse({"status": "ok", "database": "ok", "migrations": "at head", "version": __version__})

    if settings.run_scheduler:
        @app.on_event("startup")
        def _scheduler() -> None:  # several workers: the scheduler lock elects the one that runs it
            from emc.jobs.scheduler import start_background

            start_background(engine)

    @app.exception_handler(LoginRequired)
    def _login(request: Request, _exc: LoginRequired) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": "authentication required"}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        target = f"/login?next={request.url.path}"
        if is_htmx(request):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(NotFound)
    def _not_found(request: Request, _exc: NotFound) -> Response:
        return _error(request, 404, "error.not_found", "not found")

    @app.exception_handler(Forbidden)
    def _forbidden(request: Request, _exc: Forbidden) -> Response:
        return _error(request, 403, "error.forbidden", "your role cannot do this")

    @app.exception_handler(CsrfFailed)
    def _csrf(request: Request, _exc: CsrfFailed) -> Response:
        return _error(request, 403, "error.csrf", "missing or wrong CSRF token (X-CSRF-Token header)")

    @app.exception_handler(StarletteHTTPException)
    def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return _error(request, 404, "error.not_found", "not found")
        if isinstance(exc, BodyTooLarge):
            return _error(request, 413, "error.too_large", str(exc.detail))
        if exc.status_code == 422 and not isinstance(exc.detail, list):  # the documented 422 body: a list
            return _unprocessable(request, str(exc.detail))
        if _wants_json(request) or exc.status_code not in (403, 405):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        return _error(request, exc.status_code, "error.title", str(exc.detail))

    @app.exception_handler(DataError)
    def _unstorable(request: Request, exc: DataError) -> Response:
        """A value the database refuses (a NUL character on PostgreSQL, a number out of range): the
        request's fault, answered as such, never a 500."""
        return _unprocessable(request, f"a value the database cannot store: {str(exc.orig).splitlines()[0][:200]}")

    @app.exception_handler(RequestValidationError)
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

    return app
