"""The issues of a validation as an OperationOutcome lists them: errors first, and not too
many."""

from fhir_server.conformance.messages import issue
from fhir_server.errors import Issue

# Issues one OperationOutcome lists at most.
MAX_ISSUES = 100


def errors_first(issues: list[Issue]) -> list[Issue]:
    return sorted(issues, key=lambda found: found.severity not in ("fatal", "error"))


def capped(issues: list[Issue]) -> list[Issue]:
    """Errors, then the rest; at most MAX_ISSUES and a last one saying how many more (a body
    of 20,000 bad items does not give 20,000 issues). The last one is information: cutting
    a list of warnings short makes no error of them."""
    ordered = errors_first(issues)
    if len(ordered) <= MAX_ISSUES:
        return ordered
    left = len(ordered) - MAX_ISSUES
    return [*ordered[:MAX_ISSUES],
            issue("too-many-issues", "too-costly", severity="information", left=left)]
