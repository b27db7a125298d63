"""The application factory: settings, engine, middleware, the routers of emc.web.routes, the error handlers."""

from __future__ import annotations

import logging

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

import emc.wiring  # noqa: F401  (installs the scope rules: this is a shell)
from emc import __version__
from emc.config import Settings, bound, get_settings
from emc.db import check_migrated, current_revision, get_engine, get_read_engine, head_revision
from emc.paths import STATIC_DIR
from emc.web import auth, errors, metrics, requestlog
from emc.web.deps import CurrentUser, verify_csrf
from emc.web.errors import API_ERRORS
from emc.web.limits import BodyLimit
from emc.web.metrics import allowed_networks
from emc.web.ratelimit import LoginThrottle
from emc.web.routes import (
    audit,
    baselines,
    carbon,
    carbon_api,
    contracts,
    metering,
    notify,
    org,
    settlement,
    settlement_list,
    tariffs,
)
from emc.web.routes import home as esco_home
from emc.web.security import SESSION_COOKIE, SecurityHeaders, parse_proxies

log = logging.getLogger(__name__)


class BindSettings:
    """While the app answers a request, its settings are the ones :func:`emc.config.get_settings` returns
    (services included): one configuration per app, read one way (see :mod:`emc.config`)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with bound(self.settings):
            await self.app(scope, receive, send)


def create_app(settings: Settings | None = None, engine: Engine | None = None,
               read_engine: Engine | None = None) -> FastAPI:
    """``engine``: the primary's; ``read_engine``: the read replica's (default: EMC_DATABASE_READ_URL's, or the
    primary's when it is unset). Which request uses which: emc.web.replica."""
    settings = settings or get_settings()
    engine = engine or get_engine(settings.db_url)
    check_migrated(engine)
    if read_engine is None:
        read_engine = get_read_engine(settings.database_read_url) if settings.database_read_url else engine
    if read_engine is not engine:
        check_migrated(read_engine)  # a replica of another database, or one left behind, is refused at start

    app = FastAPI(title="emc", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json", dependencies=[Depends(verify_csrf)],
                  description="Contracts, meters, settlements and ledgers of energy-performance and "
                              "water-saving contracts. Authenticate with a session cookie (plus the "
                              "X-CSRF-Token header on writes) or `Authorization: Bearer <token>` "
                              "(`emc users token`).")
    app.state.settings = settings  # the same object get_settings() returns during this app's requests
    app.state.engine = engine
    app.state.read_engine = read_engine
    app.state.login_throttle = LoginThrottle(settings.login_max_failures, settings.login_window_s)
    app.state.verify_throttle = LoginThrottle(settings.login_max_failures * 4, settings.login_window_s)
    app.state.trusted_proxies = parse_proxies(settings.trusted_proxies)
    app.add_middleware(BindSettings, settings=settings)
    # The cookie carries only a random session id (emc.org.service.start_session); Secure is added per
    # request by SecurityHeaders whenever the request came over HTTPS.
    app.add_middleware(SessionMiddleware, secret_key=settings.secret_key, session_cookie=SESSION_COOKIE,
                       max_age=settings.session_max_age_s, same_site="lax", https_only=settings.cookie_secure)
    app.add_middleware(BodyLimit, upload_max=settings.upload_max_bytes, request_max=settings.request_max_bytes)
    # outermost: every answer, a 413 from BodyLimit included, carries the frame and content policies
    app.add_middleware(SecurityHeaders, proxies=app.state.trusted_proxies, always_secure=settings.cookie_secure)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    if settings.json_logs:
        requestlog.configure_json_logs()
    app.state.metrics_allow = allowed_networks(settings.metrics_allow)
    requestlog.install(app)
    app.include_router(metrics.router)
    app.include_router(auth.router)
    app.include_router(contracts.pages)
    app.include_router(org.pages)
    app.include_router(audit.router)
    app.include_router(notify.pages)
    app.include_router(notify.api, prefix="/api", responses=API_ERRORS)
    app.include_router(metering.pages)
    app.include_router(esco_home.pages)
    app.include_router(baselines.pages)
    app.include_router(settlement_list.pages)  # before settlement.pages: /settlements/bulk/… is not a number
    app.include_router(settlement.pages)
    app.include_router(tariffs.pages)
    app.include_router(settlement.api, prefix="/api", responses=API_ERRORS)
    app.include_router(tariffs.api, prefix="/api", responses=API_ERRORS)
    app.include_router(carbon.pages)
    app.include_router(carbon_api.router, prefix="/api", responses=API_ERRORS)
    app.include_router(baselines.api, prefix="/api", responses=API_ERRORS)
    app.include_router(metering.api, prefix="/api", responses=API_ERRORS)
    app.include_router(contracts.api, prefix="/api", responses=API_ERRORS)
    app.include_router(org.api, prefix="/api", responses=API_ERRORS)

    @app.get("/", include_in_schema=False)
    def home(user: CurrentUser) -> Response:
        """The bureau opens its portfolio first; an ESCO its home (money, countersignatures, data gaps, imports)."""
        return RedirectResponse("/home" if user.role == "esco" else "/portfolio", status_code=303)

    @app.get("/api/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/api/openapi.json", title="emc API",
                                   swagger_js_url="/static/swagger/swagger-ui-bundle.js",
                                   swagger_css_url="/static/swagger/swagger-ui.css",
                                   swagger_favicon_url="/static/favicon.svg")

    @app.get("/healthz", include_in_schema=False)
    def health() -> Response:
        """For load balancers and orchestrators: 200 when the database answers and its schema is the one this
        code needs, 503 otherwise; with a read replica, the replica too (pages read from it). No login, and nothing
        about the data."""
        answers: dict[str, str] = {}
        for name, checked in (("database", engine), ("replica", read_engine)):
            if name == "replica" and checked is engine:
                continue
            try:
                current = current_revision(checked)
            except SQLAlchemyError:
                log.exception("health check: the %s does not answer", name)
                return JSONResponse({"status": "unavailable", **answers, name: "unreachable"}, status_code=503)
            if current != head_revision():
                return JSONResponse({"status": "unavailable", **answers, name: "ok", "migrations": "not at head"},
                                    status_code=503)
            answers[name] = "ok"
        return JSONResponse({"status": "ok", **answers, "migrations": "at head", "version": __version__})

    if settings.run_scheduler:
        @app.on_event("startup")
        def _scheduler() -> None:  # several workers: the scheduler lock elects the one that runs it
            from emc.jobs.scheduler import start_background

            start_background(engine)

    errors.install(app)
    return app
