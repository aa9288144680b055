"""Parse the identity-search criteria used by conditional interactions and type search
(`_id`, `_lastUpdated`, `identifier`) into a MongoDB filter of typed values."""

from urllib.parse import parse_qsl

from fhir_server.conformance.registry import search_parameters
from fhir_server.errors import BadRequest
from fhir_server.search.types.date import compile_date, parse_date, split_prefix
from fhir_server.search.types.token import compile_token

# Parameters that steer a search rather than filter it.
RESULT_PARAMETERS = frozenset(
    {"_count", "_format", "_pretty", "_summary", "_elements", "_total", "_cursor"}
)


def parse_query(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=True)


def compile_criteria(
    resource_type: str, params: list[tuple[str, str]], strict: bool = True
) -> tuple[dict, list[tuple[str, str]]]:
    """A MongoDB filter for the AND of the parameters (each comma list an OR), and the
    parameters it used.

    Raise BadRequest naming the parameter when its value is malformed, or when it is unknown
    and `strict` (http://hl7.org/fhir/R4/search.html#errors); else unknown ones are ignored.
    """
    supported = search_parameters(resource_type)
    clauses: list[dict] = []
    used: list[tuple[str, str]] = []
    for name, raw in params:
        if name in RESULT_PARAMETERS:
            continue
        if name not in supported:
            if not strict:
                continue
            raise BadRequest(
                f"Unknown search parameter '{name}' for {resource_type}; "
                f"supported here: {', '.join(supported)}",
                expression=name,
            )
        if raw == "":
            raise BadRequest(f"Search parameter '{name}' has an empty value", expression=name)
        alternatives = [_compile_value(name, value) for value in raw.split(",")]
        clauses.append(alternatives[0] if len(alternatives) == 1 else {"$or": alternatives})
        used.append((name, raw))
    return ({"$and": clauses} if clauses else {}), used


def _compile_value(name: str, value: str) -> dict:
    if name == "_id":
        return {"_id": value}
    if name == "identifier":
        return compile_token("search.identifier", value)
    prefix, date_text = split_prefix(value)
    try:
        search_range = parse_date(date_text)
    except ValueError as bad:
        raise BadRequest(f"Invalid value for '{name}': {bad}", expression=name) from None
    return compile_date("lastUpdated", "lastUpdated", prefix, search_range)
