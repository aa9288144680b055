"""The AuditEvent of one request, as IHE Basic Audit Log Patterns shapes it
(https://profiles.ihe.net/ITI/BALP/): who, what, when, outcome, from which address."""

import base64
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote_plus

from fhir_server.conformance.identifiers import CCCD_SYSTEM, CLIENT_ID_SYSTEM
from fhir_server.search.index import resource_compartments
from fhir_server.search.types.reference import LOCAL_REFERENCE, local_resource
from fhir_server.services.queried_patients import queried_patients

REQUEST_ID_SYSTEM = "urn:fhir-exchange-server:request-id"
# action codes (http://hl7.org/fhir/R4/valueset-audit-event-action.html) per interaction
_ACTIONS = {
    "create": "C",
    "read": "R",
    "vread": "R",
    "update": "U",
    "patch": "U",
    "delete": "D",
    "search-type": "E",
    "history-instance": "R",
    "history-type": "E",
    "history-system": "E",
    "search-system": "E",
    "transaction": "E",
    "batch": "E",
    "operation": "E",
    "export": "E",
    "capabilities": "R",
    "token": "E",
}

# Credentials a client may put in a URL (RFC 6750 §2.3's `access_token`; OAuth's others),
# by name (and any suffix): the trail keeps that they were sent, never their value.
_SECRET_NAME = re.compile(
    r"(?:access_token|refresh_token|id_token|client_secret|client_assertion|password)",
    re.IGNORECASE)
_REDACTED = "REDACTED"


def without_secrets(query: str) -> str:
    """The query with the value of each credential parameter replaced; a name is read as
    the server reads it, percent-decoded (`access%5Ftoken` is `access_token`)."""
    return "&".join(_without_secret(part) for part in query.split("&"))


def _without_secret(part: str) -> str:
    name, equals, _ = part.partition("=")
    if equals and _SECRET_NAME.match(unquote_plus(name).lstrip("?")):
        return f"{name}={_REDACTED}"
    return part


def patients_of(resource_type: str, resource: dict | None, base: str) -> tuple[str, ...]:
    """`Patient/id` of each patient whose compartment the resource is in (its subject,
    patient, performer ...; a Patient, itself): the patients a read or write of it is about,
    as BALP's PatientRead and PatientCreate/Update name them. A reference written as this
    server's URL (`base`) of the patient names them too, as their compartment search finds
    the resource by it (`compartment_filter`)."""
    if resource is None:
        return ()
    if resource_type == "Patient" and "link" not in resource and isinstance(resource.get("id"),
                                                                            str):
        # Itself alone, without extracting its compartments (20 us, 6% of a read's CPU).
        return (f"Patient/{resource['id']}",)
    return tuple(dict.fromkeys(
        f"Patient/{local[1]}" for compartment in resource_compartments(resource_type, resource)
        if (local := local_resource(compartment, base)) is not None and local[0] == "Patient"))


@dataclass(frozen=True)
class Access:
    """What one request did, as the audit trail needs it."""

    interaction: str
    status: int | None  # None: committed in the transaction of the write it records
    who: str | None  # personal ID or client id; None when no token was accepted
    is_client: bool
    name: str | None
    address: str | None
    entities: tuple[str, ...]  # `Type/id` the request was about (or wrote)
    query: str | None  # search parameters, for searches
    source: str  # this server (its base URL)
    request_id: str | None = None  # the X-Request-Id of the response
    failure: str | None = None  # the type of the error that made it a 500
    patients: tuple[str, ...] = ()  # `Patient/id` whose data it read or wrote (BALP)


def _outcome(status: int | None) -> str:
    """0 success, 4 minor failure (refused request), 8 serious failure (server error)."""
    return "0" if status is None or status < 400 else "4" if status < 500 else "8"


def _outcome_description(access: Access) -> str:
    """`committed`, or the HTTP status with the type of the server's error, if any
    (`HTTP 500: OperationFailure`)."""
    if access.status is None:
        return "committed"
    return f"HTTP {access.status}" + (f": {access.failure}" if access.failure else "")


# A patient whose data was read or written, or a query names (BALP's `patient` entity of
# PatientRead, PatientCreate, ... and PatientQuery): a person in the patient role.
_PATIENT_ENTITY = {
    "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1",
             "display": "Person"},
    "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1",
             "display": "Patient"},
}

# A resource read or written (BALP's `data` entity): a system object in the role of a
# domain resource.
_RESOURCE_ENTITY = {
    "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2",
             "display": "System Object"},
    "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "4",
             "display": "Domain Resource"},
}
# A search's query (R4's AuditEvent-example-search, BALP's `query` entity).
_QUERY_ENTITY = {
    "type": _RESOURCE_ENTITY["type"],
    "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "24",
             "display": "Query"},
}


def _entity(entity: str) -> dict:
    """What a request was about: a resource (a Patient in the patient role: its read,
    history, compartment or `$everything` is about that patient's data), a type (`what.type`:
    a bare `Patient` is no literal reference, references.html#literal) or another URL (an
    export's status or file)."""
    if "/" not in entity:
        return {"what": {"type": entity}}
    what = {"what": {"reference": entity}}
    if not LOCAL_REFERENCE.fullmatch(entity):
        return what
    return (_PATIENT_ENTITY if entity.startswith("Patient/") else _RESOURCE_ENTITY) | what


def audit_event(access: Access, recorded: datetime, event_id: str) -> dict:
    action = _ACTIONS.get(access.interaction, "E")
    role = ("AUT", "author (originator)") if action in "CUD" else ("IRCP", "information recipient")
    agent: dict = {
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                    "code": role[0],
                    "display": role[1],
                }
            ]
        },
        "requestor": True,
    }
    if access.who is not None:
        system = CLIENT_ID_SYSTEM if access.is_client else CCCD_SYSTEM
        agent["who"] = {"identifier": {"system": system, "value": access.who}}
        if access.name:
            agent["who"]["display"] = access.name
            agent["name"] = access.name  # what R4's `agent-name` parameter searches
    if access.address:
        agent["network"] = {"address": access.address, "type": "2"}
    event: dict = {
        "resourceType": "AuditEvent",
        "id": event_id,
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
            "display": "RESTful Operation",
        },
        "subtype": [
            {"system": "http://hl7.org/fhir/restful-interaction", "code": access.interaction}
        ],
        "action": action,
        "recorded": recorded.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "outcome": _outcome(access.status),
        "outcomeDesc": _outcome_description(access),
        "agent": [agent],
        "source": {
            "observer": {"display": access.source},
            "type": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                    "code": "4",
                    "display": "Application Server",
                }
            ],
        },
    }
    patients = list(access.patients)
    if access.query:
        searched = next((e for e in access.entities if "/" not in e), None)
        patients += queried_patients(access.query, searched)
    entities: list[dict] = [_entity(entity) for entity in access.entities]
    entities += [_PATIENT_ENTITY | {"what": {"reference": patient}}
                 for patient in dict.fromkeys(patients) if patient not in access.entities]
    if access.query:
        entities.append(_QUERY_ENTITY
                        | {"query": base64.b64encode(without_secrets(access.query).encode())
                           .decode()})
    if access.request_id:
        # Every event of one request (a batch has several) names it.
        entities.append(
            {"what": {"identifier": {"system": REQUEST_ID_SYSTEM, "value": access.request_id}}}
        )
    if entities:
        event["entity"] = entities
    return event
