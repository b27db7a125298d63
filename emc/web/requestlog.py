"""One JSON log line per request, with a request id that follows the request through every log line it causes.

A reverse proxy's ``X-Request-ID`` is kept (when it looks like an id) so one id ties the proxy's log, ours and
the client's report together; otherwise one is made. The response echoes it. The same middleware times the
request for the ``/metrics`` latency histogram, labelled by route template (``/contracts/{code}``), never by the
raw path, so neither the labels nor the log carry a contract code or a query string.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from emc.web.metrics import observe_request

REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="")
_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
log = logging.getLogger("emc.request")


class JsonFormatter(logging.Formatter):
    """A log record as one JSON object: time, level, logger, message, the request id and any ``extra`` fields."""

    FIELDS = ("method", "route", "status", "duration_ms", "user", "database")

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
                               "logger": record.name, "message": record.getMessage()}
        request_id = REQUEST_ID.get()
        if request_id:
            out["request_id"] = request_id
        for name in self.FIELDS:
            if hasattr(record, name):
                out[name] = getattr(record, name)
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def configure_json_logs(level: int = logging.INFO) -> None:
    """Every log line of the process (ours, uvicorn's, APScheduler's) as JSON on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # we log each request ourselves, with its id


def install(app: FastAPI) -> None:
    @app.middleware("http")
    async def request_id_and_timing(request: Request, call_next: Any) -> Response:
        given = request.headers.get("x-request-id", "")
        request_id = given if _VALID_ID.fullmatch(given) else uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            response.headers["X-Request-ID"] = request_id
            return response
        finally:
            seconds = time.perf_counter() - start
            route = route_template(request.scope)
            observe_request(request.method, route, status, seconds)
            user = getattr(request.state, "user", None)
            # the loaded value only: the request's session is closed and may have expired the object
            username = vars(user).get("username") if user is not None else None
            # which database answered ("primary" or "replica": emc.web.replica); absent when none was opened
            log.info("request", extra={"method": request.method, "route": route, "status": status,
                                       "duration_ms": round(seconds * 1000, 1), "user": username,
                                       "database": getattr(request.state, "database", None)})
            REQUEST_ID.reset(token)


def route_template(scope: MutableMapping[str, Any]) -> str:
    """The matched route's whole template (``/api/contracts/{code}``), for the log and the metrics' labels.

    FastAPI ≥ 0.16x keeps included routers as branches: the matched route's own ``path`` lacks the prefixes
    it was included under (``/api``), so ``GET /api/contracts`` and ``GET /contracts`` would share a label.
    The effective route context FastAPI records in the request scope carries the full template."""
    context = scope.get("fastapi", {}).get("effective_route_context")
    template = getattr(context, "path_format", None) or getattr(scope.get("route"), "path", None)
    return template or "unmatched"
