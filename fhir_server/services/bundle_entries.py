"""The entries of a batch or transaction Bundle, read and checked: each `request` with its
method, url and conditions (http://hl7.org/fhir/R4/bundle.html#Bundle.entry.request), and
the JSON Patch a PATCH entry carries (http://hl7.org/fhir/R4/http.html#patch)."""

import binascii
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from urllib.parse import parse_qsl, unquote, urlsplit

from fhir_server.conformance import json_format
from fhir_server.conformance.messages import Phrase, phrase, refusal
from fhir_server.conformance.primitives import lone_surrogate, primitive_type, shape_excess
from fhir_server.errors import BadRequest, FhirError, NotFound, NotSupported
from fhir_server.search.request import PRESENTATION, check_query_counts
from fhir_server.search.types.date import parse_date
from fhir_server.search.types.reference import LOCAL_REFERENCE
from fhir_server.services.preconditions import (
    UNCONDITIONAL,
    VERSION_ID,
    WRITE_METHODS,
    Precondition,
    write_precondition,
)
from signing.jws import base64_binary

# Transaction processing order (http.html#trules): deletes, creates, updates, then reads.
ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
_READS = frozenset(("GET", "HEAD"))
# The methods each shape of request.url takes (http.html#summary): anything else, such as a
# POST to `Patient/1` or a DELETE of `Patient/1/x`, is refused rather than taken for another
# interaction on the resource its first segments name.
_METHODS_BY_SHAPE = {
    "type": frozenset(ORDER),
    "search": _READS,
    "history": _READS,
    "instance": frozenset(("GET", "HEAD", "PUT", "PATCH", "DELETE")),
    "version": _READS,
    "compartment": _READS,
    "operation": frozenset(ORDER),  # the operation answers a method it does not take
}
# Bundle.entry.request's string elements (bundle.html#Bundle.entry.request).
_REQUEST_STRINGS = ("method", "url", "ifNoneMatch", "ifModifiedSince", "ifMatch", "ifNoneExist")


@dataclass
class Entry:
    index: int
    method: str
    resource_type: str
    resource_id: str | None = None
    vid: str | None = None
    query: str | None = None
    full_url: str | None = None
    resource: object = None
    if_none_exist: str | None = None
    precondition: Precondition = UNCONDITIONAL
    # Conditional read (bundle.html#Bundle.entry.request.ifNoneMatch): 304 when they hold.
    if_none_match: str | None = None
    if_modified_since: datetime | None = None
    assigned_id: str | None = field(default=None)
    history: bool = False  # `Type/_history` or `Type/id/_history`
    # `Patient/123` of a compartment search (`Patient/123/Type`, or `Patient/123/*`: every type)
    compartment: str | None = None
    # A conditional PUT's criteria once its target is resolved (`resource_id`), checked
    # again when it is written: the transaction's creates come before it.
    resolved_criteria: str | None = None
    # It matched nothing and its body has no id: `resource_id` is a new one the transaction
    # made up, which the entry's messages do not name (no request did, it exists nowhere).
    creates_new: bool = False
    # A version-specific reference of the transaction names the version its update writes
    # (`written_versions`): one is written even when the content is the stored one's.
    new_version: bool = False
    # The path segments of an operation's URL (`Patient/1/$everything`), which the API runs.
    operation: tuple[str, ...] | None = None

    @property
    def location(self) -> str:
        return f"Bundle.entry[{self.index}]"

    @property
    def criteria(self) -> str:
        """The search criteria of a conditional PUT, PATCH or DELETE (one without an id)."""
        assert self.query is not None, "parse_entry refuses entries with neither id nor query"
        return self.query


# The methods each condition of Bundle.entry.request applies to (bundle.html).
_CONDITIONS = {"ifNoneExist": ("POST",), "ifMatch": ("PUT", "PATCH", "DELETE")}


def check_create_parameters(names: Iterable[str], condition: str | Phrase,
                            expression: str | None = None) -> None:
    """A create takes no parameters in its URL but `_format` and `_pretty` (http.html#create).
    Some client libraries send a conditional create's criteria there (`POST
    Patient?identifier=...`): ignored, each call made another resource, so 400 naming where
    they go, `condition` (http.html#ccreate); `expression` is where they were, else the first
    of them."""
    if criteria := [name for name in names if name not in PRESENTATION]:
        raise refusal(BadRequest, "entry.create-parameters", expression or criteria[0],
                      names=", ".join(criteria), condition=condition)


def parse_entry(index: int, raw: object, base: str) -> Entry:
    where = f"Bundle.entry[{index}]"
    if not isinstance(raw, dict) or not isinstance(raw.get("request"), dict):
        raise refusal(BadRequest, "entry.no-request", f"{where}.request", where=where)
    request = raw["request"]
    for name, value in (("fullUrl", raw.get("fullUrl")),
                        *((f"request.{key}", request.get(key)) for key in _REQUEST_STRINGS)):
        if value is not None and not isinstance(value, str):
            raise refusal(BadRequest, "entry.not-a-string", f"{where}.{name}", where=where,
                          name=name)
    method, url = request.get("method"), request.get("url")
    if method not in ORDER or not url:
        raise refusal(BadRequest, "entry.method-and-url", f"{where}.request", where=where,
                      methods=", ".join(ORDER))
    if url.lower().startswith(base.lower() + "/"):  # a URL's scheme and host have no case
        url = url[len(base) + 1 :]
    elif (named := urlsplit(url.partition("?")[0])).scheme or named.netloc:
        raise refusal(BadRequest, "entry.url-elsewhere", f"{where}.request.url", where=where,
                      url=url, base=base)
    for condition, methods in _CONDITIONS.items():
        if request.get(condition) is not None and method not in methods:
            # Ignored, a PUT with ifNoneExist meant as "create unless it exists" overwrote.
            raise refusal(BadRequest, "entry.condition-not-for-method",
                          f"{where}.request.{condition}", where=where, condition=condition,
                          method=method, methods=" and ".join(methods),
                          vi={"methods": " và ".join(methods)})
    path, _, query = url.partition("?")
    parts = _segments(urlsplit(path).path, where)
    # search-system, `?_type=Patient,Group&...` or `_search?...`: every type's search.
    system_search = method in ("GET", "HEAD") and parts in ([], ["_search"])
    if not parts and not system_search:
        raise refusal(BadRequest, "entry.url-without-type", f"{where}.request.url", where=where,
                      url=url)
    entry = Entry(
        index,
        method,
        "*" if system_search else parts[0],
        query=query or None,
        full_url=raw.get("fullUrl"),
        resource=raw.get("resource"),
        if_none_exist=request.get("ifNoneExist"),
        precondition=write_precondition(method, request.get("ifMatch"),
                                        request.get("ifNoneMatch"), f"{where}.request"),
        if_none_match=None if method in WRITE_METHODS else request.get("ifNoneMatch"),
        if_modified_since=_instant(request.get("ifModifiedSince"),
                                   f"{where}.request.ifModifiedSince"),
    )
    if system_search:
        return entry
    shape, entry.resource_id, entry.vid = _url_shape(parts, where)
    if shape == "operation":  # its input and methods are the operation's to check
        entry.operation = tuple(parts)
        return entry
    if shape == "compartment":  # `Patient/123/Observation`: a search of Observation
        entry.compartment, entry.resource_type, entry.resource_id = (
            f"{parts[0]}/{parts[1]}", parts[2], None)
    if method not in _METHODS_BY_SHAPE[shape]:
        raise refusal(BadRequest, "entry.no-interaction", f"{where}.request.url", where=where,
                      method=method, url=url)
    entry.history = shape == "history"
    if method == "POST":  # as the same request over HTTP is
        names = [name for name, _ in parse_qsl(query, keep_blank_values=True)]
        check_create_parameters(names, f"{where}.request.ifNoneExist", f"{where}.request.url")
    if method in ("POST", "PUT") and not isinstance(entry.resource, dict):
        raise refusal(BadRequest, "entry.no-resource", f"{where}.resource", where=where,
                      method=method)
    _check_full_url(entry, where)
    if method in ("PUT", "DELETE", "PATCH") and not (entry.resource_id or entry.query):
        raise refusal(BadRequest, "entry.no-target", f"{where}.request.url", where=where,
                      method=method)
    return entry


def check_entry_parameters(entry: Entry, max_parameters: int, max_repeats: int) -> None:
    """The bounds of a request's parameters (FHIR_MAX_PARAMETERS, FHIR_MAX_PARAMETER_REPEATS)
    on the entry's `request.url` and `ifNoneExist`, as on the same request alone: each entry
    is a request's work, and one of 20,000 search criteria held the server 6 to 22 s."""
    try:
        for query in (entry.query, entry.if_none_exist):
            check_query_counts(query or "", max_parameters, max_repeats)
    except BadRequest as refused:
        raise in_entry(entry, refused) from None


def _segments(path: str, where: str) -> list[str]:
    """The path's segments, percent-decoded as a request's over HTTP are (`Patient/%63...`
    names `Patient/c...`); each on its own, so an escaped `/` stays inside its segment."""
    try:
        return [unquote(part, errors="strict") for part in path.split("/") if part]
    except UnicodeDecodeError:
        raise refusal(BadRequest, "entry.url-not-utf8", f"{where}.request.url",
                      where=where) from None


def _check_full_url(entry: Entry, where: str) -> None:
    """A RESTful fullUrl "SHALL NOT disagree with the id in the resource" (bundle.html,
    Bundle.entry.fullUrl): 400 when it names another type or id than the resource has. The
    type is checked without an id too (a create's): references to the fullUrl are given the
    entry's new `Type/id`, and `Organization/o1` would have become a Patient. (A PATCH's
    resource is its patch, not the resource its fullUrl names.)"""
    resource, full_url = entry.resource, entry.full_url
    if (entry.method not in ("POST", "PUT") or not isinstance(resource, dict) or not full_url
            or full_url.startswith("urn:")):
        return
    # The `Type/id` a RESTful fullUrl ends with (bundle.html#bundle-unique).
    named = LOCAL_REFERENCE.match("/".join(urlsplit(full_url).path.rsplit("/", 2)[-2:]))
    kind = resource.get("resourceType")
    if named is None or not isinstance(kind, str):  # no type: the write refuses the body
        return
    if named[1] != kind or named[2] != resource.get("id", named[2]):
        said = {"where": where, "full_url": full_url, "named": named[0]}
        if "id" in resource:
            raise refusal(BadRequest, "entry.full-url-names-other", f"{where}.fullUrl",
                          actual=f"{kind}/{resource['id']}", **said)
        raise refusal(BadRequest, "entry.full-url-names-other-type", f"{where}.fullUrl",
                      type=kind, **said)


def _instant(value: str | None, expression: str) -> datetime | None:
    """Bundle.entry.request.ifModifiedSince: a FHIR instant, with its time zone."""
    if value is None:
        return None
    if not isinstance(value, str) or primitive_type("instant").problem(value) is not None:
        raise refusal(BadRequest, "entry.not-an-instant", expression, value=value)
    # Read as search reads instants: a leap second (`23:59:60Z`, which R4's grammar allows)
    # is the last millisecond of its minute; datetime.fromisoformat refused it.
    return parse_date(value).low


def _url_shape(parts: list[str], where: str) -> tuple[str, str | None, str | None]:
    """What request.url's path names, with the id and version in it."""
    if parts[-1].startswith("$") and not any(p.startswith("$") for p in parts[:-1]):
        return "operation", None, None
    if parts[0] in ("metadata", "_history") or any(p.startswith("$") for p in parts):
        # 400 as HAPI answers an interaction it cannot run there, with code not-supported.
        raise refusal(NotSupported, "entry.not-in-a-bundle", f"{where}.request.url",
                      where=where, path="/".join(parts))
    match parts:
        case [_]:
            return "type", None, None
        case [_, "_search"]:
            return "search", None, None
        case [_, "_history"]:
            return "history", None, None
        case [_, resource_id]:
            return "instance", resource_id, None
        case [_, resource_id, "_history"]:
            return "history", resource_id, None
        case [_, resource_id, kind] if kind[:1].isupper() or kind == "*":
            return "compartment", resource_id, None
        case [_, resource_id, "_history", vid]:
            if not VERSION_ID.fullmatch(vid):  # "²" is a digit to str.isdigit, not to int
                raise NotFound(f"{where}: version '{vid}' is not known",
                               expression=f"{where}.request.url")
            return "version", resource_id, vid
    raise refusal(BadRequest, "entry.url-no-interaction", f"{where}.request.url", where=where,
                  path="/".join(parts))


def not_supported(where: str, message_id: str) -> NotSupported:
    """400 not-supported at the entry's request.url, as HAPI answers what it cannot run in a
    Bundle entry."""
    return refusal(NotSupported, message_id, f"{where}.request.url", where=where)


def patch_operations(entry: Entry, max_depth: int) -> object:
    """PATCH entries carry a FHIRPath Patch as a Parameters resource, or a JSON Patch as a
    Binary resource (http.html#patch), held to the limits of a JSON body."""
    binary = entry.resource
    if isinstance(binary, dict) and binary.get("resourceType") == "Parameters":
        return binary
    if not (
        isinstance(binary, dict)
        and binary.get("resourceType") == "Binary"
        and binary.get("contentType") == "application/json-patch+json"
    ):
        raise refusal(BadRequest, "entry.patch-kind", f"{entry.location}.resource",
                      where=entry.location)
    data = binary.get("data", "")
    too_deep = refusal(BadRequest, "entry.patch-too-deep", f"{entry.location}.resource.data",
                       where=entry.location, max=max_depth)
    try:
        text = base64_binary(data if isinstance(data, str) else "-")
    except binascii.Error:
        raise _invalid_patch(entry, phrase("entry.patch-not-base64")) from None
    try:
        operations = json_format.loads(text)
    except RecursionError:
        raise too_deep from None
    except ValueError as bad:
        raise _invalid_patch(entry, json_format.json_problem(bad)) from None
    if shape_excess(operations, max_depth):
        raise too_deep
    if (where := lone_surrogate(operations, text)) is not None:
        raise refusal(BadRequest, "entry.patch-lone-surrogate",
                      f"{entry.location}.resource.data", where=entry.location, at=where)
    return operations


def _invalid_patch(entry: Entry, problem: Phrase) -> BadRequest:
    return refusal(BadRequest, "entry.patch-invalid", None, where=entry.location,
                   problem=problem)


# Headers that describe the entry's resource, not the Bundle endpoint the response is of.
_RESOURCE_HEADERS = frozenset(("etag", "last-modified", "location", "content-location"))


def in_entry(entry: Entry, error: FhirError) -> FhirError:
    """The same error, with its diagnostics and expressions placed in the Bundle entry, and
    without the headers that describe the entry's resource (a 410's ETag), which would say
    something false of `POST [base]` (RFC 9110 §8.8.3)."""

    def place(expression: str) -> str:
        head, dot, rest = expression.partition(".")
        if head == entry.resource_type:  # the entry's resource, or an element of it
            return f"{entry.location}.resource{dot}{rest}"
        if expression == "resourceType":  # the body's, as check_body names it
            return f"{entry.location}.resource.resourceType"
        if expression.startswith("Bundle"):
            return expression
        # A search parameter, a header: a part of the entry's request, its url's if it has
        # criteria (`Bundle.entry[1].birthdate` was no path of the Bundle), else its
        # `ifNoneExist`'s, a conditional create's criteria.
        return f"{entry.location}.request" + (
            ".url" if entry.query else ".ifNoneExist" if entry.if_none_exist else "")

    def placed(text: str) -> str:
        # Once: a refusal made for the entry may name it already.
        return text if text.startswith(entry.location) else where + text

    named_id = None if entry.creates_new else entry.resource_id
    target = "/".join(part for part in (entry.resource_type, named_id) if part)
    where = f"{entry.location} ({entry.method} {target}): "
    issues = [
        replace(issue, diagnostics=placed(issue.diagnostics),
                diagnostics_vi=issue.diagnostics_vi and placed(issue.diagnostics_vi),
                expression=tuple(place(e) for e in issue.expression) or (entry.location,))
        for issue in error.issues
    ]
    headers = {name: value for name, value in error.headers.items()
               if name.lower() not in _RESOURCE_HEADERS}
    return type(error)(issues[0].diagnostics, issues=issues, headers=headers)
