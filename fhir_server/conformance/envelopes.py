"""What a batch or transaction Bundle sent to `POST [base]` must be before any entry runs
(http://hl7.org/fhir/R4/bundle.html): R4's rules on the Bundle itself (its elements and
their values, `total` only in a searchset or history, bdl-1) and the invariants about its
entries that a run depends on; its entries' resources are each checked by their own write."""

import re

from fhir_server.conformance.bundle_rules import bundle_issues
from fhir_server.conformance.validation import validation_issues
from fhir_server.errors import Issue

# Checked on the whole Bundle: no entry.search or entry.response (bdl-2, bdl-4), unique
# fullUrls (bdl-7), none version-specific (bdl-8). An entry without a request fails on its
# own (bdl-3), in a batch alone.
_RUN_RULES = frozenset({"bdl-2", "bdl-4", "bdl-7", "bdl-8"})
# Stands in for a missing request in the envelope checked, which bdl-3 would refuse whole.
_ANY_REQUEST = {"method": "GET", "url": "Bundle"}
_IN_ENTRY = re.compile(r"Bundle\.entry\[(\d+)\]")


def envelope_errors(bundle: dict) -> tuple[list[Issue], dict[int, list[Issue]]]:
    """The errors of the Bundle as a whole (the run's invariants among them: bdl-7's
    duplicate fullUrls are no one entry's), and those within each entry by its index (a
    batch answers those in that entry's response)."""
    errors = [found for found in bundle_issues(bundle, "Bundle", _RUN_RULES)
              if found.severity == "error"]
    if errors:
        return errors, {}
    entries = bundle.get("entry")
    envelope = bundle if not isinstance(entries, list) else {
        **bundle, "entry": [_without_resource(entry) for entry in entries]}
    return _by_entry([found for found in validation_issues(envelope)
                      if found.severity in ("error", "fatal") and not _judged_whole(found)])


def _judged_whole(found: Issue) -> bool:
    """An issue of a rule of the run, checked above on the Bundle with its resources: in the
    envelope, without them, bdl-7 saw one fullUrl twice where the entries' `meta.versionId`
    differ ("or else entries with the same fullUrl must have different meta.versionId")."""
    return found.message_id == "invariant" and any(
        f" violates {rule}: " in found.diagnostics for rule in _RUN_RULES)


def _without_resource(entry: object) -> object:
    if not isinstance(entry, dict):
        return entry
    bare = {name: value for name, value in entry.items() if name != "resource"}
    return bare if "request" in bare else {**bare, "request": _ANY_REQUEST}


def _by_entry(errors: list[Issue]) -> tuple[list[Issue], dict[int, list[Issue]]]:
    whole: list[Issue] = []
    entries: dict[int, list[Issue]] = {}
    for found in errors:
        at = _IN_ENTRY.match(found.expression[0]) if found.expression else None
        if at is None:
            whole.append(found)
        else:
            entries.setdefault(int(at[1]), []).append(found)
    return whole, entries
