"""Reference rewriting for transactions (http://hl7.org/fhir/R4/http.html#trules):
`urn:uuid:` and other fullUrls of created entries, and conditional references."""

from collections.abc import Awaitable, Callable

from fhir_server.errors import BadRequest


def references_in(node: object) -> list[dict]:
    """Every element holding a `reference` string, anywhere in a resource."""
    found: list[dict] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            if isinstance(current.get("reference"), str):
                found.append(current)
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)
    return found


def is_conditional_reference(reference: str) -> bool:
    """`Patient?identifier=s|v`: a type followed by search criteria."""
    head, _, _ = reference.partition("?")
    return "?" in reference and head.isalpha() and "/" not in head


async def rewrite_references(
    resource: dict,
    assigned: dict[str, str],
    resolve_conditional: Callable[[str], Awaitable[str]],
) -> None:
    """Replace references to bundle fullUrls by the ids assigned to them, and conditional
    references by the one resource they match; also inside the narrative. A `urn:uuid:`
    reference to no entry is 400."""
    for element in references_in(resource):
        reference = element["reference"]
        if reference in assigned:
            element["reference"] = assigned[reference]
        elif is_conditional_reference(reference):
            element["reference"] = await resolve_conditional(reference)
        elif reference.startswith("urn:uuid:"):
            # Such a reference means an entry of the Bundle: stored as it is, it would point
            # nowhere for good (HAPI refuses it alike: "Unable to satisfy placeholder ID").
            raise BadRequest(f"Reference '{reference}' names no entry of this transaction: "
                             "no entry that creates or updates a resource has it as fullUrl")
    div = resource.get("text", {}).get("div") if isinstance(resource.get("text"), dict) else None
    if isinstance(div, str):
        for full_url, target in assigned.items():
            if full_url in div:
                div = div.replace(f'"{full_url}"', f'"{target}"')
        resource["text"]["div"] = div
