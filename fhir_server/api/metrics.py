"""`GET /metrics` in the Prometheus text format, and the measurement of every FHIR request:
its interaction, resource type, status, latency and MongoDB round trips.

Served only with FHIR_METRICS=public, outside /fhir: no token, no AuditEvent, no rate limit.
Labels are bounded: interactions as the audit trail names them, resource types the server
knows (any other: `other`), status codes; never ids or paths.
"""

import os
import time
from collections import Counter as Tally
from functools import cache

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    multiprocess,
)
from prometheus_client.exposition import choose_encoder
from starlette.types import Receive, Scope, Send

from fhir_server.api.asgi import HttpMiddleware, StatusWatch
from fhir_server.api.audit import _interaction
from fhir_server.conformance.registry import is_supported
from fhir_server.services.metrics import read_gauges
from fhir_server.storage.metrics import request_commands

REQUESTS = Counter(
    "fhir_requests", "FHIR requests answered, by interaction, resource type and status.",
    ["interaction", "resource_type", "status"],
)
REQUEST_SECONDS = Histogram(
    "fhir_request_seconds", "Time from a FHIR request's arrival to the end of its response.",
    ["interaction", "resource_type"],
    buckets=(0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
REQUEST_ROUND_TRIPS = Histogram(
    "fhir_mongodb_round_trips_per_request", "MongoDB commands one FHIR request sent.",
    ["interaction"],
    buckets=(0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233),
)

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Every metric of this process (of all processes sharing PROMETHEUS_MULTIPROC_DIR), in
    the text format the scraper asks for (Prometheus 0.0.4 by default, or OpenMetrics)."""
    state = request.app.state
    exports = getattr(state, "exports", None)
    await read_gauges(getattr(state, "audit", None), exports.jobs if exports else None)
    registry = REGISTRY
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    encode, media_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(registry), headers={"Cache-Control": "no-store"},
                    media_type=media_type)


class RequestMetrics(HttpMiddleware):
    """Measures every request under /fhir (a pure ASGI middleware: no task per request)."""

    prefix = "/fhir"

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        watched = StatusWatch(send)
        commands: Tally[str] = Tally()
        token = request_commands.set(commands)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, watched)
        finally:
            request_commands.reset(token)
            # 500 when no response started
            _observe(scope, watched.status or 500, time.perf_counter() - started,
                     commands.total())


def _observe(scope: Scope, status: int, seconds: float, round_trips: int) -> None:
    # As the audit trail names it: what the route said (`request.state`), else the route's.
    said = scope.get("state", {}).get("interaction")
    interaction = said or _interaction(Request(scope)) or "operation"
    kind = scope.get("path_params", {}).get("resource_type")
    resource_type = "none" if kind is None else kind if is_supported(kind) else "other"
    requests, latency, commands = _series(interaction, resource_type, status)
    requests.inc()
    latency.observe(seconds)
    commands.observe(round_trips)


@cache  # `labels()` takes a lock and builds a key each time; the label sets are few
def _series(interaction: str, resource_type: str, status: int) -> tuple:
    return (REQUESTS.labels(interaction, resource_type, str(status)),
            REQUEST_SECONDS.labels(interaction, resource_type),
            REQUEST_ROUND_TRIPS.labels(interaction))


def install_metrics(app: FastAPI) -> None:
    """With FHIR_METRICS=public: measure requests (added last, it runs first, so refused
    requests count too) and serve /metrics."""
    if app.state.settings.metrics != "public":
        return
    disable_created_metrics()  # a `_created` series beside each one: twice the series for nothing
    app.add_middleware(RequestMetrics)
    app.include_router(router)
