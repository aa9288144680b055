"""Dependencies shared by the routes, as `Annotated` aliases."""

from functools import lru_cache
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Request
from starlette.datastructures import URL
from starlette.requests import HTTPConnection

from fhir_server.api.dates import header_date
from fhir_server.api.media import (
    FORM_PRESENTATION,
    JSON_MEDIA_TYPES,
    field_list,
    form_body,
    json_body,
    response_media_type,
)
from fhir_server.errors import BadRequest
from fhir_server.search.request import PRESENTATION, check_parameter_counts
from fhir_server.services.bundles import BundleProcessor
from fhir_server.services.preconditions import Precondition, write_precondition
from fhir_server.services.resources import ResourceService
from fhir_server.settings import Settings


# Dependencies are `async def` although they wait for nothing: FastAPI would run plain
# functions in its thread pool, a measurable cost on every request.
async def _service(request: Request) -> ResourceService:
    return request.app.state.service


async def _bundles(request: Request) -> BundleProcessor:
    return request.app.state.bundles


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def request_base(request: Request) -> str:
    """The FHIR base URL that links and Locations are built on."""
    configured = request.app.state.settings.base_url
    return configured.rstrip("/") if configured else f"{server_origin(request)}/fhir"


def server_origin(request: HTTPConnection) -> str:
    """`request.base_url` without its trailing slash. Starlette builds it from a copy of the
    scope on every request; it only depends on these four values, so it is built once for
    each combination."""
    scope = request.scope
    host = next((value for name, value in scope["headers"] if name == b"host"), None)
    root_path = scope.get("app_root_path", scope.get("root_path", ""))
    server = scope.get("server")
    return _origin(scope.get("scheme", "http"), host, tuple(server) if server else None,
                   root_path)


@lru_cache(maxsize=256)
def _origin(scheme: str, host: bytes | None, server: tuple | None, root_path: str) -> str:
    scope = {
        "type": "http",
        "scheme": scheme,
        "server": server,
        "root_path": root_path,
        "path": root_path if root_path.endswith("/") else f"{root_path}/",
        "query_string": b"",
        "headers": [] if host is None else [(b"host", host)],
    }
    return str(URL(scope=scope)).rstrip("/")


async def preferences(request: Request) -> dict[str, str]:
    """The `Prefer` header as a dict (RFC 7240): `return`, `handling`, `respond-async`; every
    `Prefer` line counts, and a preference's own parameters (`respond-async; wait=10`) are
    not part of its name or value. Of a preference given twice, the first counts (RFC 7240
    §2: `return=minimal, return=representation` asks for minimal)."""
    found: dict[str, str] = {}
    for part in ",".join(request.headers.getlist("prefer")).split(","):
        name, _, value = part.split(";", 1)[0].partition("=")
        if name := name.strip():  # `handling = strict`: RFC 7240 §2 allows space by the `=`
            found.setdefault(name.lower(), value.strip().strip('"'))
    return found


async def _precondition(request: Request) -> Precondition:
    """The versions a write expects (If-Match, or If-Unmodified-Since), or, with
    `If-None-Match: *`, that there is none (412 instead of overwriting); a header's lines
    are one list (RFC 9110 §5.3). If-None-Exist belongs to a create (http.html#ccreate):
    elsewhere it is 400, as a batch entry's `ifNoneExist` on a PUT is, not ignored (a PUT
    sent with it to create unless the resource exists overwrote it)."""
    if request.method != "POST" and "if-none-exist" in request.headers:
        raise BadRequest(f"If-None-Exist applies to a create (POST) only, not to a "
                         f"{request.method}: send If-None-Match: * for a PUT that only "
                         "creates, or a conditional update (PUT [type]?criteria)")
    return write_precondition(request.method, field_list(request, "if-match") or None,
                              field_list(request, "if-none-match") or None,
                              unmodified_since=header_date(request, "if-unmodified-since"))


async def negotiate(request: Request) -> None:
    """Refuse (406) a request for a format we cannot send before doing any work; a Binary
    read may ask for the Binary's own content type."""
    is_binary_read = (
        request.method in ("GET", "HEAD")
        and request.path_params.get("resource_type") == "Binary"
        and "resource_id" in request.path_params
    )
    if not is_binary_read:
        response_media_type(request)


async def search_parameters(request: Request) -> list[tuple[str, str]]:
    """Query parameters, plus the form body of `POST [type]/_search`."""
    settings = request.app.state.settings
    params = list(request.query_params.multi_items())
    if request.method == "POST":
        # A search is a few parameters: parsing megabytes of them would hold the server.
        form = await form_body(
            request, min(settings.max_body_bytes, settings.max_search_form_bytes)
        )
        params += form
        state = request.scope.setdefault("state", {})
        # Its AuditEvent records the search as if sent in the query (and the patients named).
        state["audit_query"] = urlencode(params)
        # The query string alone was counted by api/limits.py; now both together.
        check_parameter_counts(params, settings.max_parameters, settings.max_parameter_repeats)
        # `_format` and `_pretty` in the form shape the answer as in the query (its links
        # carry them on to the next pages): 406 now for a format that cannot be sent.
        if presentation := {n: v for n, v in form if n in PRESENTATION and n not in
                            request.query_params}:
            state[FORM_PRESENTATION] = presentation
            response_media_type(request)
    return params


async def history_parameters(request: Request) -> list[tuple[str, str]]:
    """Query parameters of a history, which the service checks as a batch entry's
    (services/history_parameters.py)."""
    return list(request.query_params.multi_items())


def strict_handling(prefer: dict[str, str]) -> bool:
    """`Prefer: handling=strict`: unknown or unsupported parameters are errors (search.html
    #errors); lenient handling, the default, ignores them."""
    return prefer.get("handling") == "strict"


def return_preference(prefer: dict[str, str]) -> str:
    """`Prefer: return=`; an unknown value is ignored, as RFC 7240 asks."""
    choice = prefer.get("return")
    return choice if choice in ("minimal", "OperationOutcome") else "representation"


Service = Annotated[ResourceService, Depends(_service)]
Bundles = Annotated[BundleProcessor, Depends(_bundles)]
ServerSettings = Annotated[Settings, Depends(_settings)]
Base = Annotated[str, Depends(request_base)]
Prefer = Annotated[dict[str, str], Depends(preferences)]
WritePrecondition = Annotated[Precondition, Depends(_precondition)]
SearchParams = Annotated[list[tuple[str, str]], Depends(search_parameters)]
HistoryParams = Annotated[list[tuple[str, str]], Depends(history_parameters)]


class WriteCall:
    """What every write interaction needs: the body, the service, and how to answer."""

    def __init__(
        self,
        request: Request,
        service: Service,
        settings: ServerSettings,
        base: Base,
        prefer: Prefer,
        precondition: WritePrecondition,
    ):
        self.request = request
        self.service = service
        self.settings = settings
        self.base = base
        self.prefer = prefer
        self.precondition = precondition

    async def body(self, media_types: tuple[str, ...] = JSON_MEDIA_TYPES,
                   entries_alone: bool = False) -> object:
        return await json_body(self.request, self.settings.max_body_bytes,
                               self.settings.max_json_depth, media_types,
                               entries_alone=entries_alone)

    async def parsed(self, raw: bytes) -> object:
        """A body already read, in the JSON or XML its Content-Type says."""
        return await json_body(self.request, self.settings.max_body_bytes,
                               self.settings.max_json_depth, read=raw)


Write = Annotated[WriteCall, Depends()]
