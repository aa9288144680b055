"""`CodeSystem/$lookup`, `CodeSystem/$subsumes` and `ValueSet/$expand` (also
`ValueSet/{id}/$expand` for a ValueSet stored here) over the terminology the server holds
(http://hl7.org/fhir/R4/terminology-service.html), and what every terminology operation
reads of its invocation."""

from fhir_server.api.languages import DEFAULT as DEFAULT_LANGUAGE
from fhir_server.api.languages import outcome_language
from fhir_server.api.media import FhirResponse
from fhir_server.api.operations.base import Operation, OperationCall
from fhir_server.conformance.code_systems import find_value_set
from fhir_server.conformance.held_terminology import drawing_on
from fhir_server.conformance.operations import (
    INSTANCE,
    TYPE,
    OperationDescriptor,
    primitive_inputs,
    resource_inputs,
)
from fhir_server.errors import BadRequest
from fhir_server.search.stored_terminology import (
    stored_supplements,
    stored_terminology_drawn_on,
)
from fhir_server.services.offloading import run_off_the_loop
from fhir_server.services.terminology import (
    expand_value_set,
    held,
    lookup,
    stored_terminology,
    subsumes,
)
from fhir_server.services.terminology_input import TerminologyInput, read_input

CORE = "http://hl7.org/fhir/OperationDefinition"


# Of a type-level invocation: the parameters naming the canonical URL it works on, and its
# version.
_CANONICAL = {"ValueSet": (("url",), "valueSetVersion"),
              "CodeSystem": (("url", "system"), "version"),
              "ConceptMap": (("url",), "conceptMapVersion")}


async def terminology_input(call: OperationCall) -> TerminologyInput:
    """The query's parameters and those of a POSTed `Parameters`, complex ones included; a
    `url|version` canonical (references.html#canonical) is read as the url and its version
    parameter."""
    given = read_input(f"${call.descriptor.name}", call.query_parameters(),
                       await call.posted_body(), primitive_inputs(call.descriptor.definition))
    if call.resource_type in _CANONICAL:
        _split_version(given, _CANONICAL[call.resource_type][1])
    return given


def _split_version(given: TerminologyInput, version_name: str) -> None:
    url = given.one("url")
    if url is None or "|" not in url:
        return
    url, _, version = url.partition("|")
    if given.one(version_name) not in (None, version):
        raise BadRequest(f"'url' names version {version}, and '{version_name}' another",
                         expression=version_name)
    given.pairs = [pair for pair in given.pairs if pair[0] not in ("url", version_name)]
    given.pairs += [("url", url), (version_name, version)]


async def instance(call: OperationCall, given: TerminologyInput | None = None) -> dict | None:
    """The stored resource the invocation is on: the instance (404 unknown, 410 deleted); at
    type level (with `given`), one stored through the API whose canonical URL it names and
    the registry does not hold, the last stored (as `:in` search takes them); else None."""
    kind = call.resource_type
    if call.resource_id is not None and kind is not None:
        found = (await call.service.read(kind, call.resource_id)).resource or {}
        if given is not None and kind in _CANONICAL:
            _check_names(given, found, *_CANONICAL[kind])
            _check_no_other(call, given, found)
        return found
    if given is None or kind not in _CANONICAL:
        return None
    names, version_name = _CANONICAL[kind]
    url = next((value for name in names if (value := given.one(name))), None)
    url = url or _coded_system(given)
    # Of a code system, the version its coding names when no version parameter does.
    version = given.one(version_name) or (
        (given.coding() or {}).get("version") if kind == "CodeSystem" else None)
    if not isinstance(url, str) or held(kind, f"{url}|{version}" if version else url):
        return None
    return await stored_terminology(call.service.database.store(), kind, url, version)


def _check_names(given: TerminologyInput, found: dict, names: tuple[str, ...],
                 version_name: str) -> None:
    """At instance level, a canonical (`url`, `$subsumes`' `system`) or version given must
    be the instance's own (400: the request names two resources)."""
    owned = [*((name, found.get("url")) for name in names), (version_name, found.get("version"))]
    for name, own in owned:
        if (value := given.one(name)) is not None and value != own:
            raise BadRequest(f"'{name}' is {value}, and {found.get('resourceType')}/"
                             f"{found.get('id')} has {own}: name one resource", expression=name)


def _check_no_other(call: OperationCall, given: TerminologyInput, found: dict) -> None:
    """At instance level, a resource of the instance's type given as well (`valueSet` on
    `ValueSet/{id}/$expand`) is 400: the request names two, and answering for the instance
    would leave the one sent unread."""
    kind = found.get("resourceType")
    for name, declared in resource_inputs(call.descriptor.definition).items():
        if declared == kind and given.complex.get(name):
            raise BadRequest(f"'{name}' is a {kind}, and the request is on {kind}/"
                             f"{found.get('id')}: name one resource", expression=name)


def _coded_system(given: TerminologyInput) -> str | None:
    """The system of the Coding (`coding`, $subsumes' `codingA`) or CodeableConcept given."""
    codings = [given.coding(name) for name in ("coding", "codingA")]
    codings += (given.codeable_concept() or {}).get("coding", [])
    return next((system for coding in codings if coding
                 and isinstance(system := coding.get("system"), str)), None)


def displays_in_asked_language(call: OperationCall, given: TerminologyInput) -> None:
    """Without `displayLanguage`, displays in the language `Accept-Language` prefers of those
    the server speaks (Vietnamese: its designations), as R5's $expand reads the header."""
    language = outcome_language(call.request)
    if given.one("displayLanguage") is None and language != DEFAULT_LANGUAGE:
        given.pairs.append(("displayLanguage", language))


async def supplements_stored_for(call: OperationCall, given: TerminologyInput,
                                 code_system: dict | None) -> list[dict]:
    """The supplements stored through the API of the code system an invocation names (the
    instance, `system`, `url` or a coding's system), for `held_terminology.using_stored`."""
    named = [given.one("system"), given.one("url"), _coded_system(given),
             (code_system or {}).get("url")]
    systems = sorted({url.partition("|")[0] for url in named if isinstance(url, str)})
    return await stored_supplements(call.service.database.store().project, systems)


async def lookup_code(call: OperationCall) -> FhirResponse:
    given = await terminology_input(call)
    displays_in_asked_language(call, given)
    found = await instance(call, given)
    supplements = await supplements_stored_for(call, given, found)
    # Indexing a stored code system of 100,000 concepts takes a second: off the loop.
    return FhirResponse(call.request, await run_off_the_loop(
        drawing_on, supplements, lookup, given, found))


async def subsumes_codes(call: OperationCall) -> FhirResponse:
    given = await terminology_input(call)
    found = await instance(call, given)
    return FhirResponse(call.request, await run_off_the_loop(subsumes, given, found))



async def drawn_on_stored(call: OperationCall, given: TerminologyInput,
                          value_set: dict | None) -> list[dict]:
    """What the ValueSet an invocation works on (a stored one, one sent as `valueSet`, or
    the registry's of its `url`) needs of what was stored through the API: the ValueSets it
    imports, the CodeSystems it draws on, their supplements; for `held_terminology.using_stored`."""
    url, version = given.one("url"), given.one("valueSetVersion")
    held = find_value_set(f"{url}|{version}" if version else url) if url else None
    sources = [v for v in (value_set, given.resource("valueSet", "ValueSet"), held)
               if v is not None]
    return await stored_terminology_drawn_on(call.service.database.store().project, sources)


async def expand_value_set_operation(call: OperationCall) -> FhirResponse:
    given = await terminology_input(call)
    displays_in_asked_language(call, given)
    value_set = await instance(call, given)
    stored = await drawn_on_stored(call, given, value_set)
    # In a worker thread: an expansion within its budget may still take seconds (a POSTed
    # ValueSet of many regex filters), which on the loop held every other client.
    return FhirResponse(call.request, await run_off_the_loop(
        drawing_on, stored, expand_value_set, given, value_set))


OPERATIONS = (
    Operation(OperationDescriptor("lookup", f"{CORE}/CodeSystem-lookup", TYPE, ("CodeSystem",)),
              lookup_code),
    *(Operation(OperationDescriptor("subsumes", f"{CORE}/CodeSystem-subsumes", level,
                                    ("CodeSystem",)), subsumes_codes)
      for level in (TYPE, INSTANCE)),
    *(Operation(OperationDescriptor("expand", f"{CORE}/ValueSet-expand", level, ("ValueSet",)),
                expand_value_set_operation) for level in (TYPE, INSTANCE)),
)
