"""HTTP face of the development signing service: Cloud Signature Consortium API v2 routes.

``POST <base>/csc/v2/info``, ``credentials/list``, ``credentials/info`` and
``signatures/signHash`` with the JSON bodies of CSC API v2.0.0.2
(https://cloudsignatureconsortium.org/resources/download-api-specifications/). Every method
but ``info`` (which the specification leaves open) needs ``Authorization: Bearer <token>``.
Errors are CSC JSON ``{"error", "error_description"}``: 400 invalid_request, 401
invalid_token, 404 for unknown paths. For tests, the demo and ``--dev`` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import socket
from collections.abc import Iterator
from typing import Annotated, Any

import uvicorn
from fastapi import APIRouter, Body, Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from fhir_server.services.dev_signing import CscServiceError, DevSigningService

JsonBody = Annotated[dict[str, Any], Body()]


def create_dev_csc_app(service: DevSigningService, token: str) -> FastAPI:
    """The CSC API v2 routes of `service` under ``/csc/v2``, guarded by bearer `token`."""
    expected = f"Bearer {token}".encode()

    def authorized(authorization: Annotated[str | None, Header()] = None) -> None:
        if authorization is None or not hmac.compare_digest(authorization.encode(), expected):
            raise CscServiceError(401, "invalid_token", "Missing or invalid bearer token")

    router = APIRouter(prefix="/csc/v2")
    guarded = APIRouter(prefix="/csc/v2", dependencies=[Depends(authorized)])

    @router.post("/info")
    def info():
        """CSC API v2 ``info``."""
        return service.info()

    @guarded.post("/credentials/list")
    def credentials_list(body: JsonBody):
        """CSC API v2 ``credentials/list``."""
        return service.list_credentials(body.get("userID"), body.get("clientData"))

    @guarded.post("/credentials/info")
    def credentials_info(body: JsonBody):
        """CSC API v2 ``credentials/info``."""
        return service.credential_info(body.get("credentialID"))

    @guarded.post("/signatures/signHash")
    def sign_hash(body: JsonBody):
        """CSC API v2 ``signatures/signHash``."""
        return service.sign_hash(
            body.get("credentialID"),
            body.get("hashes"),
            body.get("hashAlgorithmOID"),
            body.get("signAlgo"),
        )

    app = FastAPI(
        title="Development CSC signing service", openapi_url=None, docs_url=None, redoc_url=None
    )
    app.include_router(router)
    app.include_router(guarded)

    @app.exception_handler(CscServiceError)
    async def csc_error(request: Request, error: CscServiceError):
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        return _error(error.status, error.error, error.description, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, error: RequestValidationError):
        return _error(400, "invalid_request", "The body must be a JSON object")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException):
        return _error(error.status_code, "invalid_request", str(error.detail))

    return app


class DevCscServer:
    """The development CSC service served from this event loop; `url` is its API root."""

    def __init__(self, server: uvicorn.Server, task: asyncio.Task, url: str):
        self._server = server
        self._task = task
        self.url = url

    async def stop(self) -> None:
        """Stop serving and wait until it has stopped."""
        self._server.should_exit = True
        await self._task


async def start_dev_csc(
    service: DevSigningService, token: str, host: str = "127.0.0.1", port: int = 0
) -> DevCscServer:
    """Serve :func:`create_dev_csc_app` on `host`:`port` (0: a free port) in the running loop."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    # log_config/log_level None: leave the host process's logging as it is configured.
    config = uvicorn.Config(
        create_dev_csc_app(service, token), lifespan="off", log_config=None, log_level=None
    )
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            sock.close()
            task.result()
            raise RuntimeError("the development CSC service did not start")
        await asyncio.sleep(0.01)
    bound = sock.getsockname()[1]
    authority = f"[{host}]" if family == socket.AF_INET6 else host
    return DevCscServer(server, task, f"http://{authority}:{bound}/csc/v2")


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signals to its host: its owner stops it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _error(
    status: int, error: str, description: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=headers
    )
