"""Reference search parameters (http://hl7.org/fhir/R4/search.html#reference).

Entries are strings: the literal reference without its `/_history/n` (`Patient/123`, an
absolute URL, `#contained`: a search by reference finds every version, search.html#versions;
`_include` reads the version named from the resource itself, `literals`), `i:` + the token
entries of `Reference.identifier` for the `:identifier` modifier, and `*/<id>` for a
relative reference to a type the parameter does not name as a target (official examples
refer to an Encounter as an Observation's performer), `*/<base>/<id>` for an absolute one: a
search by the bare id finds it too, written either way when the base is this server's.
Chains are compiled by the query compiler into `$in` of references, or a filter on the
contained resources that `#id` entries point at (index.contained_filter). Beside the
parameters' entries, every literal reference a resource holds is stored
(`resource_references`), for `$everything` to follow references of elements no parameter
indexes.
"""

import re

from fhir_server.conformance.primitives import ID_REGEX
from fhir_server.conformance.search_parameters import search_parameters
from fhir_server.search.fhirpath import Node
from fhir_server.search.types import Criterion
from fhir_server.search.types.token import code_keys, codes, matching, value_keys
from fhir_server.search.values import unescape

MODIFIERS = ("identifier", "below", "missing")
_HISTORY = re.compile(r"/_history/[^/]+$")
LOCAL_REFERENCE = re.compile(rf"^([A-Z][A-Za-z]+)/({ID_REGEX})$")
_VERSION_SPECIFIC = re.compile(rf"^([A-Z][A-Za-z]+)/({ID_REGEX})/_history/([^/]+)$")
_ABSOLUTE_REFERENCE = re.compile(rf"^https?://[^?#]*/([A-Z][A-Za-z]+)/{ID_REGEX}$")
_ABSOLUTE_PARTS = re.compile(rf"^(https?://[^?#]*)/([A-Z][A-Za-z]+)/({ID_REGEX})$")
_ID = re.compile(ID_REGEX)


def canonical_keys(canonical: str) -> set[str]:
    """The entries of a canonical URL: as written, and without `|version` so that the bare
    URL finds every version (http://hl7.org/fhir/R4/search.html#versions), while a search
    naming a version finds that one."""
    return {canonical, canonical.partition("|")[0]}


def _keys(reference: object) -> list[str]:
    if isinstance(reference, str) and reference:
        # A canonical (QuestionnaireResponse.questionnaire, instantiatesCanonical).
        return sorted(canonical_keys(reference))
    if not isinstance(reference, dict):
        return []
    keys = []
    literal = reference.get("reference")
    if isinstance(literal, str) and literal:
        keys.append(_HISTORY.sub("", literal))
    identifier = reference.get("identifier")
    if isinstance(identifier, dict):
        keys += ["i:" + key for key in code_keys(identifier.get("system"), identifier.get("value"))]
    return keys


_OFF_TARGET = "*/"


def entry_index(entries: list[Node], targets: tuple[str, ...]) -> list[str]:
    """A Bundle entry's resource as the parameter's value (Bundle's `composition` and
    `message`: `Bundle.entry[0].resource`), of a type the parameter names: known by the
    entry's fullUrl, "the absolute URL for the resource" (bundle.html). So chains, includes
    and `_has` reach a stored resource only when the fullUrl is this server's URL of it
    (`$document?persist=true` writes such): by its id alone, a `urn:uuid:` entry named
    whatever stored resource had that id."""
    return sorted({entry.value["fullUrl"] for entry in entries
                   if isinstance(entry.value, dict) and isinstance(entry.value.get("fullUrl"), str)
                   and isinstance(entry.value.get("resource"), dict)
                   and entry.value["resource"].get("resourceType") in targets})


def index(nodes: list[Node], targets: tuple[str, ...] = ()) -> list[str]:
    """The entries of the references; `targets`, the types the parameter refers to."""
    keys = {key for node in nodes for key in _keys(node.value)}
    off_target = {_OFF_TARGET + match[2] for key in keys
                  if (match := LOCAL_REFERENCE.match(key)) and match[1] not in targets}
    off_target |= {f"{_OFF_TARGET}{match[1]}/{match[3]}" for key in keys
                   if (match := _ABSOLUTE_PARTS.match(key)) and match[2] not in targets}
    return sorted(keys | off_target)


def sort_range(entries: list[str]) -> tuple[str, str] | None:
    values = [entry for entry in entries if not entry.startswith(("i:", _OFF_TARGET))]
    return (min(values), max(values)) if values else None


def literals(nodes: list[Node]) -> list[str]:
    """The literal references (`Reference.reference`) among a parameter's values, as written:
    with their `/_history/n`, which the entries leave out."""
    return [node.value["reference"] for node in nodes
            if isinstance(node.value, dict) and isinstance(node.value.get("reference"), str)]


def _relative(entries: list[str], base: str | None) -> list[str]:
    """The entries, those absolute under `base` (this server's) made relative."""
    prefix = (base or "").rstrip("/") + "/"
    return [e[len(prefix) :] if base and e.startswith(prefix) else e for e in entries]


def local_references(entries: list[str], base: str | None = None) -> list[tuple[str, str]]:
    """(type, id) of the entries that point at a resource on this server: relative, or
    absolute under `base`."""
    return [(m[1], m[2]) for m in map(LOCAL_REFERENCE.match, _relative(entries, base)) if m]


def references_in(node: object) -> list[dict]:
    """Every element holding a `reference` string, anywhere in a resource but in a Bundle:
    a Bundle's references are read within it (bundle.html#references: a document's
    `urn:uuid:` names its own entry), and one written as a resource is stored as sent."""
    found: list[dict] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            if current.get("resourceType") == "Bundle":
                continue
            if isinstance(current.get("reference"), str):
                found.append(current)
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)
    return found


def resource_references(resource: dict) -> list[str]:
    """The literal references of every Reference in a resource, its contained resources'
    included, that may name a stored resource (`Type/id`, or a RESTful absolute URL, which
    names this server or not by the base a request uses), without their `/_history/n`:
    those of elements no search parameter indexes too (`Encounter.hospitalization.origin`),
    which `$everything` follows. Not `#id` (a contained resource), nor `urn:uuid:`."""
    written = {_HISTORY.sub("", element["reference"]) for element in references_in(resource)}
    return sorted(reference for reference in written
                  if LOCAL_REFERENCE.match(reference) or _ABSOLUTE_REFERENCE.match(reference))


def local_versions(references: list[str], base: str | None = None
                   ) -> list[tuple[str, str, str]]:
    """(type, id, version) of the version-specific literal references (`Type/id/_history/n`)
    to a resource on this server: relative, or absolute under `base`."""
    return [(m[1], m[2], m[3])
            for m in map(_VERSION_SPECIFIC.match, _relative(references, base)) if m]


def local_resource(reference: str, base: str) -> tuple[str, str] | None:
    """(type, id) of the resource on this server a literal reference names (relative, or
    absolute under `base`; a version's reference names its resource, as the index keys it);
    None for any other reference."""
    found = local_references([_HISTORY.sub("", reference)], base)
    return found[0] if found else None


def absolute_references(entries: list[str]) -> list[tuple[str, str]]:
    """(entry, type) of the entries that are RESTful absolute URLs (`https://host/fhir/Patient/1`),
    on this server or another."""
    return [(e, m[1]) for e in entries if (m := _ABSOLUTE_REFERENCE.match(e))]


def is_canonical_resource(resource_type: str) -> bool:
    """A type whose resources are referred to by canonical URL (ValueSet, Questionnaire,
    Library, ...): one with the `url` and `version` search parameters."""
    parameters = search_parameters(resource_type)
    return "url" in parameters and "version" in parameters


def canonical_urls(entries: list[str], base: str | None = None) -> set[str]:
    """The entries that may be canonical URLs (`Measure.library`): absolute, and not a
    literal reference to a resource here; `url|version` without the bare `url` indexed
    beside it."""
    here = (base or "").rstrip("/") + "/"
    found = {
        entry
        for entry in entries
        if ":" in entry and not entry.startswith(("i:", _OFF_TARGET))
        and not (base and entry.startswith(here))
    }
    return {url for url in found if "|" in url or not any(o.startswith(f"{url}|") for o in found)}


def canonical_targets(canonicals: set[str]) -> dict:
    """The filter on canonical resources (by their `url` and `version` entries) that
    canonical references name: `url|version` that version only, a bare `url` every version
    (R4 leaves which one to the server)."""
    clauses: list[dict] = [
        {"search.url": {"$in": sorted(url for url in canonicals if "|" not in url)}}]
    for canonical in sorted(url for url in canonicals if "|" in url):
        url, _, version = canonical.partition("|")
        clauses.append({"search.url": url, "search.version": code_keys(None, version)[0]})
    return {"$or": clauses}


def _pinning(url: str) -> dict:
    """The entries `url|version` of any version: from `url|` up to `url}` ('}' follows '|')."""
    return {"$gte": f"{url}|", "$lt": f"{url}}}"}


def referring_to_canonicals(field: str, targets: list[tuple[str, str | None]]) -> dict:
    """The filter on a reference parameter's entries (`field`) for canonical references
    naming these resources (url, version): pinned to that version, or to none. A pinned
    reference is indexed with its bare url too, so the bare url counts only where no
    entry pins that url. A range per url, not one alternation regex: MongoDB refuses a
    pattern of a few hundred urls as too large, and a chain may reach thousands of them."""
    versioned = sorted({f"{url}|{version}" for url, version in targets if version})
    bare = sorted({url for url, _ in targets})
    unpinned = [{field: {"$eq": url, "$not": {"$elemMatch": _pinning(url)}}} for url in bare]
    return {"$or": [{field: {"$in": versioned}}, *unpinned]}


def canonical_identity(search: dict[str, list]) -> list[tuple[str, str | None]]:
    """(url, version) of a canonical resource from its `url` and `version` entries."""
    version = next(iter(codes(search.get("version", []))), None)
    return [(url, version) for url in search.get("url", [])]


def references_to(criterion: Criterion, value: str) -> list[str]:
    """The entries a reference search value matches (`id`, `Type/id`, or an absolute URL);
    a resource here may be referred to relatively or with this server's base URL."""
    target_type = criterion.modifier if criterion.modifier not in MODIFIERS else None
    value = _HISTORY.sub("", value)
    base = (criterion.base_url or "").rstrip("/")
    if base and value.startswith(base + "/"):
        value = value[len(base) + 1 :]
    if value.startswith(_OFF_TARGET):
        raise ValueError(f"'{value}' is not a reference like Type/id")  # an entry's own form
    if ":" in value:  # an absolute URL or URN elsewhere
        relative = [value]
    elif "/" in value:
        if not LOCAL_REFERENCE.match(value):
            raise ValueError(f"'{value}' is not a reference like Type/id")
        if target_type and not value.startswith(f"{target_type}/"):
            raise ValueError(f"'{value}' is not a reference to a {target_type}")
        relative = [value]
    elif not _ID.fullmatch(value):
        raise ValueError(f"'{value}' is not a resource id")
    else:
        types = [target_type] if target_type else list(criterion.parameter.targets)
        relative = [f"{kind}/{value}" for kind in types]
        if not target_type:
            relative.append(_OFF_TARGET + value)
            if base:
                relative.append(f"{_OFF_TARGET}{base}/{value}")
    absolute = [f"{base}/{r}" for r in relative if base and LOCAL_REFERENCE.match(r)]
    return relative + absolute


# What ends a part of a business version: `1` is above `1.0`, `1.1` and `1-beta`, not `10`.
_VERSION_PART_ENDS = ".-+"


def canonicals_below(value: str, targets: tuple[str, ...] = ()) -> dict:
    """`:below` on a canonical reference (search.html#versions): `url` finds every version
    of it, as the bare url does; `url|1` the versions `1`, `1.0`, `1.1`, ... ("matches the
    first two" of 1.0, 1.1 and 2.0). An anchored pattern: a range of the index. A parameter
    none of whose `targets` is referred to by canonical URL (`location`: Locations) takes no
    canonical, whatever URL the value is; a hierarchy of references is not searched."""
    url, bar, version = value.partition("|")
    if (":" not in url or LOCAL_REFERENCE.match(url) or not url or (bar and not version)
            or (targets and not any(map(is_canonical_resource, targets)))):
        raise ValueError("':below' on a reference takes a canonical URL, with or without a "
                         "|version (search.html#versions); a hierarchy of references is not "
                         "searched here")
    if not bar:
        return {"$eq": url}
    return {"$regex": "^" + re.escape(value) + f"(?:$|[{re.escape(_VERSION_PART_ENDS)}])"}


def compile_value(criterion: Criterion, value: str) -> dict:
    if criterion.modifier == "identifier":
        return matching(criterion.field, value_keys(value, prefix="i:"))
    if criterion.modifier == "below":
        return {criterion.field: canonicals_below(unescape(value), criterion.parameter.targets)}
    return {criterion.field: {"$in": references_to(criterion, unescape(value))}}
