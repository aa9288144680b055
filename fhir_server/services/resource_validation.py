"""`$validate` (http://hl7.org/fhir/R4/resource-operation-validate.html): would a resource be
accepted, and if not, why. It never stores anything; the answer is an OperationOutcome with
status 200 whether or not the resource is valid (4xx only when the check cannot be made).

The resource is checked as a write would check it (base definition, known `meta.profile`
claims, FHIR_REQUIRED_PROFILES of its type, identifier formats, a document's seal, a signed
Provenance's signatures), plus the `profile` asked for.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeGuard

from fhir_server.conformance.definitions import registry
from fhir_server.conformance.issue_lists import capped
from fhir_server.conformance.messages import issue
from fhir_server.conformance.profiles import other_version_held
from fhir_server.conformance.registry import APPEND_ONLY_TYPES, READ_ONLY_TYPES
from fhir_server.errors import BadRequest, Issue
from fhir_server.services.offloading import LARGE_INPUT_BYTES, input_size, run_sized
from fhir_server.services.questionnaire_check import questionnaire_issues
from fhir_server.services.resources import ResourceService
from fhir_server.services.subsetting import is_subsetted

MODES = ("create", "update", "delete", "profile")


@dataclass(frozen=True)
class ValidateRequest:
    resource: dict | None
    mode: str | None
    profile: str | None


def is_input(body: object, resource_type: str) -> TypeGuard[dict]:
    """Whether a body is the operation's input Parameters rather than the resource: on
    Parameters itself, only when its `resource` is a Parameters."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        return False
    given = body.get("parameter")
    return resource_type != "Parameters" or isinstance(given, list) and any(
        isinstance(p, dict) and p.get("name") == "resource" and isinstance(p.get("resource"), dict)
        and p["resource"].get("resourceType") == "Parameters" for p in given)


def parse_validate(pairs: list[tuple[str, str]], resource: object | None) -> ValidateRequest:
    """The operation's input: `mode` and `profile` (from the query or a POSTed Parameters,
    each given once), and the resource (Parameters' `resource`, or the body itself)."""
    if resource is not None and not isinstance(resource, dict):
        raise BadRequest("The body of $validate is a resource or a Parameters resource")
    values = dict(pairs)
    mode = values.get("mode")
    if mode is not None and mode not in MODES:
        raise BadRequest(f"$validate mode '{mode}' is not one of {', '.join(MODES)}",
                         expression="mode")
    return ValidateRequest(resource, mode, values.get("profile"))


def _check_profile(url: str, resource_type: str) -> None:
    definition = registry().structure_definition(url)
    if definition is None:
        raise BadRequest(f"Profile {url} is not installed on this server: it validates "
                         "against the profiles of installed packages only (fhir-server package "
                         "install; the CapabilityStatement lists them as supportedProfile), "
                         "and a StructureDefinition stored through the API is data, not one "
                         "of them", expression="profile")
    if (held := other_version_held(url)) is not None:
        raise BadRequest(f"Profile {url} is not known to this server in that version (it "
                         f"holds version {held}): it cannot validate against it",
                         expression="profile")
    if definition["type"] != resource_type:
        raise BadRequest(f"Profile {url} constrains {definition['type']}, not {resource_type}",
                         expression="profile")


def _mode_issues(request: ValidateRequest, resource_type: str, resource_id: str | None,
                 resource: dict) -> list[Issue]:
    """What the mode adds: an update names the resource it replaces; AuditEvent and
    Provenance are never changed by clients."""
    issues = []
    if request.mode == "update":
        if not resource.get("id"):
            issues.append(issue("validate.update-needs-id", "required", f"{resource_type}.id"))
        elif resource_id is not None and resource["id"] != resource_id:
            issues.append(issue("validate.id-mismatch", "invalid", f"{resource_type}.id",
                                id=resource["id"], url_id=resource_id))
    if request.mode in ("update", "delete") and (
        resource_type in READ_ONLY_TYPES or resource_type in APPEND_ONLY_TYPES
    ):
        issues.append(issue("validate.not-changeable", "business-rule", type=resource_type))
    if request.mode == "create" and resource_type in READ_ONLY_TYPES:
        issues.append(issue("validate.server-written", "business-rule", type=resource_type))
    if request.mode in ("create", "update") and is_subsetted(resource):
        issues.append(issue("validate.subsetted", "business-rule", "Meta.tag"))
    return issues


async def _countersignature_issues(service: ResourceService, request: ValidateRequest,
                                   provenance: dict, found: list[Issue]) -> list[Issue]:
    """Why a create would refuse a signed Provenance sent (its signatures against the
    versions stored here, and what it claims of them), checked where the create checks it:
    once nothing else refuses it. A stored one was checked when written; an update is
    refused before (Provenance is append-only)."""
    if (request.resource is None or request.mode not in (None, "create")
            or any(issue.severity == "error" for issue in found)):
        return []
    return await service.provenance.countersignature_issues(service.database.store(),
                                                            provenance)


async def validate(service: ResourceService, resource_type: str, resource_id: str | None,
                   request: ValidateRequest, read_warnings: Sequence[Issue] = ()) -> list[Issue]:
    """The issues of the resource given (or, at instance level, the stored one), then the
    warnings of reading its body (`read_warnings`); one information issue when there are
    none."""
    if request.mode in ("update", "delete") and resource_id is None:
        # Resource-validate: "Modes update and delete can only be used when the operation
        # is invoked at the resource instance level."
        raise BadRequest(f"$validate mode '{request.mode}' is for an existing resource: "
                         f"[base]/{resource_type}/[id]/$validate", expression="mode")
    if request.mode == "profile" and (resource_id is None or request.profile is None
                                      or request.resource is not None):
        # resource-validation-mode: "The server checks an existing resource (must be
        # nominated by id, not provided as a parameter) as valid against the nominated
        # profile."
        raise BadRequest("$validate mode 'profile' checks a stored resource against a profile: "
                         f"[base]/{resource_type}/[id]/$validate?mode=profile&profile=[url], "
                         "with no resource sent", expression="mode")
    if request.profile is not None:
        _check_profile(request.profile, resource_type)
    resource = request.resource
    if resource is None or request.mode == "delete":
        if resource_id is None:
            raise BadRequest(f"$validate on {resource_type} needs the resource to validate: "
                             "POST it, or a Parameters with parameter 'resource'")
        stored = (await service.read(resource_type, resource_id)).resource  # 404, 410
        resource = resource if resource is not None else stored
        # The stored resource is the input now, whatever the request's size: off the loop.
        input_size.set(max(input_size.get(), LARGE_INPUT_BYTES))
    assert resource is not None, "read() refuses deletions"
    given = resource.get("resourceType")
    if given != resource_type:
        what = (f"a {given}" if isinstance(given, str) else "a body without a resourceType"
                if given is None else f"resourceType {given!r}, which is no type name")
        raise BadRequest(f"$validate on {resource_type} was given {what}: send a "
                         f"{resource_type}", expression="resourceType")
    issues = _mode_issues(request, resource_type, resource_id, resource)
    if request.mode != "delete":
        extra = (request.profile,) if request.profile else ()
        # Off the event loop when the body is large, as a write's validation is.
        issues += await run_sized(service.policy.issues, resource, extra)
        if resource_type == "Bundle":  # a document's seal proven false, as a write refuses
            issues += await service.provenance.document_signature_issues(resource)
        if resource_type == "QuestionnaireResponse":
            issues += await questionnaire_issues(service.database.store(), resource)
        if resource_type == "Provenance":
            issues += await _countersignature_issues(service, request, resource, issues)
    issues += read_warnings
    return capped(issues) or [issue("validate.ok", "informational", severity="information")]
