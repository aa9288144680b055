"""`[base]/Patient/` is `[base]/Patient` (HAPI and Firely answer both). Starlette would
otherwise answer 307 to a URL built from the client's `Host` header, an empty body that
many FHIR clients do not follow with their POST or PUT."""

from starlette.types import Receive, Scope, Send

from fhir_server.api.asgi import HttpMiddleware

_BASE = "/fhir/"


class TrailingSlash(HttpMiddleware):
    prefix = _BASE

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        if path.endswith("/") and path != _BASE:
            scope = {**scope, "path": path[:-1],
                     "raw_path": scope.get("raw_path", path.encode()).removesuffix(b"/")}
        await self.app(scope, receive, send)


def install_trailing_slash(app) -> None:
    app.add_middleware(TrailingSlash)
