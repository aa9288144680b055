"""Content negotiation and request bodies (http://hl7.org/fhir/R4/http.html#mime-type)."""

import re
import zlib
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote_to_bytes

from fastapi import Request
from fastapi.responses import Response

from fhir_server.api.bodies_in_flight import large_body_turn, receive
from fhir_server.api.languages import DEFAULT as DEFAULT_LANGUAGE
from fhir_server.api.request_state import state_value
from fhir_server.conformance import json_format
from fhir_server.conformance.capability import PATCH_FORMATS
from fhir_server.conformance.costly_work import in_costly_thread
from fhir_server.conformance.messages import phrased_refusal, refusal
from fhir_server.conformance.primitives import is_digits, lone_surrogate, shape_excess
from fhir_server.conformance.xml_format import read_xml, read_xml_bundle, resource_to_xml
from fhir_server.conformance.xml_rules import in_fhir_namespace, nested_too_deep
from fhir_server.errors import (
    BadRequest,
    InvalidResource,
    Issue,
    NotAcceptable,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from fhir_server.services.offloading import input_size, run_sized
from fhir_server.storage import pages_in_flight

# Bundles with this many entries are rendered in a worker thread (`bundle_response`).
LARGE_BUNDLE_ENTRIES = 100
LARGE_PAGE_BYTES = 2**20  # or pages holding this many bytes of resources
FHIR_JSON = "application/fhir+json"
FHIR_XML = "application/fhir+xml"
# Besides FHIR's own, the generic types http.html#mime-type names, answered in kind.
JSON_MEDIA_TYPES = (FHIR_JSON, "application/json", "text/json")
XML_MEDIA_TYPES = (FHIR_XML, "application/xml", "text/xml")
JSON_PATCH = "application/json-patch+json"
VARY = {"Vary": "Accept"}  # what chooses a FHIR body's format, for caches (RFC 9110 §12.5.5)
# RFC 5789 §3.1's Accept-Patch: the patch formats the CapabilityStatement lists.
ACCEPT_PATCH = ", ".join(PATCH_FORMATS)
# Media types a client may ask for (also the DSTU2 names), and the one answered.
_LEGACY = {"application/json+fhir": FHIR_JSON, "application/xml+fhir": FHIR_XML}
_MEDIA_TYPES = {**{media: media for media in JSON_MEDIA_TYPES + XML_MEDIA_TYPES}, **_LEGACY}
_FORMAT_ALIASES = {"json": FHIR_JSON, "xml": FHIR_XML, **_MEDIA_TYPES}
_SPOKEN = ("JSON (json, application/fhir+json, application/json, text/json) "
           "and XML (xml, application/fhir+xml, application/xml, text/xml)")
# Media ranges with a wildcard, and the types this server answers them with, first preferred.
_WILDCARD_RANGES = {
    "*/*": (FHIR_JSON, FHIR_XML, "application/json", "application/xml", "text/xml",
            "text/json"),
    "application/*": (FHIR_JSON, FHIR_XML, "application/json", "application/xml"),
    "text/*": ("text/xml", "text/json"),
}
_FHIR_ONLY = (FHIR_JSON, FHIR_XML, "application/json+fhir", "application/xml+fhir")
# R4 as http.html#version-parameter names it (major.minor), and its two releases: 4.0.0,
# published in 2018, and its technical correction 4.0.1; the patch is no other version.
R4_VERSIONS = ("4.0", "4.0.0", "4.0.1")
_QUALITY = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")  # RFC 9110 §12.4.2


def field_list(request: Request, name: str) -> str:
    """A header's value, its several lines joined: one list (RFC 9110 §5.3)."""
    return ", ".join(request.headers.getlist(name))


def _media_type(header: str) -> str:
    return header.split(";")[0].strip().lower()


def response_media_type(request: Request) -> str:
    """The FHIR media type to answer with, JSON or XML, from `_format` or `Accept`
    (http://hl7.org/fhir/R4/http.html#mime-type); 406 for others."""
    requested = _presentation(request, "_format")
    if requested is not None:
        # A `+` left unescaped in the type arrives as a space (not one after a `;`).
        media_part, semicolon, parameters = requested.strip().partition(";")
        requested_range = media_part.strip().replace(" ", "+") + semicolon + parameters
        media = _FORMAT_ALIASES.get(_media_type(requested_range))
        if media is None or not _is_r4(requested_range):
            raise NotAcceptable(
                f"_format '{requested}' is not supported; this server speaks {_SPOKEN}",
                expression="_format",
            )
        return media
    accept = field_list(request, "accept")
    if accept.strip() in ("", "*/*"):
        # Any format will do: the one the client wrote its body in (FHIR XML in, XML out,
        # as HAPI answers), else JSON.
        sent = _media_type(request.headers.get("content-type", ""))
        return FHIR_XML if sent in XML_MEDIA_TYPES + ("application/xml+fhir",) else FHIR_JSON
    ranges = _ranges(accept)
    for _, _, media in sorted((-quality, position, media)
                              for media, (quality, position) in ranges.items() if quality > 0):
        for candidate in _WILDCARD_RANGES.get(media, (media,)):
            answered = _MEDIA_TYPES.get(candidate)
            # A more specific range may weigh the candidate otherwise (`*/*` with
            # `application/fhir+json;q=0` is not JSON): RFC 9110 §12.5.1.
            if answered is not None and _weight(ranges, candidate) == ranges[media][0]:
                return answered
    raise NotAcceptable(f"Cannot answer in '{accept}'; this server speaks {_SPOKEN}")


def _ranges(accept: str) -> dict[str, tuple[float, int]]:
    """The media ranges of an Accept header (R4 ones), each with its `q` and position, the
    first of a range given twice. A range whose `q` is no qvalue (`q=abc`, `q=2`: RFC 9110
    §12.4.2) is left out, as one of an unknown type is: it said nothing valid."""
    ranges: dict[str, tuple[float, int]] = {}
    for position, part in enumerate(accept.split(",")):
        quality: float | None = 1.0
        for parameter in part.split(";")[1:]:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                quality = float(value) if _QUALITY.fullmatch(value.strip()) else None
        if quality is not None and _is_r4(part):
            ranges.setdefault(_media_type(part), (quality, position))
    return ranges


def _weight(ranges: dict[str, tuple[float, int]], media: str) -> float:
    """The `q` of a media type: that of the most specific range matching it, 0 for none
    ("not acceptable": RFC 9110 §12.5.1)."""
    for matching in (media, media.split("/")[0] + "/*", "*/*"):
        if matching in ranges:
            return ranges[matching][0]
    return 0.0


def accepts(request: Request, media: str) -> bool:
    """Whether the request's Accept takes `media` (a `q` above 0 in its most specific
    range: `application/fhir+json;q=0` does not, `*/*` beside it neither)."""
    return _weight(_ranges(field_list(request, "accept")), media) > 0


def _parameter(media_range: str, wanted: str) -> str | None:
    """The value of a media type's parameter (`fhirVersion`, `charset`), if it has one."""
    for parameter in media_range.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == wanted:
            return value.strip().strip('"')
    return None


def _is_r4(media_range: str) -> bool:
    """Whether a media type's `fhirVersion` parameter, if it has one, names R4: a client
    asking for or sending another version is refused, 406 or 415
    (http://hl7.org/fhir/R4/http.html#version-parameter)."""
    version = _parameter(media_range, "fhirversion")
    return version is None or version in R4_VERSIONS


def asks_for_fhir(request: Request) -> bool:
    """Whether a request names a FHIR format: by `_format`, or by a FHIR media type in Accept
    (not `*/*`, nor plain JSON or XML). A Binary read that does not is answered with the
    Binary's own content (http://hl7.org/fhir/R4/binary.html#rest)."""
    if request.query_params.get("_format") is not None:
        return True
    ranges = _ranges(field_list(request, "accept"))
    return any(media in _FHIR_ONLY for media, (quality, _) in ranges.items() if quality > 0)


class FhirResponse(Response):
    """A FHIR resource in the negotiated media type, JSON or XML. `written`: the answer of
    a write already stored, which goes as JSON if XML cannot carry it (RFC 9110 §12.1 lets a
    server disregard Accept): a 406 would tell the client the write failed, and a retry
    would store it twice."""

    def __init__(
        self,
        request: Request,
        content: dict | None,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        written: bool = False,
    ):
        media, pretty = negotiated(request)
        body, headers, chosen_by = b"", dict(headers or {}), [VARY["Vary"]]
        if content is not None:
            body, media = render(content, media, pretty, status_code, written)
            if content.get("resourceType") == "OperationOutcome":
                # The language its messages are in (RFC 9110 §8.5): Vietnamese when
                # Accept-Language chose it and the catalog had one of them.
                headers.setdefault("Content-Language", content.get("language", DEFAULT_LANGUAGE))
                chosen_by.append("Accept-Language")
        headers["Vary"] = ", ".join(filter(None, [headers.get("Vary"), *chosen_by]))
        super().__init__(body, status_code, headers, media_type=f"{media}; charset=utf-8")


async def bundle_response(request: Request, bundle: dict, written: bool = False
                          ) -> FhirResponse:
    """A Bundle answer (search, history, batch); one of many entries or of large resources
    (a page of 27 attachments of 33 MB), or any in XML (three large patients took 4.6 s to
    write so), is rendered off the event loop, as JSON or XML of thousands of entries takes a
    good part of a second: in a thread for costly work, so that one caller's pages take
    turns."""
    if (len(bundle.get("entry", ())) < LARGE_BUNDLE_ENTRIES
            and pages_in_flight.held_now() < LARGE_PAGE_BYTES
            and negotiated(request)[0] not in XML_MEDIA_TYPES):
        return FhirResponse(request, bundle, written=written)
    return await in_costly_thread(FhirResponse, request, bundle, written=written)


# The Bulk Data endpoints: kick-off (`$export` at any level), status, cancel and files.
_BULK_DATA_PATH = re.compile(r"/\$export(?:-status/|-file/|$)")


def negotiated(request: Request) -> tuple[str, bool]:
    """The media type to answer in and whether to pretty-print (`_pretty`). The Bulk Data
    answers are JSON whatever `Accept` or `_format` ask: "Currently, only
    application/fhir+json is supported", and an error's body "SHALL be a FHIR
    OperationOutcome resource in JSON format" (IG v2 export.html, kick-off and delete), in
    the JSON type asked for (`Accept: application/json` is answered as such: bdt reads only
    that type's bodies as JSON)."""
    try:
        media = response_media_type(request)
    except NotAcceptable:
        media = FHIR_JSON  # errors are still sent, in the default type
    if media not in JSON_MEDIA_TYPES and _BULK_DATA_PATH.search(request.scope["path"]):
        media = FHIR_JSON
    return media, _presentation(request, "_pretty") == "true"


# What the response's format takes (`_format`, `_pretty`): from the query, or from the form
# of a `POST [type]/_search`, which api/dependencies.py keeps in the request's state.
FORM_PRESENTATION = "form_presentation"


def _presentation(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    if value is None and (form := state_value(request, FORM_PRESENTATION)):
        value = form.get(name)
    return value


def render(content: dict, media: str, pretty: bool, status_code: int, written: bool = False
           ) -> tuple[bytes, str]:
    """The body in the negotiated media type, and that type: a resource XML cannot carry
    (a control character, a div that is not XHTML) is 406; an error, or the answer of a
    write already stored, goes as JSON then."""
    if media in XML_MEDIA_TYPES:
        try:
            return resource_to_xml(content, pretty), media
        except InvalidResource as unwritable:
            if status_code < 400 and not written:
                raise NotAcceptable(
                    f"{unwritable.diagnostics}, so it cannot be sent as XML; ask for {FHIR_JSON}"
                ) from None
            media = FHIR_JSON
    return json_format.dumps(content, pretty), media


def _check_shape(document: object, max_depth: int, max_elements: int, body_format: str) -> None:
    """Before any work on a parsed body: 400 if it is nested deeper than `max_depth`, 413 if
    one array has more than `max_elements` elements (every element is validated, indexed and
    stored: a Patient with thousands of names costs seconds)."""
    match shape_excess(document, max_depth, max_elements):
        case ("depth", _) if body_format == "XML":
            raise phrased_refusal(BadRequest, nested_too_deep(max_depth))
        case ("depth", _):
            raise refusal(BadRequest, "body.json-too-deep", max=max_depth)
        case ("elements", length):
            raise refusal(PayloadTooLarge, "body.array-too-long", length=length,
                          max=max_elements)


async def utf8_url(request: Request) -> None:
    """400 for a path or query whose percent-escapes are not UTF-8 (`%FF`, a lone surrogate
    `%ED%A0%80`): decoded, they would become U+FFFD and be looked for as such."""
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    for part, where in ((raw_path, "path"), (request.scope.get("query_string", b""), "query")):
        try:
            unquote_to_bytes(part).decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest(f"The URL's {where} has percent-escapes that are not UTF-8") from None


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request's body, at most `max_bytes`, also once decoded from the gzip content
    coding that clients such as HAPI's GZipContentInterceptor send (RFC 9110 §8.4); another
    coding is 415 (§15.5.16), naming the codings taken in `Accept-Encoding` (§12.5.3), so
    that a client can tell it from a media type refused."""
    coding = request.headers.get("content-encoding", "identity").strip().lower()
    if coding not in ("identity", "gzip", "x-gzip"):
        raise UnsupportedMediaType(
            f"Content-Encoding '{coding}' is not accepted; send the body as it is or gzipped",
            headers={"Accept-Encoding": "gzip"})
    declared = request.headers.get("content-length")
    if declared and declared.isdecimal() and (not is_digits(declared) or int(declared) > max_bytes):
        raise PayloadTooLarge(f"The request body is larger than {max_bytes} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"The request body is larger than {max_bytes} bytes")
        receive(len(chunk))  # held until the request ends (bodies_in_flight.py)
        chunks.append(chunk)
    body = b"".join(chunks)
    if coding == "identity":
        return body
    decoded = await run_sized(_gunzip, body, max_bytes)
    receive(len(decoded))
    return decoded


def _gunzip(compressed: bytes, max_bytes: int) -> bytes:
    """Every gzip member of a body, decoded; 413 once more than `max_bytes` come out, so a
    small body that inflates to gigabytes is stopped early."""
    out, rest = bytearray(), compressed
    while rest:
        member = zlib.decompressobj(wbits=31)
        try:
            out += member.decompress(rest, max_bytes + 1 - len(out))
        except zlib.error as bad:
            raise BadRequest(f"The gzipped body cannot be decoded: {bad}") from None
        if len(out) > max_bytes:
            raise PayloadTooLarge(f"The request body is larger than {max_bytes} bytes "
                                  "once decoded")
        if not member.eof:
            raise BadRequest("The gzipped body is cut short")
        rest = member.unused_data
    return bytes(out)


def sends_json_patch(request: Request) -> bool:
    return _media_type(request.headers.get("content-type", "")) == JSON_PATCH


def raw_content_type(request: Request) -> str | None:
    """The Content-Type of a body that may be no FHIR resource (nor JSON Patch), which a
    Binary create or update takes as the Binary's content (binary.html#rest); None for FHIR.
    Plain JSON and XML may be either (`holds_fhir`)."""
    declared = request.headers.get("content-type", "")
    media = _LEGACY.get(_media_type(declared), _media_type(declared))
    is_fhir = media in _FHIR_ONLY or media == JSON_PATCH
    return declared.strip() if media and not is_fhir else None


async def form_body(request: Request, max_bytes: int) -> list[tuple[str, str]]:
    """An `application/x-www-form-urlencoded` body (POST _search, the token endpoint),
    within the same size limit as any other body. No body and no Content-Type is no
    parameter: a POST search may have them all in its URL (http.html#search)."""
    content_type = _media_type(request.headers.get("content-type", ""))
    if content_type != "application/x-www-form-urlencoded":
        if not content_type and not await read_body(request, max_bytes):
            return []
        raise UnsupportedMediaType(
            f"Content-Type '{content_type or '(none)'}' is not accepted here; "
            "send application/x-www-form-urlencoded"
        )
    raw = await read_body(request, max_bytes)
    try:
        # strict: %ED%A0%80 (a lone surrogate) is no UTF-8, not U+FFFD
        return parse_qsl(raw.decode("utf-8"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise BadRequest("The form body is not UTF-8") from None


async def json_body(
    request: Request,
    max_bytes: int,
    max_depth: int,
    media_types: tuple[str, ...] = JSON_MEDIA_TYPES,
    read: bytes | None = None,
    entries_alone: bool = False,
) -> object:
    """The request's body as JSON, after checking its media type, size and nesting depth
    (`read`: the body, read already). Where FHIR JSON is accepted, so is FHIR XML, converted
    to FHIR JSON (http://hl7.org/fhir/R4/xml.html); the depth limit applies to the converted
    JSON. The warnings of elements out of order are left in `request.state.xml_disorder`;
    with `entries_alone` (a batch or transaction), the errors of entries whose resource is no
    valid FHIR XML in `request.state.unreadable_entries`, those entries without it."""
    accepted = media_types + XML_MEDIA_TYPES if FHIR_JSON in media_types else media_types
    content_type = _media_type(request.headers.get("content-type", ""))
    # DSTU2's names, which older clients still send, as Accept takes them.
    content_type = _LEGACY.get(content_type, content_type) if FHIR_JSON in accepted else (
        content_type)
    if content_type not in accepted:
        raise UnsupportedMediaType(
            f"Content-Type '{content_type or '(none)'}' is not accepted here; "
            f"send {' or '.join(accepted)}"
        )
    if not _is_r4(request.headers.get("content-type", "")):
        raise UnsupportedMediaType(
            f"This server speaks FHIR R4 (fhirVersion {R4_VERSIONS[0]}), not "
            f"'{request.headers['content-type']}'"
        )
    charset = _parameter(request.headers.get("content-type", ""), "charset")
    if charset is not None and charset.lower() not in ("utf-8", "utf8"):
        # "FHIR uses UTF-8 for all request and response bodies" (http.html#mime-type):
        # read as UTF-8 whatever the label, a Latin-1 body was "not valid JSON".
        raise UnsupportedMediaType(f"The body is declared charset={charset}; FHIR bodies are "
                                   "UTF-8 (send charset=utf-8, or no charset)")
    raw = await read_body(request, max_bytes) if read is None else read
    if not raw.strip():
        raise refusal(BadRequest, "body.empty")
    body_format = "XML" if content_type in XML_MEDIA_TYPES else "JSON"
    input_size.set(len(raw))  # what comes next on this body runs off the loop if large
    await large_body_turn(len(raw))
    body = await run_sized(_parsed_and_checked, raw, body_format, max_depth,
                           request.app.state.settings.max_array_elements, entries_alone)
    request.state.xml_disorder = body.disorder  # for $validate to report
    request.state.unreadable_entries = body.unreadable
    return body.document


def holds_fhir(content_type: str, raw: bytes) -> bool:
    """Whether a Binary's body in plain JSON or XML (`application/xml`, a CDA document; or
    `application/json`) is a FHIR resource after all: a JSON object naming its resourceType,
    an XML document whose root is in the FHIR namespace. Other bodies of those types are the
    Binary's content (binary.html#rest), as HAPI reads them."""
    media = _media_type(content_type)
    if media in XML_MEDIA_TYPES:
        return in_fhir_namespace(raw)
    try:
        document = json_format.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):  # nested too deep for FHIR too
        return False
    return isinstance(document, dict) and "resourceType" in document


@dataclass(frozen=True)
class ReadBody:
    document: object
    disorder: list[Issue]  # XML elements out of order (read in order all the same)
    unreadable: dict[int, list[Issue]]  # XML batch entries without their resource: why


def _parsed_and_checked(raw: bytes, body_format: str, max_depth: int, max_array: int,
                        entries_alone: bool) -> ReadBody:
    try:
        body = _parse(raw, body_format, max_depth, entries_alone)
    except RecursionError:
        raise refusal(BadRequest, "body.json-too-deep", max=max_depth) from None
    except ValueError as bad:  # a UnicodeDecodeError too
        raise refusal(BadRequest, "body.not-json", problem=json_format.json_problem(bad)) from None
    _check_shape(body.document, max_depth, max_array, body_format)
    return body


def _parse(raw: bytes, body_format: str, max_depth: int, entries_alone: bool) -> ReadBody:
    if body_format == "XML" and entries_alone:
        return ReadBody(*read_xml_bundle(raw, max_depth))
    if body_format == "XML":
        return ReadBody(*read_xml(raw, max_depth), {})
    document = json_format.loads(raw)
    if (where := lone_surrogate(document, raw)) is not None:
        raise refusal(BadRequest, "body.lone-surrogate", where)
    return ReadBody(document, [], {})
