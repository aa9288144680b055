"""Conditional criteria (http://hl7.org/fhir/R4/http.html#ccreate, #cond-update): the
resources they match, the guards that serialise the writes they could race on, and that a
resource created under them matches them."""

import re
import unicodedata
from collections.abc import Callable, Collection
from contextvars import ContextVar
from decimal import Decimal
from urllib.parse import unquote_plus

from fhir_server.conformance.identifier_systems import card_holder_code, searched_identifier
from fhir_server.conformance.search_parameters import search_parameters
from fhir_server.errors import BadRequest
from fhir_server.search.compiler import Compiler
from fhir_server.search.request import RESULT_PARAMETERS, parse_query, parse_request
from fhir_server.search.types.string import fold
from fhir_server.search.values import split_escaped
from fhir_server.services.access import check_searchable
from fhir_server.storage.records import CurrentVersion
from fhir_server.storage.resources import ResourceStore

# This server's base URL for the request (set with its caller, api/security.py): criteria that
# name a resource by its absolute URL here (`subject=https://host/fhir/Patient/1`) match it as
# the same search does; without it a conditional delete of such criteria matched nothing and
# answered 204. None outside requests (`fhir-server load`).
criteria_base: ContextVar[str | None] = ContextVar("criteria_base", default=None)


def shown(query: str) -> str:
    """Criteria as the server reads them, for a message: the libraries (fhirpy, fhirclient,
    fhir-kit-client) percent-encode `|`, `:` and `+`, and `identifier=urn%3Anone%7Cnone` told
    their users less than `identifier=urn:none|none`."""
    return unquote_plus(query)


def _without_type(query: str) -> str:
    """Criteria without the `Type?` (or bare `?`) they may be sent after."""
    return query.split("?", 1)[1] if "?" in query else query


def criteria_key(resource_type: str, query: str) -> frozenset[tuple[str, str]]:
    """What conditional criteria search for, however percent-encoded, ordered or repeated,
    with or without `Type?`, and without the parameters that shape a result and match
    nothing (`_format`, `_count`): `identifier=urn:s|1&family=Ly` and
    `family=Ly&identifier=urn%3As%7C1` are one condition, and so are `family=Lê`,
    `family=LE` and `family=Lê` typed with a combining circumflex, and so are the aliased
    systems of one identifier, `identifier=<cccd>|X` and `identifier=<national_id>|X`, a BHYT
    card and its holder's BHXH code (`_searched`)."""
    return frozenset((name, _searched(resource_type, name, value))
                     for name, value in parse_query(_without_type(query))
                     if name not in RESULT_PARAMETERS)


def _searched(resource_type: str, name: str, value: str) -> str:
    """A criterion's value as its search reads it: a string parameter's (and token `:text`)
    folded, case and accents away, as it is matched; an `:exact` one in Unicode's composed
    form (NFC), as it is matched; a token's identifier system canonical (`_identified`); any
    other as written."""
    code, _, modifier = name.partition(":")
    definition = search_parameters(resource_type).get(code)
    kind = definition.type if definition is not None else None
    form: Callable[[str], str]
    if (kind, modifier) in (("string", ""), ("string", "contains"), ("token", "text")):
        form = fold
    elif (kind, modifier) == ("string", "exact"):
        form = _composed
    elif (kind, modifier) == ("token", ""):
        form = _identified
    else:
        return value
    return ",".join(form(one) for one in split_escaped(value, ",", keep_escapes=True))


def _identified(token: str) -> str:
    """A `system|value` token as an identifier search reads it: under its system's canonical
    URI (`national_id|X` finds what `cccd|X` does), a BHYT card or 10-digit number as the
    BHXH code it finds (`identifier_systems.searched_identifier`); any other as written."""
    parts = split_escaped(token, "|", keep_escapes=True)
    if len(parts) != 2 or not parts[0]:
        return token
    return "|".join(searched_identifier(*parts))


def _composed(text: str) -> str:
    return unicodedata.normalize("NFC", text)


async def _compiled(store: ResourceStore, resource_type: str, query: str, limit: int) -> dict:
    """The filter of conditional criteria (`identifier=s|v&...`, or `Type?...` of this type)."""
    if "?" in query:
        query_type, query = query.split("?", 1)
        if query_type and query_type != resource_type:
            raise BadRequest(f"Conditional criteria for {query_type} used on {resource_type}: "
                             f"send the search parameters alone ('identifier=...') or after "
                             f"'{resource_type}?'")
    check_searchable(resource_type)
    request = parse_request(resource_type, parse_query(query), max_count=limit)
    compiler = Compiler(store.project, criteria_base.get(), check_searchable)
    criteria, used = await compiler.compile(resource_type, request.criteria, strict=True)
    if not used:
        # 400, not 412: 412 says "several matches", and this request is malformed.
        raise BadRequest(
            f"Conditional criteria '{shown(query)}' have no search parameter with a value: "
            "they would match every resource"
        )
    return criteria


async def find_matches(
    store: ResourceStore, resource_type: str, query: str, limit: int = 2,
    excluding: Collection[str] = (),
) -> list[CurrentVersion]:
    """Current resources matching conditional criteria, but those `excluding` names
    (`Type/id`: what a transaction deletes before it creates)."""
    criteria = await _compiled(store, resource_type, query, limit)
    found = await store.find(resource_type, criteria, limit + len(excluding))
    return [match for match in found if f"{resource_type}/{match.id}" not in excluding][:limit]


async def check_created_matches(store: ResourceStore, resource_type: str, resource_id: str,
                                query: str) -> None:
    """400 unless the resource a conditional create (or a conditional update that matched
    nothing) has just written matches the criteria: else the same request, sent again,
    would match nothing again and make one more (HAPI refuses it too: "The supplied
    resource did not satisfy the conditional URL"). Run in the write's transaction, which
    the refusal undoes."""
    criteria = await _compiled(store, resource_type, query, 1)
    if not await store.find(resource_type, {"$and": [{"_id": resource_id}, criteria]}, 1,
                            projection=["_id"]):
        raise BadRequest(
            f"The {resource_type} sent does not match its conditional criteria "
            f"'{shown(query)}': "
            "created, it would not be found by them, and each retry would create another; "
            "send a resource with the values the criteria name",
            expression=resource_type)


# Guards one conditional write takes at most: criteria with more values (a long OR) are
# refused. (One guard for the type instead did not wait for writes taking a value's guard:
# 30 of 30 races of a 17-value create with a 1-value one made the resource twice.)
_MAX_GUARDS = 200


# A search prefix before a date or number (`eq2025-07-01`, `eq5`): matches what the bare value
# matches.
_PREFIXED = re.compile(r"(?:eq|ne|gt|lt|ge|le|sa|eb|ap)(?=[0-9+.-])")
# A number (a quantity's first part).
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# A number with a fraction or an exponent (of two digits at most: `1e999999` is kept as it is).
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+(?=[eE]))(?:[eE][+-]?[0-9]{1,2})?")


def _canonical(resource_type: str, name: str) -> bool:
    """Whether a parameter's values are URLs that may end in `|version` (a uri, such as
    `url`, or a reference, which may name a canonical): not a chain through one, nor a
    reference's `:identifier`, whose values are tokens."""
    code, _, modifier = name.partition(":")
    if "." in modifier or modifier == "identifier":
        return False
    definition = search_parameters(resource_type).get(code)
    return definition is not None and definition.type in ("uri", "reference")


def _guarded(value: str, canonical: bool = False) -> str:
    """The guard of one criterion value: its code without a system (`s|v`: v), a quantity's
    number, a reference's id however written (`Patient/1`, `1`, this server's URL of it),
    without a prefix, a number in one form (`5`, `5.0`, `5e0`), case and accents folded.
    Spellings that share one take one guard; unrelated values that do only wait for each
    other."""
    parts = split_escaped(value, "|", keep_escapes=True)
    # A quantity (`5|http://unitsofmeasure.org|mg`, `5||mg`) by its number, which `5` and
    # `5.0` name too (by its code, `mg`, it raced them into duplicates); `:of-type`'s
    # `system|type|value` by its value; a canonical (`url=http://x/ValueSet/v|1.0`) by its
    # URL, as `url=http://x/ValueSet/v` (by `1.0` the two raced into duplicates).
    number = _PREFIXED.sub("", parts[0], count=1)
    code = (parts[0] if canonical else number if len(parts) == 3 and _NUMBER.fullmatch(number)
            else parts[-1])
    code = _PREFIXED.sub("", code.rsplit("/", 1)[-1], count=1)
    # A BHYT card by its holder's BHXH code, which finds the card and the reverse
    # (`identifier=<bhyt>|HT3017912345678`, `identifier=<bhxh>|7912345678`: they raced).
    code = card_holder_code(code) or code
    if _DECIMAL.fullmatch(code):
        # `5.0` as `5`; a number of digits alone is kept, leading zeros and all (a CCCD).
        code = format(Decimal(code).normalize(), "f")
    return fold(code)


async def acquire_guards(store: ResourceStore, resource_type: str, query: str) -> None:
    """Serialise the conditional writes whose criteria could match one new resource: one
    guard per criterion value, keyed by its code without a system, case and accents folded,
    whatever the parameter: `identifier=s|v`, `identifier=v` and `identifier=s%7Cv` take the
    same guard (keyed on the query's text they did not, and raced to make one patient
    twice), and so do `family=Lý`, `family=ly` and `name=LY`, which match the same names.
    Criteria that merely share a value wait for each other, which costs only time
    (`_guarded`: `subject=Patient/1`, `patient=1`; `date=eq2025-07-01`, `date=2025-07-01`)."""
    keys = {f"{resource_type}?{_guarded(one, _canonical(resource_type, name))}"
            for name, value in parse_query(_without_type(query))
            for one in split_escaped(value, ",", keep_escapes=True)}
    if len(keys) > _MAX_GUARDS:  # a bound on the writes one request makes
        raise BadRequest(f"Conditional criteria name {len(keys)} values; at most {_MAX_GUARDS}"
                         " are taken (criteria should name the one resource meant)")
    for key in sorted(keys):  # one order: two writes never each hold what the other wants
        await store.acquire_guard(key)
