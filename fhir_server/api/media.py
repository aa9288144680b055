"""Content negotiation and request bodies (http://hl7.org/fhir/R4/http.html#mime-type)."""

import json
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import Response

from fhir_server.errors import (
    BadRequest,
    NotAcceptable,
    PayloadTooLarge,
    UnsupportedMediaType,
)

FHIR_JSON = "application/fhir+json"
JSON_MEDIA_TYPES = (FHIR_JSON, "application/json")
JSON_PATCH = "application/json-patch+json"
_FORMAT_ALIASES = {
    "json": FHIR_JSON,
    "application/json": "application/json",
    FHIR_JSON: FHIR_JSON,
    "application/json+fhir": FHIR_JSON,
}
_ACCEPT_ANY = ("*/*", "application/*")


def _media_type(header: str) -> str:
    return header.split(";")[0].strip().lower()


def response_media_type(request: Request) -> str:
    """The JSON media type to answer with, from `_format` or `Accept`; 406 for others."""
    requested = request.query_params.get("_format")
    if requested is not None:
        media = _FORMAT_ALIASES.get(requested.strip().lower().replace(" ", "+"))
        if media is None:
            raise NotAcceptable(
                f"_format '{requested}' is not supported; this server speaks "
                "JSON (json, application/fhir+json, application/json)",
                expression="_format",
            )
        return media
    accept = request.headers.get("accept", "")
    if not accept.strip():
        return FHIR_JSON
    offered = [_media_type(part) for part in accept.split(",")]
    for media in offered:
        if media in JSON_MEDIA_TYPES:
            return media
        if media in _ACCEPT_ANY or media == "application/json+fhir":
            return FHIR_JSON
    raise NotAcceptable(
        f"Cannot answer in '{accept}'; this server speaks application/fhir+json "
        "and application/json"
    )


def accepts_fhir(request: Request) -> bool:
    try:
        response_media_type(request)
    except NotAcceptable:
        return False
    return True


class FhirResponse(Response):
    """A FHIR JSON body in the negotiated media type."""

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
        body = (
            b""
            if content is None
            else json.dumps(
                content,
                ensure_ascii=False,
                indent=2 if pretty else None,
                separators=None if pretty else (",", ":"),
            ).encode()
        )
        super().__init__(body, status_code, headers, media_type=f"{media}; charset=utf-8")


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
    """The request's JSON body, after checking its media type, size and nesting depth."""
    content_type = _media_type(request.headers.get("content-type", ""))
    if content_type not in media_types:
        raise UnsupportedMediaType(
            f"Content-Type '{content_type or '(none)'}' is not accepted here; "
            f"send {' or '.join(media_types)}"
        )
    raw = await read_body(request, max_bytes)
    if not raw.strip():
        raise BadRequest("The request body is empty")
    try:
        document = json.loads(raw)
    except RecursionError:
        raise BadRequest(f"The JSON body is nested deeper than {max_depth} levels") from None
    except (ValueError, UnicodeDecodeError) as bad:
        raise BadRequest(f"The body is not valid JSON: {bad}") from None
    if _depth_exceeds(document, max_depth):
        raise BadRequest(f"The JSON body is nested deeper than {max_depth} levels")
    return document
