"""Typed errors. Each class knows its HTTP status and OperationOutcome issue code;
`api/errors.py` is the only place that turns them into HTTP responses."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Issue:
    """One OperationOutcome.issue (http://hl7.org/fhir/R4/operationoutcome.html)."""

    diagnostics: str
    code: str = "invalid"
    severity: str = "error"
    expression: tuple[str, ...] = field(default_factory=tuple)

    def to_fhir(self) -> dict:
        issue: dict[str, str | list[str]] = {
            "severity": self.severity,
            "code": self.code,
            "diagnostics": self.diagnostics,
        }
        if self.expression:
            issue["expression"] = list(self.expression)
        return issue


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

    def operation_outcome(self) -> dict:
        return {"resourceType": "OperationOutcome", "issue": [i.to_fhir() for i in self.issues]}


class BadRequest(FhirError):
    status = 400
    code = "invalid"


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


class NotImplementedFeature(FhirError):
    status = 501
    code = "not-supported"


class Unauthorized(FhirError):
    """No valid bearer token (http://hl7.org/fhir/smart-app-launch/)."""

    status = 401
    code = "login"

    def __init__(self, diagnostics: str, **kwargs):
        error = 'Bearer realm="fhir", error="invalid_token"'
        super().__init__(diagnostics, headers={"WWW-Authenticate": error}, **kwargs)


class Forbidden(FhirError):
    """A valid token whose scopes do not cover the request."""

    status = 403
    code = "forbidden"


class ServiceUnavailable(FhirError):
    """A service this request depends on (e.g. the remote signing service) cannot be reached."""

    status = 503
    code = "transient"


class TooManyRequests(FhirError):
    status = 429
    code = "throttled"
