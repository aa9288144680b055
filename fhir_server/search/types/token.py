"""Token search parameters (http://hl7.org/fhir/R4/search.html#token).

Index entries are `{"s": system, "c": code}` so that `code`, `system|code`, `|code` and
`system|` each become one index lookup.
"""


def index_identifiers(identifiers: list[dict]) -> list[dict]:
    return [
        {"s": identifier.get("system"), "c": identifier["value"]}
        for identifier in identifiers
        if isinstance(identifier, dict) and isinstance(identifier.get("value"), str)
    ]


def compile_token(field: str, value: str) -> dict:
    """A filter on index entries at `field` for one token value (no modifier)."""
    if "|" not in value:
        return {f"{field}.c": value}
    system, code = value.split("|", 1)
    if not code:
        return {f"{field}.s": system}
    return {field: {"$elemMatch": {"s": system or None, "c": code}}}
