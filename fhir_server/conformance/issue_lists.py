"""The issues of a validation as an OperationOutcome lists them: errors first, and not too
many."""

from fhir_server.conformance.messages import issue
from fhir_server.errors import Issue

# Issues one OperationOutcome lists at most.
MAX_ISSUES = 100
# Issues one validation (or QuestionnaireResponse check) holds while it walks a resource;
# capped() later lists MAX_ISSUES of them.
MOST_KEPT = 1000
# Issues that say the list is incomplete (validation_issues' own bound): always kept.
_ABOUT_THE_LIST = frozenset({"validation-stopped", "issues-dropped"})


def errors_first(issues: list[Issue]) -> list[Issue]:
    return sorted(issues, key=lambda found: found.severity not in ("fatal", "error"))


def capped(issues: list[Issue]) -> list[Issue]:
    """Errors, then the rest; at most MAX_ISSUES and a last one saying how many more (a body
    of 20,000 bad items does not give 20,000 issues). The last one is information: cutting
    a list of warnings short makes no error of them."""
    about_the_list = [found for found in issues if found.message_id in _ABOUT_THE_LIST]
    ordered = [found for found in errors_first(issues) if found not in about_the_list]
    if len(ordered) <= MAX_ISSUES:
        return ordered + about_the_list
    left = len(ordered) - MAX_ISSUES
    return [*ordered[:MAX_ISSUES],
            issue("too-many-issues", "too-costly", severity="information", left=left),
            *about_the_list]


def trimmed(issues: list[Issue], most: int) -> tuple[list[Issue], int, bool]:
    """At most `most` issues, errors first: (those kept, how many warnings and notes were
    dropped, whether the errors alone fill it)."""
    errors = [found for found in issues if found.severity in ("fatal", "error")]
    if len(errors) >= most:
        return errors[:most], 0, True
    others = [found for found in issues if found.severity not in ("fatal", "error")]
    kept = others[: most - len(errors)]
    return errors + kept, len(others) - len(kept), False
