"""Values the middlewares and routes leave for each other on a request (`request.state`)."""

from typing import Any

from starlette.requests import HTTPConnection


def state_value(request: HTTPConnection, name: str) -> Any:
    """`getattr(request.state, name, None)` without the AttributeError that Starlette's
    `State` raises (and formats) for a name not set: the audit trail looks up several that
    most requests never set, which cost 3% of a read's CPU."""
    return request.scope.get("state", {}).get(name)
