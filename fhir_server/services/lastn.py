"""`Observation/$lastn` (http://hl7.org/fhir/R4/observation-operation-lastn.html): the most
recent `max` Observations of each code, for each subject, among those an Observation search
matches.

As the operation says: the search must name a subject (`patient` or `subject`) and a
`category` or a parameter on a code; Observations are grouped per subject by code, codes
with the same system and code being the same, a code's other codings making their groups one
(transitively), text-only codes grouped by their text; each group newest first by effective
date, `max` of them plus any tied with the last; observations without an effective date
come last.
"""

from dataclasses import dataclass
from functools import cache, partial

from fhir_server.auth.scopes import Permissions
from fhir_server.conformance.search_parameters import search_parameters
from fhir_server.errors import BadRequest
from fhir_server.search.compiler import Compiler
from fhir_server.search.request import parse_request
from fhir_server.search.types.reference import local_resource
from fhir_server.services.access import require_search
from fhir_server.services.bundle_assembly import page_links, searchset_bundle
from fhir_server.services.parameters import positive_integer
from fhir_server.services.search import shaped
from fhir_server.services.versions import Version
from fhir_server.storage.records import CurrentVersion
from fhir_server.storage.resources import WITHOUT_INDEX, ResourceStore

# Observations one `$lastn` may group; a search matching more is refused (narrow it down).
MAX_MATCHES = 10_000
_SUBJECT_PARAMETERS = frozenset({"patient", "subject"})
_GROUPING = ["resource.code", "resource.subject", "sort.date"]
# The result parameters its answer takes (`_count` only as `_count=0`, the total alone; the
# answer is one page): the others (`_sort`, `_include`, `_revinclude`) are left out of the
# self link, or 400 with `Prefer: handling=strict`.
_SHAPING = frozenset({"_summary", "_elements", "_count", "_total"})


@cache
def _code_parameters() -> frozenset[str]:
    """Observation's search parameters on a code element (code, component-code,
    code-value-quantity, ...), read from their expressions."""
    return frozenset(
        code for code, parameter in search_parameters("Observation").items()
        if ".code" in parameter.expression
        or any("code" in component.expression for component in parameter.components)
    )


def parse_max(value: str | None) -> int:
    if value is None:
        return 1
    return positive_integer(value, "max")


@dataclass
class LastN:
    store: ResourceStore
    base: str
    permissions: Permissions
    max_count: int

    async def search(self, params: list[tuple[str, str]], most_recent: int,
                     strict: bool = False) -> dict:
        """The `most_recent` Observations of each code; an unknown parameter is ignored as
        by a search of the type, or 400 with `strict` (`Prefer: handling=strict`)."""
        request = parse_request("Observation", params, self.max_count)
        if strict and (name := next((name for name, _ in request.result_parameters()
                                     if name.split(":")[0] not in _SHAPING), None)):
            # Parsed, then not applied: the self link leaves it out, which is all a lenient
            # answer can say (search.html#errors); a strict one refuses it.
            raise BadRequest(f"$lastn does not take {name}: it answers the most recent "
                             "Observations of each code, newest first, and nothing else",
                             expression=name)
        names = {name.split(":")[0].split(".")[0] for name, _ in request.criteria}
        if not names & _SUBJECT_PARAMETERS:
            raise BadRequest("$lastn needs the subject: a patient or subject parameter",
                             expression="patient")
        if "category" not in names and not names & _code_parameters():
            raise BadRequest("$lastn needs a category or a code parameter (code, "
                             "component-code, code-value-quantity, ...)", expression="category")
        compiler = Compiler(self.store.project, self.base,
                            partial(require_search, self.permissions))
        query, used = await compiler.compile("Observation", request.criteria, strict=strict)
        # What the grouping reads, of every match; then the whole of those kept.
        found = await self.store.find("Observation", query, MAX_MATCHES + 1, _GROUPING,
                                      [("sort.date.d", -1), ("_id", 1)])
        if len(found) > MAX_MATCHES:
            raise BadRequest(f"$lastn matches more than {MAX_MATCHES} Observations: narrow it "
                             "down (a date, a code)")
        chosen = [record.id for record in _most_recent(found, most_recent, self.base)]
        whole = {record.id: record for record in await self.store.find(
            "Observation", {"_id": {"$in": chosen}}, len(chosen), WITHOUT_INDEX)}
        kept = [Version.from_current("Observation", whole[record_id])
                for record_id in chosen if record_id in whole]
        links = page_links(self.base, "Observation/$lastn",
                           [*used, ("max", str(most_recent)),
                            *((name, value) for name, value in request.result_parameters()
                              if name in ("_summary", "_elements"))], None)
        if request.counts_only:  # `_summary=count`: the total alone
            return searchset_bundle(self.base, [], links, len(kept))
        return searchset_bundle(self.base, [(shaped(request, version), "match")
                                            for version in kept], links, len(kept))


def _most_recent(records: list[CurrentVersion], most_recent: int,
                 base: str) -> list[CurrentVersion]:
    """Of records newest first, those among the `most_recent` of their group, ties kept."""
    groups = _CodeGroups()
    keys = [(_subject(record, base), groups.add(_code_keys(record.resource or {})))
            for record in records]
    taken: dict[tuple[str, int], list[object]] = {}
    kept = []
    for record, (subject, group) in zip(records, keys, strict=True):
        key = (subject, groups.find(group))
        dates = taken.setdefault(key, [])
        effective = record.sort.get("date", {}).get("d")
        if len(dates) < most_recent or (effective is not None and effective == dates[-1]):
            dates.append(effective)
            kept.append(record)
    return kept


def _subject(record: CurrentVersion, base: str) -> str:
    """The subject as `Type/id` however its reference is written (`Patient/1`, this server's
    URL of it, a version's `Patient/1/_history/2`), as the search matched it: one patient's
    readings are one subject's; another reference as written."""
    subject = (record.resource or {}).get("subject")
    reference = subject.get("reference") if isinstance(subject, dict) else None
    if not isinstance(reference, str):
        return ""
    local = local_resource(reference, base)
    return "/".join(local) if local else reference


def _code_keys(resource: dict) -> list[str]:
    """`system|code` of each coding of Observation.code; its text when it has no coding."""
    code = resource.get("code")
    if not isinstance(code, dict):
        return []
    keys = [f"{coding.get('system', '')}|{coding['code']}"
            for coding in code.get("coding") or []
            if isinstance(coding, dict) and isinstance(coding.get("code"), str)]
    text = code.get("text")
    return keys or ([f"text:{text}"] if isinstance(text, str) else [])


class _CodeGroups:
    """Union-find over code keys: observations sharing any coding are one group."""

    def __init__(self) -> None:
        self._parent: list[int] = []
        self._index: dict[str, int] = {}

    def add(self, keys: list[str]) -> int:
        """The group of an observation with these code keys (its own if it has none)."""
        group = len(self._parent)
        self._parent.append(group)
        for key in keys:
            if key in self._index:
                self._parent[self.find(self._index[key])] = self.find(group)
            else:
                self._index[key] = group
        return group

    def find(self, group: int) -> int:
        while self._parent[group] != group:
            self._parent[group] = self._parent[self._parent[group]]
            group = self._parent[group]
        return group
