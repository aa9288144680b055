"""URI search parameters (http://hl7.org/fhir/R4/search.html#uri): exact matches, `:below`
(the stored URI starts with the value) and `:above` (the value starts with the stored URI).
The two "only apply to URLs, and not URNs such as OIDs": on a URN they are 400. A canonical
(`meta.profile` of `_profile`) is found by its URL without the version too, as the canonical
references of reference parameters are."""

import re

from fhir_server.conformance.search_parameters import SearchParameter
from fhir_server.search.fhirpath import Node
from fhir_server.search.types import Criterion
from fhir_server.search.types.reference import canonical_keys, is_canonical_resource
from fhir_server.search.values import split_escaped, unescape

MODIFIERS = ("below", "above", "missing")


def index(nodes: list[Node]) -> list[str]:
    return sorted({key for node in nodes if isinstance(node.value, str) and node.value
                   for key in (canonical_keys(node.value) if node.type == "canonical"
                               else (node.value,))})


def sort_range(entries: list[str]) -> tuple[str, str] | None:
    return (min(entries), max(entries)) if entries else None


def _prefixes(uri: str) -> list[str]:
    """The URI cut after and before each `/`, for `:above`."""
    cuts = {uri}
    for position, char in enumerate(uri):
        if char == "/":
            cuts |= {uri[:position], uri[: position + 1]}
    return sorted(cut for cut in cuts if cut)


def _names_canonical_resources(parameter: SearchParameter) -> bool:
    """`url` of ValueSet, CodeSystem, Questionnaire, ...: their canonical URL."""
    return parameter.code == "url" and all(
        is_canonical_resource(branch.strip().split(".")[0])
        for branch in parameter.expression.split("|"))


def compile_value(criterion: Criterion, value: str) -> dict:
    parts = split_escaped(value, "|")
    if (criterion.modifier is None and len(parts) == 2
            and _names_canonical_resources(criterion.parameter)):
        # `url=http://.../ValueSet/x|1.0`: "SHOULD support automatically detecting a
        # |[version] portion ... as a search on the version" (search.html#uri).
        url, version = parts
        return {"$and": [{criterion.field: url}, {"search.version": f"c:{version}"}]}
    value = unescape(value)
    if criterion.modifier in ("below", "above") and value[:4].lower() == "urn:":
        raise ValueError(f"':{criterion.modifier}' applies to URLs, not to URNs such as "
                         "OIDs (search.html#uri): search the URN itself")
    if criterion.modifier == "below":
        return {criterion.field: {"$regex": "^" + re.escape(value)}}
    if criterion.modifier == "above":
        return {criterion.field: {"$in": _prefixes(value)}}
    return {criterion.field: value}
