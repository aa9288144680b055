"""Reference rewriting for transactions (http://hl7.org/fhir/R4/http.html#trules):
`urn:uuid:` and other fullUrls of created entries; which references are conditional."""

import re
from urllib.parse import urlencode

from fhir_server.conformance.messages import refusal
from fhir_server.conformance.typed_values import places_of_types
from fhir_server.errors import BadRequest
from fhir_server.search.request import parse_query
from fhir_server.search.types.reference import LOCAL_REFERENCE, references_in
from fhir_server.services.conditional_criteria import criteria_base

# Elements whose values name entries by fullUrl; "Elements of type canonical are not
# replaced" (http.html#trules): a canonical names a definition, not a stored resource. Nor
# are uuid and oid elements, which the rule also lists: a `Patient/123` put there would
# be no uuid or oid, and the resource would be refused.
_URI_TYPES = frozenset({"uri", "url"})
# A quoted value without spaces in the narrative, as an attribute's (`href="..."`, `src='...'`:
# XHTML quotes them either way): the places a fullUrl can link from.
_QUOTED_VALUE = re.compile(r"""(["'])([^"'\s<>]+)\1""")


def reference_base(full_url: str | None, server_base: str) -> str:
    """What a relative reference in an entry is relative to (R4 bundle.html#references): the
    service base of the entry's fullUrl when that is a RESTful URL (`base/Type/id`), else
    this server's."""
    if full_url and full_url.startswith(("http://", "https://")):
        base, *local = full_url.rsplit("/", 2)
        if len(local) == 2 and LOCAL_REFERENCE.match("/".join(local)):
            return base
    return server_base


def local_form(reference: str) -> str:
    """A reference without this server's base (of the request, `criteria_base`): a
    conditional one may be written as an absolute URL here, `https://host/fhir/Patient?...`,
    as a literal one may (it was stored as sent, a search URL nothing resolves)."""
    base = criteria_base.get()
    if base and reference.lower().startswith(base.lower() + "/"):  # scheme and host: no case
        return reference[len(base) + 1:]
    return reference


def is_conditional_reference(reference: str) -> bool:
    """`Patient?identifier=s|v`: a type followed by search criteria, also after this
    server's base (`local_form`)."""
    head, _, _ = local_form(reference).partition("?")
    return "?" in reference and head.isalpha() and "/" not in head


_URN_SCHEMES = ("urn:uuid:", "urn:oid:")


def full_url_key(url: str) -> str:
    """A fullUrl as entries are known by: a URN without the case its scheme and a UUID's hex
    may be written in (RFC 8141, RFC 4122: `URN:UUID:F7...` is `urn:uuid:f7...`)."""
    return url.lower() if url[:9].lower().startswith(_URN_SCHEMES) else url


def _entry_named(reference: str, assigned: dict[str, str], base: str) -> str | None:
    """The `Type/id` given to the entry a reference (without `/_history/n`) names."""
    absolute = f"{base}/{reference}" if LOCAL_REFERENCE.match(reference) else None
    return assigned.get(full_url_key(reference)) or assigned.get(absolute or "")


def version_specific_targets(resources: list[tuple[object, str]],
                             assigned: dict[str, str]) -> set[str]:
    """`Type/id` of the entries some version-specific reference names, in resources each
    with the base its relative references are read against."""
    return {target for resource, base in resources for element in references_in(resource)
            if "/_history/" in element["reference"]
            and (target := _entry_named(element["reference"].partition("/_history/")[0],
                                        assigned, base))}


def conditional_references(resource: dict) -> list[tuple[str, dict]]:
    """The elements of a resource holding a conditional reference (`Patient?identifier=...`),
    each with the FHIRPath of its `reference` (`Observation.contained[0].subject.reference`),
    where an error about it is placed; none in a Bundle, as `references_in` finds none."""
    found: list[tuple[str, dict]] = []
    stack: list[tuple[str, object]] = [(str(resource.get("resourceType")), resource)]
    while stack:
        path, current = stack.pop()
        if isinstance(current, dict):
            if current.get("resourceType") == "Bundle":
                continue
            reference = current.get("reference")
            if isinstance(reference, str) and is_conditional_reference(reference):
                found.append((f"{path}.reference", current))
            stack.extend((f"{path}.{name}", value) for name, value in current.items()
                         if isinstance(value, (dict, list)))
        elif isinstance(current, list):
            stack.extend((f"{path}[{index}]", value) for index, value in enumerate(current))
    return found


def has_conditional_references(resource: object) -> bool:
    return any(is_conditional_reference(element["reference"])
               for element in references_in(resource))


def rewrite_references(resource: dict, assigned: dict[str, str], base: str,
                       versions: dict[str, int], kept: frozenset[str] = frozenset()) -> None:
    """Replace references to bundle fullUrls by the ids assigned to them (a relative one
    read against `base`, see `reference_base`), also in uri elements and inside the
    narrative (`Binary/1` there too: it was left naming what the transaction gave another
    id). A `urn:uuid:` reference to no entry is 400, unless it is one of `kept`.
    (Conditional references are resolved by every write itself,
    `interactions.resolve_conditional_references`.) A Bundle is written as sent: its
    fullUrls and references are its own; a Binary's content is opaque (binary.html), stored
    byte for byte, and only its references (`securityContext`) are replaced."""
    if resource.get("resourceType") == "Bundle":
        return
    _rewrite_reference_elements(resource, assigned, base, versions, kept)
    # "all matching links ... in url elements" too: Attachment.url, valueUri, valueUrl, ...
    for container, place in places_of_types(resource, _URI_TYPES):
        if place == "system" or (place == "url" and "resourceType" in container):
            # A code or identifier system (Coding.system, include.system) names a namespace,
            # and a resource's own canonical URL (ValueSet.url) itself: no link to an entry.
            continue
        value = container[place]  # type: ignore[index]
        target = _entry_named(value, assigned, base) if isinstance(value, str) else None
        if target is not None:
            container[place] = target  # type: ignore[index]
    div = resource.get("text", {}).get("div") if isinstance(resource.get("text"), dict) else None
    if isinstance(div, str):
        resource["text"]["div"] = _linked_narrative(div, assigned, base)


def _linked_narrative(div: str, assigned: dict[str, str], base: str) -> str:
    """The narrative with each quoted fullUrl of an entry (`<a href="urn:uuid:...">`) replaced
    by the `Type/id` it was given, matched as reference elements are (`full_url_key`: a
    UUID's hex in either case, RFC 4122; a relative `Type/id` read against `base`)."""

    def link(quoted: re.Match[str]) -> str:
        quote, value = quoted[1], quoted[2]
        return f"{quote}{_entry_named(value, assigned, base) or value}{quote}"

    return _QUOTED_VALUE.sub(link, div)


def rewrite_patched_references(patched: dict, current: dict, assigned: dict[str, str],
                               base: str, versions: dict[str, int]) -> None:
    """A PATCH entry's links, read in the resource it makes rather than in its operations
    (a `urn:uuid:` given as a string value, in a uri or in narrative text is a link there
    too); a `urn:` reference the current version already holds (a plain write may store
    one) is left as it is, not refused."""
    kept = frozenset(element["reference"] for element in references_in(current))
    rewrite_references(patched, assigned, base, versions, kept)


def linked_query(query: str, assigned: dict[str, str]) -> str:
    """`query` with each value (or comma-separated part of one) that is an entry's fullUrl
    replaced by the `Type/id` it was given."""
    def link(value: str) -> str:
        return ",".join(assigned.get(full_url_key(part), part) for part in value.split(","))

    pairs = parse_query(query)
    linked = [(name, link(value)) for name, value in pairs]
    return query if linked == pairs else urlencode(linked)


def _rewrite_reference_elements(node: object, assigned: dict[str, str], base: str,
                                versions: dict[str, int], kept: frozenset[str]) -> None:
    for element in references_in(node):
        if is_conditional_reference(element["reference"]):
            # Its criteria may name entries too (`Encounter?subject=urn:uuid:...`).
            kind, _, query = local_form(element["reference"]).partition("?")
            element["reference"] = f"{kind}?{linked_query(query, assigned)}"
            continue
        # A version-specific reference stays one (http.html#trules), with its version
        # "re-assigned": `Patient/tmp/_history/7` names the version the entry writes.
        reference, history, version = element["reference"].partition("/_history/")
        target = _entry_named(reference, assigned, base)
        if target is not None:
            element["reference"] = target + history + (
                str(versions[target]) if history and target in versions else version)
        elif (full_url_key(reference).startswith(_URN_SCHEMES)
              and element["reference"] not in kept):
            # Such a reference means an entry of the Bundle: stored as it is, it would point
            # nowhere for good (HAPI refuses it alike: "Unable to satisfy placeholder ID"),
            # `urn:uuid:.../_history/1` as well.
            raise refusal(BadRequest, "entry.urn-unresolved", reference=element["reference"])
