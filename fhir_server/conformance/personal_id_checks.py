"""A person's personal identification number (CCCD, số định danh cá nhân) against what the
resource says of the person: its 4th digit gives the century of birth and the sex, its 5th
and 6th the year within the century (Circular 59/2021/TT-BCA). A number that disagrees with
`gender` or `birthDate` has one of them mistyped: a warning, since the resource may still be
right and the number is the one the person's card shows."""

from fhir_server.conformance.identifier_formats import (
    birth_year,
    is_female,
    personal_id_problem,
)
from fhir_server.conformance.identifier_systems import canonical_system
from fhir_server.conformance.identifiers import CCCD_SYSTEM
from fhir_server.conformance.messages import issue
from fhir_server.errors import Issue

# Types whose `gender` and `birthDate` are those of the person their identifiers name.
_PEOPLE = frozenset({"Patient", "Practitioner", "RelatedPerson", "Person"})
_SEXES = {"male": False, "female": True}
_VI = {"male": "nam", "female": "nữ", "man": "nam", "woman": "nữ"}


def personal_id_issues(resource: dict) -> list[Issue]:
    kind = resource.get("resourceType")
    identifiers = resource.get("identifier")
    if kind not in _PEOPLE or not isinstance(identifiers, list):
        return []
    gender, born = resource.get("gender"), resource.get("birthDate")
    year = int(born[:4]) if isinstance(born, str) and born[:4].isdigit() else None
    issues = []
    for index, identifier in enumerate(identifiers):
        value = identifier.get("value") if isinstance(identifier, dict) else None
        system = identifier.get("system") if isinstance(identifier, dict) else None
        if (not isinstance(value, str) or not isinstance(system, str)
                or canonical_system(system) != CCCD_SYSTEM or personal_id_problem(value)):
            continue
        where = f"{kind}.identifier[{index}].value"
        if gender in _SEXES and is_female(value) != _SEXES[gender]:
            other = "woman" if is_female(value) else "man"
            issues.append(issue("personal-id-sex", "business-rule", where, severity="warning",
                                value=value, gender=gender, other=other,
                                vi={"gender": _VI[gender], "other": _VI[other]}))
        if year is not None and birth_year(value) != year:
            issues.append(issue("personal-id-birth-year", "business-rule", where,
                                severity="warning", value=value, year=birth_year(value),
                                birth_date=born))
    return issues
