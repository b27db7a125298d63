"""Prometheus metrics: request latency per route template, scheduled jobs' durations and outcomes
(``emc.jobs.scheduler``), and the settlements waiting for someone, at ``/metrics`` in Prometheus' text format.

Only administrators (bearer token or session) and addresses in ``EMC_METRICS_ALLOW`` read it; anyone else gets
the same 404 as for a page that does not exist, so the endpoint tells an anonymous caller nothing. With several
uvicorn workers (``emc serve --workers N``) each process writes its samples to ``PROMETHEUS_MULTIPROC_DIR``
(set by ``emc serve``) and a scrape of any worker sums them all.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from emc.org.models import Role
from emc.org.scope import NotFound
from emc.web.deps import LoginRequired, optional_user
from emc.web.security import request_client

REQUEST_SECONDS = Histogram("emc_http_request_duration_seconds", "Time to answer an HTTP request, by route template.",
                            ["method", "route", "status"],
                            buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30))

router = APIRouter(include_in_schema=False)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    REQUEST_SECONDS.labels(method, route, str(status)).observe(seconds)


class SettlementQueue:
    """Settlements waiting for the next step, counted when scraped (one grouped query)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from emc.settlement.models import Settlement, SettlementStatus

        waiting = {SettlementStatus.draft: "submission", SettlementStatus.submitted: "approval",
                   SettlementStatus.approved: "issue", SettlementStatus.issued: "payment"}
        gauge = GaugeMetricFamily("emc_settlements_waiting", "Settlements waiting for their next step.",
                                  labels=["waiting_for"])
        with Session(self.engine) as session:
            counts = dict(session.execute(select(Settlement.status, func.count()).where(
                Settlement.status.in_(list(waiting))).group_by(Settlement.status)).all())
        for status, step in waiting.items():
            gauge.add_metric([step], counts.get(status, 0))
        yield gauge


def allowed_networks(setting: str) -> list[Any]:
    """``EMC_METRICS_ALLOW``: comma-separated addresses or networks (e.g. ``127.0.0.1,10.0.0.0/8``)."""
    return [ipaddress.ip_network(part.strip(), strict=False) for part in setting.split(",") if part.strip()]


def _may_read(request: Request) -> bool:
    host = request_client(request)  # behind a trusted proxy, the client it forwarded for, never the proxy
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None and any(address in net for net in request.app.state.metrics_allow):
        return True
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        try:
            user = optional_user(request, session)  # the same bearer token or session cookie as every page
        except LoginRequired:
            return False
    return user is not None and user.role == Role.admin


@router.get("/metrics")
def metrics(request: Request) -> Response:
    if not _may_read(request):
        raise NotFound("page")  # the same answer as for a path that does not exist
    registry: Any = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    scrape = CollectorRegistry()
    scrape.register(SettlementQueue(request.app.state.engine))
    body = generate_latest(registry) + generate_latest(scrape)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
