"""The search parameters this server supports, from the SearchParameter definitions of the
registry (http://hl7.org/fhir/R4/searchparameter.html), and the five compartments
(http://hl7.org/fhir/R4/compartmentdefinition.html)."""

from dataclasses import dataclass
from functools import cache

from fhir_server.conformance.definitions import registry
from fhir_server.conformance.registry import is_supported, resource_types

# Resource-level parameters served; `_text`, `_content` and `_query` are not.
COMMON_PARAMETERS = ("_id", "_lastUpdated", "_tag", "_profile", "_security", "_source")
# `_list` (search.html#list), a parameter of every resource that no SearchParameter defines:
# it finds what a List holds, not an element of the resource.
LIST_PARAMETER = "_list"
SUPPORTED_TYPES = (
    "string", "token", "date", "reference", "quantity", "number", "uri", "composite", "special"
)
# `special` parameters whose search this server implements (Location.position for `near`).
SPECIAL_PARAMETERS = ("near",)
# The compartment types of R4 (http://hl7.org/fhir/R4/compartmentdefinition.html).
COMPARTMENT_TYPES = ("Patient", "Encounter", "RelatedPerson", "Practitioner", "Device")


@dataclass(frozen=True)
class Component:
    """One part of a composite parameter: its type and its expression relative to the
    composite's element."""

    type: str
    expression: str


@dataclass(frozen=True)
class SearchParameter:
    code: str
    type: str
    url: str
    description: str
    expression: str
    targets: tuple[str, ...] = ()
    components: tuple[Component, ...] = ()


def _definitions() -> list[dict]:
    """The SearchParameters their canonical URLs resolve to (one version of each)."""
    return [d for d in registry().all("SearchParameter") if registry().resolve(d["url"]) is d]


def _components(definition: dict, by_url: dict[str, dict]) -> tuple[Component, ...]:
    """Each component typed by its own definition. Where the official data pairs a component
    with the wrong definition (R4's DocumentReference-relationship lists relatesto's url for
    `code`), the definition whose expression ends in the component's path is taken."""
    parts = [(c["expression"], by_url[c["definition"]]) for c in definition.get("component", [])]
    candidates = [d for _, d in parts]
    components = []
    for expression, named in parts:
        matching = [d for d in candidates if d.get("expression", "").endswith(f".{expression}")]
        components.append(Component((matching[0] if matching else named)["type"], expression))
    return tuple(components)


@cache
def _by_type() -> dict[str, dict[str, SearchParameter]]:
    definitions = _definitions()
    by_url = {d["url"]: d for d in definitions}
    found: dict[str, dict[str, SearchParameter]] = {t: {} for t in resource_types()}
    for definition in definitions:
        if definition["type"] not in SUPPORTED_TYPES or "expression" not in definition:
            continue
        if definition["type"] == "special" and definition["code"] not in SPECIAL_PARAMETERS:
            continue
        bases = set(definition["base"])
        common = "Resource" in bases and definition["code"] in COMMON_PARAMETERS
        parameter = SearchParameter(
            code=definition["code"],
            type=definition["type"],
            url=definition["url"],
            description=definition.get("description", "").split("\n")[0].strip(),
            expression=definition["expression"],
            targets=tuple(definition.get("target", ())),
            components=_components(definition, by_url),
        )
        for resource_type in found:
            if common or resource_type in bases:
                found[resource_type][parameter.code] = parameter
    return found


def search_parameters(resource_type: str) -> dict[str, SearchParameter]:
    """code → definition, for one supported resource type."""
    return _by_type().get(resource_type, {})


def searches_by(resource_type: str, code: str) -> bool:
    """Whether a search of the type takes the parameter `code`: one of its own, or `_list`,
    which every type takes (as a search of the type, a chain's or `_has`'s, or of several
    types)."""
    return code == LIST_PARAMETER or code in search_parameters(resource_type)


@cache
def reference_parameters(resource_type: str) -> tuple[str, ...]:
    """The codes of a type's reference parameters (what `_include`s and `$everything`
    follow)."""
    return tuple(code for code, parameter in search_parameters(resource_type).items()
                 if parameter.type == "reference")


# Beyond R4's CompartmentDefinitions: a Device by its `patient` is in that Patient's
# compartment (an implant is the patient's record), as HAPI FHIR (8.0) and Microsoft's server
# put it and ONC (g)(10) tests expect; R4 leaves Device out.
_ADDED_MEMBERS = {"Patient": {"Device": ("patient",)}}


@cache
def compartment_parameters(compartment_type: str) -> dict[str, tuple[str, ...]]:
    """resource type → the parameters that put a resource in a compartment of
    `compartment_type` (e.g. Patient: {"Encounter": ("patient",), ...})."""
    for definition in registry().all("CompartmentDefinition"):
        if definition["code"] == compartment_type:
            return {
                entry["code"]: tuple(entry.get("param", ()))
                for entry in definition["resource"]
                if is_supported(entry["code"]) and entry.get("param")
            } | _ADDED_MEMBERS.get(compartment_type, {})
    return {}


def compartment_members(compartment_type: str) -> frozenset[str]:
    """The types a compartment of `compartment_type` holds: its focal type and those its
    CompartmentDefinition names."""
    return frozenset({compartment_type, *compartment_parameters(compartment_type)})


def patient_compartment() -> dict[str, tuple[str, ...]]:
    """resource type → the parameters that put a resource in a Patient's compartment."""
    return compartment_parameters("Patient")
