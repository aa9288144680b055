"""The base of the pure ASGI middlewares: no task and no wrapped response per request, which
Starlette's `@app.middleware("http")` costs (half of a read's time, profiled). HTTP requests
under `prefix` go to `handle`; anything else (lifespan, other paths) passes through."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HttpMiddleware:
    prefix = ""  # the paths handled; "" for every one

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class StatusWatch:
    """A `send` that remembers the response's status once the response has started."""

    def __init__(self, send: Send):
        self.send = send
        self.status: int | None = None

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self.send(message)
