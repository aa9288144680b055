"""The answer to a transaction refused for the content of an entry: the content errors of
its other entries too, each placed in its entry, so that a client loading a large
transaction learns all of them from one answer rather than one per attempt. (The entries are
checked as sent, outside the refused transaction: nothing of it is stored either way.)"""

from fhir_server.conformance.issue_lists import capped
from fhir_server.errors import FhirError, InvalidResource, Unprocessable
from fhir_server.services.bundle_entries import Entry, in_entry
from fhir_server.services.conformance_policy import ConformancePolicy
from fhir_server.services.offloading import run_sized
from fhir_server.services.references import has_conditional_references

# Entries checked besides the one that failed: a transaction may hold 5,000.
MOST_OTHERS_CHECKED = 500


async def with_other_entries_checked(error: FhirError, failed: int, entries: list[Entry],
                                     policy: ConformancePolicy) -> FhirError:
    """`error`, the refusal of entry `failed` for its content (400 or 422), with the errors
    of the others that would be refused as well; any other error as it is. 400 when any of
    them breaks R4's own rules, else 422."""
    if not isinstance(error, InvalidResource | Unprocessable):
        return error
    others = [(entry, entry.resource) for entry in entries if entry.index != failed
              and entry.method in ("POST", "PUT") and isinstance(entry.resource, dict)]
    refusals: list[FhirError] = [error]
    for entry, resource in others[:MOST_OTHERS_CHECKED]:
        if not isinstance(resource, dict) or has_conditional_references(resource):
            continue  # resolved in the transaction only
        try:
            await run_sized(policy.check, resource)
        except (InvalidResource, Unprocessable) as refused:
            refusals.append(in_entry(entry, refused))
    if len(refusals) == 1:
        return error
    issues = [*error.issues, *(issue for refused in refusals[1:] for issue in refused.issues
                               if issue.severity in ("error", "fatal"))]
    kind = (InvalidResource if any(isinstance(r, InvalidResource) for r in refusals)
            else Unprocessable)
    return kind(f"{len(refusals)} entries of the transaction are refused; the first: "
                f"{error.diagnostics}", issues=capped(issues))
