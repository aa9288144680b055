"""Typed errors. Each class knows its HTTP status and OperationOutcome issue code;
`api/errors.py` turns them into HTTP responses, and `api/limits.py` those it refuses before
the application runs (request heads, rate limits, query counts, a body too slow)."""

from collections.abc import Sequence
from dataclasses import dataclass, field

# OperationOutcome.issue extensions of the HL7 extensions pack (hl7.fhir.uv.extensions.r4):
# the id of the message, and where the rule that failed is defined.
MESSAGE_ID = "http://hl7.org/fhir/StructureDefinition/operationoutcome-message-id"
AUTHORITY = "http://hl7.org/fhir/StructureDefinition/operationoutcome-authority"


@dataclass(frozen=True)
class Issue:
    """One OperationOutcome.issue (http://hl7.org/fhir/R4/operationoutcome.html), in English
    and, when the message catalog has it, Vietnamese; a profile rule that failed is named by
    the profile's canonical URL and the id of its ElementDefinition."""

    diagnostics: str
    code: str = "invalid"
    severity: str = "error"
    expression: tuple[str, ...] = field(default_factory=tuple)
    profile: str | None = None
    element_id: str | None = None  # Patient.identifier:cccd.value
    message_id: str | None = None  # the message catalog's (conformance/messages.py)
    diagnostics_vi: str | None = None

    def to_fhir(self, language: str = "en") -> dict:
        """The issue in FHIR JSON, its diagnostics in `language` (`vi`, `vi-VN`: Vietnamese;
        anything else: English). The failed rule goes into `operationoutcome-authority` as
        `profile#element-id`, the form of Questionnaire.item.definition."""
        vietnamese = self.in_vietnamese(language)
        issue: dict[str, object] = {
            "severity": self.severity,
            "code": self.code,
            "diagnostics": self.diagnostics_vi if vietnamese else self.diagnostics,
        }
        extensions = []
        if self.message_id:
            extensions.append({"url": MESSAGE_ID, "valueString": self.message_id})
        if self.profile:
            authority = f"{self.profile}#{self.element_id}" if self.element_id else self.profile
            extensions.append({"url": AUTHORITY, "valueUri": authority})
        if extensions:
            issue = {"extension": extensions, **issue}
        if self.expression:
            issue["expression"] = list(self.expression)
        return issue

    def in_vietnamese(self, language: str) -> bool:
        """Whether `language` asks for Vietnamese and the catalog has this message in it."""
        return language.split("-")[0].strip().lower() == "vi" and bool(self.diagnostics_vi)


def operation_outcome(issues: Sequence[Issue], language: str = "en") -> dict:
    """An OperationOutcome of the issues, their messages in `language` where the catalog has
    them; `language: vi` (Resource.language, and the answer's Content-Language) only when
    one of them is in Vietnamese: the others are English whatever was asked."""
    outcome: dict = {"resourceType": "OperationOutcome"}
    if any(issue.in_vietnamese(language) for issue in issues):
        outcome["language"] = "vi"
    return outcome | {"issue": [issue.to_fhir(language) for issue in issues]}


class FhirError(Exception):
    """Base of every error that reaches a client as an OperationOutcome."""

    status = 500
    code = "exception"

    def __init__(
        self,
        diagnostics: str,
        *,
        expression: str | None = None,
        issues: list[Issue] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(diagnostics)
        self.diagnostics = diagnostics
        self.issues = issues or [
            Issue(diagnostics, self.code, expression=(expression,) if expression else ())
        ]
        self.headers = headers or {}

    def operation_outcome(self, language: str = "en") -> dict:
        return operation_outcome(self.issues, language)


class BadRequest(FhirError):
    status = 400
    code = "invalid"


class TooCostly(BadRequest):
    """A request the server will not run as asked: more work than it spends on one."""

    code = "too-costly"


class InvalidResource(BadRequest):
    """The body is not a valid FHIR resource (structure, cardinality, codes)."""

    code = "structure"


class NotFound(FhirError):
    status = 404
    code = "not-found"


class Gone(FhirError):
    status = 410
    code = "deleted"


class MethodNotAllowed(FhirError):
    status = 405
    code = "not-supported"


class NotAcceptable(FhirError):
    status = 406
    code = "not-supported"


class Conflict(FhirError):
    status = 409
    code = "conflict"


class PreconditionFailed(FhirError):
    status = 412
    code = "conflict"


class MultipleMatches(PreconditionFailed):
    code = "multiple-matches"


class PayloadTooLarge(FhirError):
    status = 413
    code = "too-costly"


class UnsupportedMediaType(FhirError):
    status = 415
    code = "not-supported"


class Unprocessable(FhirError):
    status = 422
    code = "processing"


class NotSupported(BadRequest):
    """A well-formed request for something this server does not do."""

    code = "not-supported"


class NotImplementedFeature(FhirError):
    status = 501
    code = "not-supported"


def bearer_challenge(error: str | None) -> dict[str, str]:
    """The `WWW-Authenticate` header of RFC 6750 §3: with the error code, except for a
    request that sent no bearer token at all, which §3.1 says SHOULD get none."""
    challenge = 'Bearer realm="fhir"' + (f', error="{error}"' if error else "")
    return {"WWW-Authenticate": challenge}


class Unauthorized(FhirError):
    """No valid bearer token (http://hl7.org/fhir/smart-app-launch/); `error` None when the
    request carried no bearer token."""

    status = 401
    code = "login"

    def __init__(self, diagnostics: str, *, error: str | None = "invalid_token",
                 headers: dict[str, str] | None = None, **kwargs):
        super().__init__(diagnostics, headers=headers or bearer_challenge(error), **kwargs)


class Forbidden(FhirError):
    """A valid token whose scopes do not cover the request: RFC 6750 §3 asks for the
    challenge on this answer too, with `insufficient_scope`."""

    status = 403
    code = "forbidden"

    def __init__(self, diagnostics: str, *, headers: dict[str, str] | None = None, **kwargs):
        challenge = headers or bearer_challenge("insufficient_scope")
        super().__init__(diagnostics, headers=challenge, **kwargs)


class RequestTimeout(FhirError):
    """The client did not send its request in time."""

    status = 408
    code = "timeout"


class ServiceUnavailable(FhirError):
    """A service this request depends on (the database, the remote signing service) cannot be
    reached; `retry_after` (seconds) tells the client when trying again makes sense."""

    status = 503
    code = "transient"

    def __init__(self, diagnostics: str, *, retry_after: int | None = None,
                 headers: dict[str, str] | None = None, **kwargs):
        if retry_after is not None:
            headers = {**(headers or {}), "Retry-After": str(retry_after)}
        super().__init__(diagnostics, headers=headers, **kwargs)


class TooManyRequests(FhirError):
    status = 429
    code = "throttled"
