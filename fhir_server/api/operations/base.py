"""An operation as the router sees it: its descriptor and the function that answers it."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fastapi import Request
from fastapi.responses import Response

from fhir_server.api.dependencies import preferences, request_base, strict_handling
from fhir_server.api.media import json_body
from fhir_server.auth.tokens import Principal
from fhir_server.conformance.operations import (
    OperationDescriptor,
    input_names,
    primitive_inputs,
    resource_inputs,
    single_inputs,
)
from fhir_server.errors import BadRequest
from fhir_server.search.request import PRESENTATION
from fhir_server.services.parameters import (
    check_parameters_shape,
    parameter_pairs,
    refuse_repeated,
)
from fhir_server.services.resources import ResourceService

_UNREAD = object()


@dataclass
class OperationCall:
    """One invocation: where (type, id), by whom, and its input."""

    request: Request
    descriptor: OperationDescriptor
    caller: Principal
    base: str
    resource_type: str | None
    resource_id: str | None
    version_id: str | None = None  # of `[type]/[id]/_history/[vid]/$name`
    # The body once read (a request's stream is read once): the router may look at it first.
    _body: object = field(default=_UNREAD, init=False, repr=False)

    @classmethod
    async def of(
        cls, request: Request, descriptor: OperationDescriptor, resource_type: str | None,
        resource_id: str | None, caller: Principal, version_id: str | None = None,
    ) -> "OperationCall":
        base = await request_base(request)
        return cls(request, descriptor, caller, base, resource_type, resource_id, version_id)

    @property
    def service(self) -> ResourceService:
        return self.request.app.state.service

    async def strict(self) -> bool:
        """`Prefer: handling=strict`: unknown parameters are errors, not ignored."""
        return strict_handling(await preferences(self.request))

    async def body(self) -> object:
        if self._body is _UNREAD:
            settings = self.request.app.state.settings
            body = await json_body(self.request, settings.max_body_bytes,
                                   settings.max_json_depth)
            if self.resource_type not in self.descriptor.unstored_types:
                # Not on `Parameters/$validate`, whose body is the data it checks.
                check_parameters_shape(body)
            self._body = body
        return self._body

    async def posted_body(self) -> object | None:
        """The body of a POST that sends one; None by GET (or HEAD), and for a POST whose
        parameters are all in the URL (`without_body`), which every operation then reads
        from there (operations.html: servers SHALL support POST for all operations)."""
        if self.request.method != "POST" or self.without_body():
            return None
        return await self.body()

    def without_body(self) -> bool:
        """A POST that sends no body at all (whatever Content-Type it names): its parameters
        are all in the URL (as clients invoke an operation that changes state,
        `$document?persist=true`, or `$validate?mode=delete`)."""
        headers = self.request.headers
        return headers.get("content-length", "0") == "0" and "transfer-encoding" not in headers

    def query_parameters(self) -> list[tuple[str, str]]:
        """The URL's parameters, not `_format` and `_pretty`, which every interaction takes
        (http.html#parameters) and negotiation has read. One the OperationDefinition declares
        as a resource is 400: a URL cannot carry it (operations.html#request: GET is for
        operations whose parameters are all primitive), and ignoring it would answer for
        another resource."""
        resources = resource_inputs(self.descriptor.definition)
        pairs = [(name, value) for name, value in self.request.query_params.multi_items()
                 if name not in PRESENTATION]
        if (name := next((name for name, _ in pairs if name in resources), None)) is not None:
            raise BadRequest(f"'{name}' cannot be written in a URL: POST a Parameters with a "
                             f"{resources[name]} as its parameter.resource", expression=name)
        return pairs

    async def parameters(self) -> list[tuple[str, str]]:
        """The query's parameters, plus those of a POSTed `Parameters` resource."""
        return self.input_pairs(await self.posted_body())

    def input_pairs(self, body: object | None) -> list[tuple[str, str]]:
        """The query's parameters plus those of `body`, a `Parameters` (resource-valued
        ones left out, see `resource_parameter`), held to the OperationDefinition: each of
        its declared type, and one it allows once given once."""
        definition, operation = self.descriptor.definition, f"${self.descriptor.name}"
        pairs = self.query_parameters()
        if body is not None:
            pairs += parameter_pairs(body, operation, tuple(resource_inputs(definition)),
                                     declared=primitive_inputs(definition))
        refuse_repeated(pairs, operation, single_inputs(definition))
        return pairs

    async def refuse_unknown_parameters(self) -> None:
        """With `Prefer: handling=strict`, 400 for a parameter (in the query, or of a POSTed
        `Parameters`) that the operation's definition does not declare (search.html#errors:
        "return an error for any unknown or unsupported parameter")."""
        declared = input_names(self.descriptor.definition)
        if declared is None or not await self.strict():
            return
        names = [name for name in self.request.query_params if name not in PRESENTATION]
        body = await self.posted_body()
        if isinstance(body, dict) and body.get("resourceType") == "Parameters":
            names += [p["name"] for p in body.get("parameter") or ()
                      if isinstance(p, dict) and isinstance(p.get("name"), str)]
        for name in names:
            if name not in declared:
                raise BadRequest(f"${self.descriptor.name} has no parameter '{name}' (it takes "
                                 f"{', '.join(sorted(declared)) or 'none'})", expression=name)

    async def single_parameters(self, names: tuple[str, ...]) -> dict[str, str]:
        """The parameters `names`, each given at most once (400 otherwise); any other is
        ignored, or 400 with `Prefer: handling=strict`."""
        values: dict[str, str] = {}
        for name, value in await self.parameters():
            if name not in names:
                if await self.strict():
                    raise BadRequest(f"${self.descriptor.name} has no parameter '{name}'",
                                     expression=name)
                continue
            if name in values:
                raise BadRequest(f"${self.descriptor.name} takes one {name}", expression=name)
            values[name] = value
        return values


Handler = Callable[[OperationCall], Awaitable[Response]]


@dataclass(frozen=True)
class Operation:
    descriptor: OperationDescriptor
    handle: Handler
