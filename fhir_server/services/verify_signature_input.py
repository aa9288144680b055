"""The input of `$verify-signature`: a Provenance with the resources it signs, or one
signed document Bundle, each checked as a write of it would be."""

from fhir_server.conformance.validation import validate_resource
from fhir_server.errors import BadRequest


def signed_document_input(parameters: object) -> dict | None:
    """The document Bundle of a `$verify-signature` Parameters body that checks one (its
    `document` parameter), None when it checks a Provenance; 400 if malformed."""
    given = parameters.get("parameter") if isinstance(parameters, dict) else None
    named = [p for p in given if isinstance(p, dict)] if isinstance(given, list) else []
    if not any(p.get("name") == "document" for p in named):
        return None
    documents = [p.get("resource") for p in named]
    if len(named) != 1 or named[0].get("name") != "document" or not isinstance(documents[0], dict) \
            or documents[0].get("resourceType") != "Bundle":
        raise BadRequest("$verify-signature checks either a 'provenance' (with its 'resource's) "
                         "or one 'document' holding a Bundle", expression="Parameters.parameter")
    validate_resource(documents[0])
    return documents[0]


def verify_signature_input(parameters: object) -> tuple[dict, list[dict]]:
    """(provenance, resources) of a `$verify-signature` Parameters body; 400 if malformed."""
    if not isinstance(parameters, dict) or parameters.get("resourceType") != "Parameters":
        raise BadRequest("$verify-signature takes a Parameters resource")
    named: dict[str, list] = {"provenance": [], "resource": []}
    for parameter in parameters.get("parameter") or []:
        if isinstance(parameter, dict) and parameter.get("name") in named:
            named[parameter["name"]].append(parameter.get("resource"))
    provenances = named["provenance"]
    if (
        len(provenances) != 1
        or not isinstance(provenances[0], dict)
        or (provenances[0].get("resourceType") != "Provenance")
    ):
        raise BadRequest(
            "$verify-signature needs exactly one 'provenance' parameter holding a Provenance",
            expression="Parameters.parameter",
        )
    # A Provenance that is not valid R4 (a `target` that is no list, ...) is refused as a
    # write of it would be, rather than half-read.
    validate_resource(provenances[0])
    resources = named["resource"]
    if not all(isinstance(r, dict) and isinstance(r.get("resourceType"), str) for r in resources):
        raise BadRequest(
            "Each 'resource' parameter must hold a resource", expression="Parameters.parameter"
        )
    return provenances[0], resources
