"""Rules a generated snapshot must keep (http://hl7.org/fhir/R4/profiling.html#rules): a
profile narrows its base, never widens it (errors); and flaws that leave it usable
(warnings): slices its discriminators cannot tell apart
(http://hl7.org/fhir/R4/profiling.html#discriminator), identifier systems spelt otherwise
than their NamingSystem."""

from fhir_server.conformance.messages import PhrasedError
from fhir_server.conformance.type_codes import type_code_of


class SnapshotError(PhrasedError):
    """A differential that cannot be applied to its base: why, as the catalog words it."""


# Discriminators the slices' own definitions must fix a value for.
_VALUE_DISCRIMINATORS = ("value", "pattern")
_VALUE_PROPERTIES = ("fixed", "pattern")
# Abstract types a profile may constrain to any concrete type.
_ABSTRACT = frozenset({"Resource", "DomainResource", "Element", "BackboneElement"})


def _upper(max_text: str) -> float:
    return float("inf") if max_text == "*" else int(max_text)


def check_cardinality(target: dict, differential: dict, element_id: str,
                      widest: str | None = None) -> None:
    """The differential's min..max within the base's, or up to `widest`
    (profiling.html#cardinality)."""
    base_max = widest or target.get("max", "*")
    new_max = differential.get("max", base_max)
    new_min = differential.get("min", target.get("min", 0))
    if _upper(new_max) > _upper(base_max):
        raise SnapshotError("profile.max-widens", element=element_id, max=new_max,
                            base_max=base_max)
    if new_min > _upper(new_max):
        raise SnapshotError("profile.min-above-max", element=element_id, min=new_min,
                            max=new_max)


def check_types(target: dict, differential: dict, element_id: str) -> None:
    """The differential's types among the base's (profiling.html#types): a FHIRPath system
    type stands for the FHIR type it names too (Extension.url's System.String for `uri`,
    which IGs' extensions give it, as HL7's validator accepts)."""
    if "type" not in differential or "type" not in target:
        return
    allowed = {t["code"] for t in target["type"]} | {type_code_of(t, target)
                                                     for t in target["type"]}
    if allowed & _ABSTRACT:
        return
    for entry in differential["type"]:
        if entry.get("code") not in allowed:
            raise SnapshotError("profile.type-not-in-base", element=element_id,
                                type=entry.get("code"), allowed=", ".join(sorted(allowed)))


def _fixes_value(element: dict) -> bool:
    """A fixed value, pattern, required binding, or none at all (max 0: the slice holds the
    values without it)."""
    return any(k.startswith(_VALUE_PROPERTIES) for k in element) or (
        element.get("binding", {}).get("strength") == "required"
    ) or element.get("max") == "0"


def _discriminated(by_id: dict[str, dict], slice_id: str, path: str) -> bool:
    """Whether a slice fixes the value at a discriminator path: a fixed value, pattern,
    required binding or max 0 on the element the path names or on one between it and the slice,
    or a type profile the value comes from (an extension's fixed url)."""
    if "(" in path:
        return True  # extension('url') and resolve() name values this check cannot follow
    steps = [] if path == "$this" else path.split(".")
    current = slice_id
    for step in [None, *steps]:
        if step is not None:
            current = f"{current}.{step}"
        element = by_id.get(current)
        if element is None:
            return False
        if _fixes_value(element) or any(t.get("profile") for t in element.get("type", ())):
            return True
    return False


def discriminator_warnings(elements: list[dict]) -> list[str]:
    """Slices of an element sliced by value or pattern that fix no value at such a
    discriminator's path: no instance can be matched to them by it (the validator leaves
    that discriminator out)."""
    by_id = {e["id"]: e for e in elements}
    warnings = []
    for element in elements:
        discriminators = [
            d for d in element.get("slicing", {}).get("discriminator", ())
            if d.get("type") in _VALUE_DISCRIMINATORS
        ]
        prefix = element["id"] + ":"
        slices = [e["id"] for e in elements
                  if discriminators and e["id"].startswith(prefix)
                  and "." not in e["id"][len(prefix):] and "/" not in e["id"][len(prefix):]]
        for discriminator in discriminators:
            path = discriminator.get("path", "$this")
            unfixed = [s for s in slices if not _discriminated(by_id, s, path)]
            if unfixed:
                warnings.append(
                    f"{element['id']} is sliced by {discriminator['type']} at '{path}', but "
                    f"its slices {', '.join(unfixed)} fix no value there (fixed[x], "
                    "pattern[x] or a required binding)"
                )
    return warnings


def _spelling(uri: str) -> str:
    return uri.lower().replace("_", "-")


def identifier_system_warnings(elements: list[dict], unique_ids: frozenset[str]) -> list[str]:
    """Identifier systems a profile fixes that no NamingSystem holds, although one holds the
    same URI spelt with other case or `_`/`-` (http://hl7.org/fhir/R4/namingsystem.html):
    instances written to the NamingSystem would fail the profile, and the reverse."""
    spelt = {_spelling(uri): uri for uri in unique_ids}
    warnings = []
    for element in elements:
        if not isinstance(element, dict) or not str(element.get("path")).endswith(".system"):
            continue
        uri = element.get("fixedUri", element.get("patternUri"))
        if isinstance(uri, str) and uri not in unique_ids and _spelling(uri) in spelt:
            where = element.get("id", element["path"])
            warnings.append(f"{where} fixes the identifier system {uri}, but the "
                            f"NamingSystem spells it {spelt[_spelling(uri)]}")
    return warnings
