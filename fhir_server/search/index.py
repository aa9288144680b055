"""The per-write search index stored beside each resource (`search.<code>` arrays)."""

from fhir_server.search.types.token import index_identifiers


def build_search_index(resource: dict) -> dict[str, list]:
    """Index entries for every supported search parameter of `resource`.

    Every value is an array, empty when the resource has no such element.
    """
    identifiers = resource.get("identifier")
    if isinstance(identifiers, dict):  # Some types (e.g. Bundle) have a single identifier.
        identifiers = [identifiers]
    return {"identifier": index_identifiers(identifiers or [])}
