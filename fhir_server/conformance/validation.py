"""Validation of resource bodies before they are stored (http://hl7.org/fhir/R4/validation.html):
against the base R4 definitions (`base_validation.py`), then against profiles."""

from collections.abc import Iterable
from dataclasses import dataclass

from fhir_server.conformance.base_validation import BaseWalk, resource_types
from fhir_server.conformance.issue_lists import capped, errors_first
from fhir_server.conformance.messages import issue
from fhir_server.conformance.primitives import shown
from fhir_server.conformance.profile_validation import profile_issues
from fhir_server.conformance.profiles import declared_profiles, unknown_profiles
from fhir_server.errors import InvalidResource, Issue


@dataclass(frozen=True, slots=True)
class Validation:
    issues: list[Issue]  # errors first
    malformed: bool  # its structure is broken: only the base definition was checked


def validation(resource: dict, profiles: Iterable[str] = ()) -> Validation:
    """Every issue of `resource`, without raising (what `$validate` reports, `capped`):
    against the base R4 definition, then, unless its structure is broken (an element the
    definition lacks, an array for one value, a string for a number: nothing a profile's
    rules could be read on), against each profile in `profiles`, as the HL7 validator
    reports a bad value and a profile's rule together (http://hl7.org/fhir/R4/validation.html).
    Which profiles is the caller's choice: those of meta.profile the registry holds, those a
    hospital requires."""
    resource_type = resource.get("resourceType") if isinstance(resource, dict) else None
    if not isinstance(resource_type, str) or resource_type not in resource_types():
        return Validation([issue("not-a-resource", "structure", "resourceType",
                                 value=shown(resource_type))], malformed=True)
    walk = BaseWalk()
    issues = walk.run(resource, resource_type)
    if not walk.malformed:
        reported = {_fault(i) for i in issues if i.code != "invariant"}
        from_profiles: list[Issue] = []
        for url in dict.fromkeys(profiles):
            from_profiles += profile_issues(resource, url)
        # What the resources within it claim (a document's entries, contained ones), as the
        # HL7 validator checks them; a claim the enclosing profile applies too is one issue.
        bundle = resource if resource_type == "Bundle" else None
        for location, nested in walk.nested:
            for url in declared_profiles(nested):
                from_profiles += profile_issues(nested, url, location, bundle)
            issues += unknown_profiles(nested, location)
        # A profile's rule that fails where the base check already failed (a wrong value[x]
        # of an extension, a code outside its binding) reports that fault again (probe CF);
        # two invariants failing on one element are two faults.
        issues += [i for i in from_profiles if _fault(i) not in reported]
    return Validation(errors_first(list(dict.fromkeys(issues))), walk.malformed)


def _fault(found: Issue) -> tuple[str, str, tuple[str, ...]]:
    return found.severity, found.code, found.expression


def validation_issues(resource: dict, profiles: Iterable[str] = ()) -> list[Issue]:
    """The issues of `validation`."""
    return validation(resource, profiles).issues


def validate_resource(resource: dict, profiles: Iterable[str] = ()) -> None:
    """Raise InvalidResource listing every problem of `resource` (errors first, warnings
    kept) if it has an error against its base definition or one of `profiles`; return if it
    has none (http://hl7.org/fhir/R4/validation.html). The warnings of a valid resource are
    what `validation_issues` returns."""
    issues = validation_issues(resource, profiles)
    if issues and issues[0].severity in ("fatal", "error"):
        raise InvalidResource(issues[0].diagnostics, issues=capped(issues))
