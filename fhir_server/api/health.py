"""Liveness and readiness probes, outside `/fhir`: no token, no AuditEvent (they are no FHIR
interaction), answered in the health check response format of
https://datatracker.ietf.org/doc/html/draft-inadarei-api-health-check-06."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from fhir_server.services.health import Readiness
from fhir_server.storage.database import RETRY_AFTER_SECONDS

HEALTH_JSON = "application/health+json"
_NO_STORE = {"Cache-Control": "no-store"}

router = APIRouter(prefix="/health")


def _health(status: str, status_code: int = 200, **members: object) -> JSONResponse:
    # A 503 is temporary: say when to look again, as the FHIR endpoints do (RFC 9110 §10.2.3).
    headers = _NO_STORE if status_code != 503 else {
        **_NO_STORE, "Retry-After": str(RETRY_AFTER_SECONDS)}
    return JSONResponse({"status": status, **members}, status_code, headers,
                        media_type=HEALTH_JSON)


@router.get("/live")
async def live() -> JSONResponse:
    """The process is up and its event loop answers."""
    return _health("pass")


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    """200 when every readiness check passes, else 503 naming those that failed."""
    readiness: Readiness | None = getattr(request.app.state, "readiness", None)
    if readiness is None:
        return _health("fail", 503, output="the server is starting or stopping")
    results = await readiness.run()
    checks = {
        name: [{"status": "pass"} if result.ok else {"status": "fail", "output": result.detail}]
        for name, result in results.items()
    }
    failed = [name for name, result in results.items() if not result.ok]
    if failed:
        return _health("fail", 503, output=f"failed: {', '.join(failed)}", checks=checks)
    return _health("pass", checks=checks)
