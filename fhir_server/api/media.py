"""Content negotiation and request bodies (http://hl7.org/fhir/R4/http.html#mime-type)."""

import json
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import Response

from fhir_server.conformance.xml_format import resource_to_xml, xml_to_resource
from fhir_server.errors import (
    BadRequest,
    InvalidResource,
    NotAcceptable,
    PayloadTooLarge,
    UnsupportedMediaType,
)

FHIR_JSON = "application/fhir+json"
FHIR_XML = "application/fhir+xml"
JSON_MEDIA_TYPES = (FHIR_JSON, "application/json")
XML_MEDIA_TYPES = (FHIR_XML, "application/xml", "text/xml")
JSON_PATCH = "application/json-patch+json"
# Media types a client may ask for (also the DSTU2 names), and the one answered.
_MEDIA_TYPES = {
    **{media: media for media in JSON_MEDIA_TYPES + XML_MEDIA_TYPES},
    "application/json+fhir": FHIR_JSON,
    "application/xml+fhir": FHIR_XML,
}
_FORMAT_ALIASES = {"json": FHIR_JSON, "xml": FHIR_XML, **_MEDIA_TYPES}
_SPOKEN = (
    "JSON (json, application/fhir+json, application/json) "
    "and XML (xml, application/fhir+xml, application/xml, text/xml)"
)
_ACCEPT_ANY = ("*/*", "application/*")


def _media_type(header: str) -> str:
    return header.split(";")[0].strip().lower()


def response_media_type(request: Request) -> str:
    """The FHIR media type to answer with, JSON or XML, from `_format` or `Accept`
    (http://hl7.org/fhir/R4/http.html#mime-type); 406 for others."""
    requested = request.query_params.get("_format")
    if requested is not None:
        media = _FORMAT_ALIASES.get(requested.strip().lower().replace(" ", "+"))
        if media is None:
            raise NotAcceptable(
                f"_format '{requested}' is not supported; this server speaks {_SPOKEN}",
                expression="_format",
            )
        return media
    accept = request.headers.get("accept", "")
    if not accept.strip():
        return FHIR_JSON
    for media in (_media_type(part) for part in accept.split(",")):
        if media in _ACCEPT_ANY:
            return FHIR_JSON
        if media in _MEDIA_TYPES:
            return _MEDIA_TYPES[media]
    raise NotAcceptable(f"Cannot answer in '{accept}'; this server speaks {_SPOKEN}")


def accepts_fhir(request: Request) -> bool:
    try:
        response_media_type(request)
    except NotAcceptable:
        return False
    return True


class FhirResponse(Response):
    """A FHIR resource in the negotiated media type, JSON or XML."""

    def __init__(
        self,
        request: Request,
        content: dict | None,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
    ):
        try:
            media = response_media_type(request)
        except NotAcceptable:
            media = FHIR_JSON  # errors are still sent, in the default type
        pretty = request.query_params.get("_pretty") == "true"
        body = b""
        if content is not None:
            body, media = _render(content, media, pretty, status_code)
        super().__init__(body, status_code, headers, media_type=f"{media}; charset=utf-8")


def _render(content: dict, media: str, pretty: bool, status_code: int) -> tuple[bytes, str]:
    """The body in the negotiated media type, and that type: a resource XML cannot carry
    (a control character, a div that is not XHTML) is 406, an error goes as JSON then."""
    if media in XML_MEDIA_TYPES:
        try:
            return resource_to_xml(content, pretty), media
        except InvalidResource as unwritable:
            if status_code < 400:
                raise NotAcceptable(
                    f"{unwritable.diagnostics}, so it cannot be sent as XML; ask for {FHIR_JSON}"
                ) from None
            media = FHIR_JSON
    body = json.dumps(
        content,
        ensure_ascii=False,
        indent=2 if pretty else None,
        separators=None if pretty else (",", ":"),
    )
    return body.encode(), media


def http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def _depth_exceeds(document: object, limit: int) -> bool:
    stack = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
    return False


async def read_body(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"The request body is larger than {max_bytes} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"The request body is larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def form_body(request: Request, max_bytes: int) -> list[tuple[str, str]]:
    """An `application/x-www-form-urlencoded` body (POST _search, the token endpoint),
    within the same size limit as any other body."""
    content_type = _media_type(request.headers.get("content-type", ""))
    if content_type != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType(
            f"Content-Type '{content_type or '(none)'}' is not accepted here; "
            "send application/x-www-form-urlencoded"
        )
    raw = await read_body(request, max_bytes)
    try:
        return parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise BadRequest("The form body is not UTF-8") from None


async def json_body(
    request: Request,
    max_bytes: int,
    max_depth: int,
    media_types: tuple[str, ...] = JSON_MEDIA_TYPES,
) -> object:
    """The request's body as JSON, after checking its media type, size and nesting depth.
    Where FHIR JSON is accepted, so is FHIR XML, converted to FHIR JSON
    (http://hl7.org/fhir/R4/xml.html); the depth limit applies to the converted JSON."""
    accepted = media_types + XML_MEDIA_TYPES if FHIR_JSON in media_types else media_types
    content_type = _media_type(request.headers.get("content-type", ""))
    if content_type not in accepted:
        raise UnsupportedMediaType(
            f"Content-Type '{content_type or '(none)'}' is not accepted here; "
            f"send {' or '.join(accepted)}"
        )
    raw = await read_body(request, max_bytes)
    if not raw.strip():
        raise BadRequest("The request body is empty")
    body_format = "XML" if content_type in XML_MEDIA_TYPES else "JSON"
    try:
        document = xml_to_resource(raw) if body_format == "XML" else json.loads(raw)
    except RecursionError:
        raise BadRequest(f"The JSON body is nested deeper than {max_depth} levels") from None
    except (ValueError, UnicodeDecodeError) as bad:
        raise BadRequest(f"The body is not valid JSON: {bad}") from None
    if _depth_exceeds(document, max_depth):
        raise BadRequest(f"The {body_format} body is nested deeper than {max_depth} levels")
    return document
