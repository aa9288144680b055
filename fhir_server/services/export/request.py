"""The parameters of a Bulk Data kick-off request (Bulk Data Access IG v2,
http://hl7.org/fhir/uv/bulkdata/STU2/export.html#query-parameters), from the query string of
a GET or the `Parameters` body of a POST, checked before a job is stored.

A value this server cannot honour is refused (400) unless the client sent
`Prefer: handling=lenient` (the IG's default is strict); leniently it is left out (NDJSON for
another `_outputFormat`) and the export's error file says so (an OperationOutcome warning).
"""

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

from fhir_server.auth.scopes import Permissions
from fhir_server.conformance.primitives import primitive_type
from fhir_server.conformance.registry import READ_ONLY_TYPES, is_supported, resource_types
from fhir_server.conformance.search_parameters import patient_compartment
from fhir_server.errors import BadRequest, Forbidden
from fhir_server.search.request import parse_query, parse_request
from fhir_server.search.types.date import parse_date_parameter
from fhir_server.search.types.reference import LOCAL_REFERENCE
from fhir_server.services.subsetting import requested_keys

SYSTEM, PATIENT, GROUP = "system", "patient", "group"
NDJSON_FORMATS = ("application/fhir+ndjson", "application/ndjson", "ndjson")
LATEST, RELEVANT = "LatestProvenanceResources", "RelevantProvenanceResources"
PROVENANCE = "Provenance"
_IGNORED = frozenset({"_format", "_pretty"})
_ELEMENT = re.compile(r"(?:([A-Z][A-Za-z]+)\.)?([a-z][A-Za-z0-9]*)")
# A `_typeFilter` value is a comma-separated list of queries, each `Type?criteria`; a comma
# inside the criteria (an OR of values) is not followed by `Type?`.
_NEXT_QUERY = re.compile(r",(?=[A-Z][A-Za-z]+\?)")


@dataclass
class ExportRequest:
    """What a kick-off asked for, as stored with the job."""

    level: str
    group_id: str | None = None
    types: list[str] = field(default_factory=list)
    since: datetime | None = None
    until: datetime | None = None
    type_filters: dict[str, list[str]] = field(default_factory=dict)
    elements: list[str] | None = None
    patients: list[str] | None = None  # ids, from `patient`
    associated: str | None = None  # LATEST or RELEVANT
    warnings: list[str] = field(default_factory=list)

    def document(self) -> dict:
        return asdict(self)

    @classmethod
    def from_document(cls, document: dict) -> "ExportRequest":
        return cls(**document)

    def elements_of(self, kind: str) -> list[str] | None:
        """`_elements` that apply to a type: `Type.name` of that type and bare names; None
        (the whole resource) when none apply."""
        if not self.elements:
            return None
        names = []
        for item in self.elements:
            owner, _, name = item.rpartition(".")
            if owner in ("", kind):
                names.append(name)
        return names or None


class _Checker:
    """Collects what cannot be honoured: raised when strict (the kick-off's default), kept as
    warnings with handling=lenient."""

    def __init__(self, strict: bool):
        self.strict = strict
        self.warnings: list[str] = []

    def problem(self, message: str, parameter: str) -> None:
        if self.strict:
            raise BadRequest(message, expression=parameter)
        self.warnings.append(f"{message}; ignored")


def _values(params: list[tuple[str, str]], name: str) -> list[str]:
    """Every comma-separated value of a parameter, over all its repetitions."""
    return [v.strip() for key, value in params if key == name for v in value.split(",")]


# How far ahead of this server's clock a client's `_since` may be (clocks differ a little).
CLOCK_SKEW = timedelta(minutes=5)


def _last(params: list[tuple[str, str]], name: str, check: _Checker) -> str | None:
    """The value of a parameter given at most once (the IG's `max = "1"`): a repetition
    would make the export depend on the order of the parameters."""
    values = [value for key, value in params if key == name]
    if len(values) > 1:
        check.problem(f"{name} is given {len(values)} times; it takes one value", name)
    return values[-1] if values else None


def _instant(params: list[tuple[str, str]], name: str, check: _Checker) -> datetime | None:
    text = _last(params, name, check)
    if text is None:
        return None
    # `+07:00` sent unencoded arrives as ` 07:00`.
    if (problem := primitive_type("instant").problem(text.replace(" ", "+"))) is not None:
        check.problem(f"{name}: '{text}' is not a FHIR instant: {problem}", name)
        return None
    try:
        return parse_date_parameter(text).low
    except ValueError as bad:
        # Name the value, unless the parser's message already does.
        detail = str(bad) if text in str(bad) else f"'{text}': {bad}"
        check.problem(f"{name}: {detail}", name)
        return None


def _output_format(params: list[tuple[str, str]], check: _Checker) -> None:
    """Only NDJSON is made: another `_outputFormat` is refused, or ignored leniently."""
    output_format = _last(params, "_outputFormat", check)
    # `application/fhir+ndjson` sent unencoded arrives with a space for its `+`; a media
    # type's names are case-insensitive (RFC 9110 §8.3.1).
    if output_format is not None and (
            output_format.strip().replace(" ", "+").lower() not in NDJSON_FORMATS):
        check.problem(f"_outputFormat: '{output_format}' is not supported (supported: "
                      + ", ".join(NDJSON_FORMATS) + ")", "_outputFormat")


def export_queries(permissions: Permissions, kind: str) -> list[tuple[str, ...]]:
    """For each of read and search that no scope grants on `kind` whole, the searches of the
    granular scopes that grant it (`system/Observation.rs?category=laboratory`): an exported
    resource matches one of each. Not those `patient/` scopes keep to a compartment: an
    export is of no patient's compartment (patient/ scopes grant none)."""
    return [permissions.queries_anywhere(kind, letter) for letter in "rs"
            if not permissions.allows(kind, letter)]


def may_export(permissions: Permissions, kind: str) -> bool:
    """Whether the scopes let a client export `kind`, or some of it (`export_queries`): an
    export is a search of it, so it takes search as well as read (`system/Observation.rs`,
    SMART's `.read`); a token that may only read by id gets no more through `$export` than
    through `GET Observation?`."""
    return all(export_queries(permissions, kind))


def still_covers(permissions: Permissions, exported: Permissions, kind: str) -> bool:
    """Whether a token's scopes cover what an export made under `exported` holds of `kind`:
    read and search of the type whole, or of at least the searches it was exported by."""
    return may_export(permissions, kind) and all(
        permissions.allows(kind, letter) or (
            not exported.allows(kind, letter)
            and set(exported.queries_anywhere(kind, letter))
            <= set(permissions.queries_anywhere(kind, letter)))
        for letter in "rs")


def exportable_types(level: str) -> list[str]:
    """What an export of this level may hold: every type (but the audit trail, unless asked
    for by name) at system level; the Patient compartment's types otherwise."""
    if level == SYSTEM:
        return list(resource_types())
    return [kind for kind in resource_types() if kind in patient_compartment()]


def _types(level: str, params, permissions: Permissions, check: _Checker) -> list[str]:
    allowed = exportable_types(level)
    asked = [t for t in _values(params, "_type") if t]
    if not asked and any(name == "_type" for name, _ in params):
        check.problem("_type names no resource type", "_type")
    if not asked:
        defaults = [t for t in allowed if t not in READ_ONLY_TYPES]
        types = [kind for kind in defaults if may_export(permissions, kind)]
        if not types:
            raise Forbidden("The token's scopes allow reading and searching none of the "
                            "exportable types")
        return types
    types = []
    # Types outside the Patient compartment are an error only when they are all that was
    # asked for (IG v2, export.html: "asks for only resource types that are outside");
    # beside others they are left out, with a warning.
    outside = [kind for kind in asked if is_supported(kind) and kind not in allowed]
    only_outside = len(outside) == len(set(asked))
    for kind in dict.fromkeys(asked):
        if not is_supported(kind):
            check.problem(f"_type: '{kind}' is not a resource type this server holds", "_type")
        elif kind not in allowed and only_outside:
            check.problem(f"_type: {kind} resources are not in the Patient compartment", "_type")
        elif kind not in allowed:
            check.warnings.append(f"_type: {kind} resources are not in the Patient compartment;"
                                  " left out")
        elif not may_export(permissions, kind):
            raise Forbidden(f"The token's scopes do not allow reading and searching {kind}")
        else:
            types.append(kind)
    return types


def _keep_searched_provenance_out(request: ExportRequest, level: str, params) -> None:
    """The Provenance of exported resources (`includeAssociatedData`, or Provenance at
    Patient or Group level) is found by what it signs, not searched: no scope's search
    would hold. For a token that reads Provenance only by a search, it is 403 when asked
    for, and left out of the types exported by default."""
    why = ("needs scopes reading and searching Provenance whole, not by a search of theirs: "
           "it is found by what it signs")
    if request.associated:
        raise Forbidden(f"includeAssociatedData: the Provenance of exported resources {why}")
    if level != SYSTEM and PROVENANCE in request.types:
        if any(name == "_type" for name, _ in params):
            raise Forbidden(f"_type: Provenance in a {level.capitalize()} export, the "
                            f"Provenance of the exported resources, {why}")
        request.types.remove(PROVENANCE)


def _elements(params, types: list[str], check: _Checker) -> list[str] | None:
    items = [item for item in _values(params, "_elements") if item]
    if not items:
        return None
    kept = []
    for item in items:
        match = _ELEMENT.fullmatch(item)
        if match is None:
            check.problem(f"_elements: '{item}' is not [Type.]element (root elements only)",
                          "_elements")
        elif match[1] is not None and match[1] not in types:
            check.problem(f"_elements: '{item}': {match[1]} is not exported", "_elements")
        elif not any(requested_keys(kind, [match[2]])
                     for kind in ([match[1]] if match[1] else types)):
            # A typo would export resources with nothing but their ids.
            check.problem(f"_elements: '{item}' names no element of "
                          f"{match[1] or 'any exported type'}", "_elements")
        else:
            kept.append(item)
    return kept or None


def _associated(params, check: _Checker) -> str | None:
    values = {v for v in _values(params, "includeAssociatedData") if v}
    for value in values - {LATEST, RELEVANT}:
        check.problem(f"includeAssociatedData: '{value}' is not supported (supported: "
                      f"{LATEST}, {RELEVANT})", "includeAssociatedData")
    if RELEVANT in values:  # "the least restrictive value" wins
        return RELEVANT
    return LATEST if LATEST in values else None


def _patients(level: str, params, check: _Checker, base: str | None) -> list[str] | None:
    references = [v for v in _values(params, "patient") if v]
    if not references:
        return None
    if level == SYSTEM:
        check.problem(f"patient: '{','.join(references)}' applies to Patient and Group "
                      "exports only", "patient")
        return None
    ids = []
    for reference in references:
        # `Patient/1` (a version of it too), or absolute under this server's base: another
        # server's Patient of the same id is not this one.
        local = reference.rsplit("/_history/", 1)[0].removeprefix(f"{base}/" if base else "")
        match = LOCAL_REFERENCE.fullmatch(local)
        if match is None or match[1] != "Patient":
            check.problem(f"patient: '{reference}' is not a reference to a Patient here",
                          "patient")
        else:
            ids.append(match[2])
    return list(dict.fromkeys(ids))


def split_type_filters(values: list[str]) -> list[str]:
    return [q.strip() for value in values for q in _NEXT_QUERY.split(value) if q.strip()]


def _type_filters(params, types: list[str], max_count: int, check: _Checker) -> dict:
    filters: dict[str, list[str]] = {}
    for query in split_type_filters([v for k, v in params if k == "_typeFilter"]):
        kind, mark, criteria = query.partition("?")
        if not mark or not is_supported(kind):
            check.problem(f"_typeFilter: '{query}' is not Type?criteria", "_typeFilter")
            continue
        if kind not in types:
            check.problem(f"_typeFilter: '{query}': {kind} is not exported", "_typeFilter")
            continue
        # Read as the query string of the same search: a `+` is a space (form encoding), and
        # a date's timezone `+` sent so is taken back by the date parser, as in a search.
        try:
            request = parse_request(kind, parse_query(criteria), max_count)
        except BadRequest as bad:
            check.problem(f"_typeFilter: '{query}': {bad.diagnostics}", "_typeFilter")
            continue
        if request.result_parameters() or request.cursor:
            check.problem(f"_typeFilter: '{query}' uses result parameters (_include, _sort, "
                          "...), which it may not", "_typeFilter")
            continue
        filters.setdefault(kind, []).append(criteria)
    return filters


def parse_kick_off(
    level: str,
    params: list[tuple[str, str]],
    strict: bool,
    permissions: Permissions,
    max_count: int,
    base: str | None = None,
) -> ExportRequest:
    """The export a kick-off asks for; raises BadRequest (400) for what it cannot honour when
    `strict`, else keeps warnings, and Forbidden (403) for what the token may not read."""
    check = _Checker(strict)
    known = {"_outputFormat", "_since", "_until", "_type", "_elements", "patient",
             "includeAssociatedData", "_typeFilter"}
    for name, value in params:
        if name not in known | _IGNORED:
            check.problem(f"{name}: the kick-off parameter {name}='{value}' is not supported",
                          name)
    _output_format(params, check)
    request = ExportRequest(level)
    request.since = _instant(params, "_since", check)
    if request.since is not None and request.since > datetime.now(UTC) + CLOCK_SKEW:
        # Nothing can have changed after a time yet to come: the client's clock or date is
        # wrong (bdt and Inferno's bulk data tests expect the refusal). Leniently, it stands.
        # Named as sent (`+07:00` sent unencoded arrives as ` 07:00`), not as Python renders
        # the instant in UTC (`2056-12-31T19:00:00+00:00` for `2057-01-01T00:00:00+05:00`).
        sent = [value for key, value in params if key == "_since"][-1].replace(" ", "+")
        future = f"_since: '{sent}' is in the future"
        if check.strict:
            raise BadRequest(future, expression="_since")
        check.warnings.append(f"{future}: nothing has changed since then")
    request.until = _instant(params, "_until", check)
    if request.since and request.until and request.until < request.since:
        check.problem("_until is before _since", "_until")
        request.until = None
    request.types = _types(level, params, permissions, check)
    request.associated = _associated(params, check)
    # The Provenance that comes along with includeAssociatedData is exported too.
    shaped = request.types + ([PROVENANCE] if request.associated else [])
    request.elements = _elements(params, shaped, check)
    request.patients = _patients(level, params, check, base)
    if request.associated and not may_export(permissions, PROVENANCE):
        raise Forbidden("includeAssociatedData: the token's scopes do not allow reading and "
                        "searching Provenance")
    if export_queries(permissions, PROVENANCE):
        _keep_searched_provenance_out(request, level, params)
    request.type_filters = _type_filters(
        params, request.types + ([PROVENANCE] if request.associated else []), max_count, check)
    request.warnings = check.warnings
    return request


def add_problem(request: ExportRequest, strict: bool, message: str, parameter: str) -> None:
    """A problem found later (with the database at hand), handled like the others."""
    check = _Checker(strict)
    check.problem(message, parameter)
    request.warnings += check.warnings
