"""The language of OperationOutcome messages: Vietnamese when `Accept-Language` prefers it,
English otherwise (RFC 9110 §12.5.4; http://hl7.org/fhir/R4/languages.html)."""

from fastapi import Request

from fhir_server.conformance.code_systems import accepted_languages

DEFAULT = "en"
SUPPORTED = frozenset({"en", "vi"})


def preferred_language(header: str) -> str:
    """The supported language the header weights highest (`vi-VN;q=0.9, en;q=0.8` → vi); the
    first listed wins a tie; `*` and unsupported ones leave the default."""
    for tag in accepted_languages(header):
        if (language := tag.lower().split("-")[0]) in SUPPORTED:
            return language
    return DEFAULT


def outcome_language(request: Request) -> str:
    """The language of the request's Accept-Language, its several lines one list (RFC 9110
    §5.3: `Accept-Language: en;q=0.1` and `Accept-Language: vi` prefer vi)."""
    return preferred_language(", ".join(request.headers.getlist("accept-language")))
