"""The language of OperationOutcome messages: Vietnamese when `Accept-Language` prefers it,
English otherwise (RFC 9110 §12.5.4; http://hl7.org/fhir/R4/languages.html)."""

from fastapi import Request

DEFAULT = "en"
SUPPORTED = frozenset({"en", "vi"})


def _weight(parameters: list[str]) -> float:
    for parameter in parameters:
        name, _, value = parameter.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def preferred_language(header: str) -> str:
    """The supported language the header weights highest (`vi-VN;q=0.9, en;q=0.8` → vi); the
    first listed wins a tie; `*` and unsupported ones leave the default."""
    best, best_weight = DEFAULT, 0.0
    for item in header.split(",")[:32]:  # a header is a few items; never loop on a huge one
        tag, *parameters = item.split(";")
        language = tag.strip().lower().split("-")[0]
        weight = _weight(parameters)
        if language in SUPPORTED and weight > best_weight:
            best, best_weight = language, weight
    return best


def outcome_language(request: Request) -> str:
    return preferred_language(request.headers.get("accept-language", ""))
