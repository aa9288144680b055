"""Operation input (http://hl7.org/fhir/R4/operations.html#request): a query string, or a
`Parameters` resource POSTed, read as the same (name, value) pairs."""

from fhir_server.errors import BadRequest

# Parameters.parameter.value[x] of the primitive types an operation's input is given in.
_STRING_VALUES = (
    "valueString", "valueCode", "valueUri", "valueUrl", "valueCanonical", "valueId",
    "valueInstant", "valueDateTime", "valueDate", "valueTime", "valueOid", "valueUuid",
    "valueMarkdown",
)
_OTHER_VALUES = ("valueBoolean", "valueInteger", "valuePositiveInt", "valueUnsignedInt",
                 "valueDecimal")


def parameter_pairs(body: object, operation: str) -> list[tuple[str, str]]:
    """The (name, value) pairs of a `Parameters` body, as if given in a query string:
    references as their `reference`, other primitives as their JSON string form."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise BadRequest(f"The body of a POST {operation} must be a Parameters resource")
    pairs = []
    for index, parameter in enumerate(body.get("parameter") or []):
        where = f"Parameters.parameter[{index}]"
        name = parameter.get("name") if isinstance(parameter, dict) else None
        if not isinstance(name, str) or not name:
            raise BadRequest(f"{where} has no name", expression=where)
        value = next((parameter[k] for k in _STRING_VALUES if k in parameter), None)
        if value is None:
            other = next((parameter[k] for k in _OTHER_VALUES if k in parameter), None)
            value = str(other).lower() if isinstance(other, bool) else other
            value = None if value is None else str(value)
        if value is None and isinstance(parameter.get("valueReference"), dict):
            value = parameter["valueReference"].get("reference")
        if not isinstance(value, str):
            raise BadRequest(
                f"{where} ({name}) needs a primitive value or a valueReference",
                expression=where,
            )
        pairs.append((name, value))
    return pairs
