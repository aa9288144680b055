"""The patients a search or operation names in its query: IHE BALP's PatientQuery
(https://profiles.ihe.net/ITI/BALP/StructureDefinition-IHE.BasicAudit.PatientQuery.html)
records each as an entity of the AuditEvent beside the query, so that a patient's "who
looked at my record" (`AuditEvent?patient=...`) finds the searches of their data too."""

import re

from fhir_server.conformance.primitives import ID_REGEX, is_id
from fhir_server.search.request import query_pairs

# `patient`, and `subject` when it names a Patient; their modifiers are types or :identifier.
_PATIENT_NAMED = re.compile(r"(patient|subject)(:Patient)?")
_PATIENT_REFERENCE = re.compile(rf"(?:.*/)?Patient/({ID_REGEX})(?:/_history/[^/]*)?")
_MOST = 20  # patients named in one event: a query can list hundreds


def queried_patients(query: str, searched_type: str | None) -> list[str]:
    """`Patient/<id>` of each patient the query names by reference (`patient=123`,
    `subject=Patient/123`, `patient=https://host/fhir/Patient/123`, lists too); on Patient
    itself, by `_id` as well."""
    found: dict[str, None] = {}
    if query.startswith("/"):  # the path of an operation, and its parameters
        query = query.partition("?")[2]
    for name, value in query_pairs(query):
        bare_allowed = name in ("patient", "patient:Patient", "subject:Patient") or (
            searched_type == "Patient" and name == "_id")
        if not (_PATIENT_NAMED.fullmatch(name) or bare_allowed):
            continue
        for one in value.split(","):
            if match := _PATIENT_REFERENCE.fullmatch(one):
                found[f"Patient/{match[1]}"] = None
            elif bare_allowed and is_id(one):
                found[f"Patient/{one}"] = None
    return list(found)[:_MOST]
