"""Terminology operations on the CodeSystems and ValueSets the server holds in its registry:
`CodeSystem/$lookup` (http://hl7.org/fhir/R4/codesystem-operation-lookup.html) and
`ValueSet/$expand` (http://hl7.org/fhir/R4/valueset-operation-expand.html)."""

from datetime import UTC, datetime

from fhir_server.conformance.definitions import registry
from fhir_server.conformance.terminology import displays, expand
from fhir_server.errors import BadRequest, NotFound
from fhir_server.search.types.string import fold
from fhir_server.services.versions import format_instant

# Codes one expansion lists at most without `count` (a client pages with `offset`).
MAX_EXPANSION = 1000


def _one(params: list[tuple[str, str]], name: str) -> str | None:
    values = [value for key, value in params if key == name]
    if len(values) > 1:
        raise BadRequest(f"'{name}' is given more than once", expression=name)
    return values[0] if values else None


def _number(params: list[tuple[str, str]], name: str, default: int) -> int:
    value = _one(params, name)
    if value is None:
        return default
    if not value.isdigit():
        raise BadRequest(f"'{name}' must be a non-negative integer, not '{value}'",
                         expression=name)
    return int(value)


def lookup(params: list[tuple[str, str]]) -> dict:
    """The name of the code system and the display of a code (`system` and `code`)."""
    system, code = _one(params, "system"), _one(params, "code")
    if not system or not code:
        raise BadRequest("$lookup needs 'system' and 'code'")
    concepts = displays(system)
    if concepts is None:
        raise NotFound(f"CodeSystem {system} is not known to this server")
    if code not in concepts:
        raise NotFound(f"'{code}' is not a code of {system}")
    code_system = registry().resolve(system) or {}
    display = concepts[code]
    parameters = [{"name": "name", "valueString": code_system.get("name", system)}]
    if "version" in code_system:
        parameters.append({"name": "version", "valueString": code_system["version"]})
    if display:
        parameters.append({"name": "display", "valueString": display})
    return {"resourceType": "Parameters", "parameter": parameters}


def expand_value_set(params: list[tuple[str, str]]) -> dict:
    """The ValueSet `url` expanded, narrowed by `filter` (code or display, folded as string
    search folds Vietnamese: accents and case ignored) and paged by `offset` and `count`."""
    url = _one(params, "url")
    if not url:
        raise BadRequest("$expand needs the 'url' of a ValueSet", expression="url")
    value_set = registry().resolve(url)
    if value_set is None or value_set["resourceType"] != "ValueSet":
        raise NotFound(f"ValueSet {url} is not known to this server")
    codes = expand(url)
    if codes is None:
        raise BadRequest(f"ValueSet {url} cannot be expanded here: it draws on a code system "
                         "this server does not hold in full, or on a filter it cannot apply")
    wanted = fold(_one(params, "filter") or "")
    contains = []
    for system, system_codes in sorted(codes.items()):
        names = displays(system) or {}
        for code in sorted(system_codes):
            display = names.get(code)
            if wanted in fold(code) or (display and wanted in fold(display)):
                contains.append({"system": system, "code": code}
                                | ({"display": display} if display else {}))
    offset = _number(params, "offset", 0)
    count = _number(params, "count", MAX_EXPANSION)
    expansion = {
        "timestamp": format_instant(datetime.now(UTC)),
        "total": len(contains),
        "offset": offset,
        "contains": contains[offset : offset + min(count, MAX_EXPANSION)],
    }
    kept = {k: value_set[k] for k in ("url", "version", "name", "status") if k in value_set}
    return {"resourceType": "ValueSet", **kept, "expansion": expansion}
