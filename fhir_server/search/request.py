"""A search request parsed from its parameters into filter clauses and result parameters
(http://hl7.org/fhir/R4/search.html#return), checked before anything reaches MongoDB."""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import parse_qsl

from fhir_server.conformance.primitives import is_digits
from fhir_server.conformance.registry import is_supported
from fhir_server.conformance.search_parameters import search_parameters
from fhir_server.errors import BadRequest, NotSupported

SUMMARY_MODES = ("true", "text", "data", "count", "false")
TOTAL_MODES = ("none", "estimate", "accurate")
# What shapes the response's format, taken by every interaction (http.html#parameters).
PRESENTATION = ("_format", "_pretty")
# Parameters that steer a search rather than filter it.
RESULT_PARAMETERS = frozenset(
    {
        *PRESENTATION,
        "_count",
        "_summary",
        "_elements",
        "_total",
        "_cursor",
        "_sort",
        "_include",
        "_revinclude",
        "_include:iterate",
        "_revinclude:iterate",
        "_include:recurse",
        "_revinclude:recurse",
        "_sort:asc",
        "_sort:desc",
    }
)
# STU3's forms, which clients (fhir.js) and HAPI still use: `:recurse` for `:iterate`, and
# `_sort:asc=date`, `_sort:desc=date` for `_sort=date`, `_sort=-date`.
_RECURSE = {"_include:recurse": "_include:iterate", "_revinclude:recurse": "_revinclude:iterate"}
_STU3_SORT = {"_sort:asc": "", "_sort:desc": "-"}
# R4's parameters this server does not run (search.html#all): refused whatever the
# handling, since a search that left one out would answer more than was asked: every
# Patient for `_text=...`.
NOT_RUN = {
    "_query": "this server defines no named query",
    "_text": "there is no full-text index of narratives",
    "_content": "there is no full-text index of resources",
    "_filter": "the _filter language is not supported: use search parameters",
    "_contained": "contained resources are not searched as resources",
    "_containedType": "contained resources are not searched as resources",
}
# R4's defaults of these, what every search does: taken as no criterion, even when strict.
_DEFAULTS_OF_NOT_RUN = {("_contained", "false"), ("_containedType", "container")}
# `_include`/`_revinclude` rules of one search at most: each is a query per page.
MAX_INCLUDE_RULES = 20
SORTABLE_TYPES = frozenset({"string", "token", "date", "reference", "quantity", "number", "uri"})


@dataclass(frozen=True)
class SortKey:
    code: str
    descending: bool


# The source of `_revinclude=*` and `_include:iterate=*`: every type.
ANY_SOURCE = "*"


@dataclass(frozen=True)
class Include:
    """`_include=Source:param[:Target]`, or the same for `_revinclude`."""

    source_type: str
    code: str
    target_type: str | None
    iterate: bool

    def text(self) -> str:
        if self.source_type == ANY_SOURCE:
            return ANY_SOURCE
        return ":".join(p for p in (self.source_type, self.code, self.target_type) if p)


@dataclass
class SearchRequest:
    resource_type: str
    criteria: list[tuple[str, str]] = field(default_factory=list)
    sort: list[SortKey] = field(default_factory=list)
    count: int | None = None
    includes: list[Include] = field(default_factory=list)
    revincludes: list[Include] = field(default_factory=list)
    summary: str | None = None
    elements: list[str] | None = None
    total: str | None = None
    cursor: str | None = None
    # `_format` and `_pretty` as given: no part of the search, but its links keep them.
    presentation: list[tuple[str, str]] = field(default_factory=list)

    @property
    def counts_only(self) -> bool:
        """`_summary=count`, or `_count=0`, which "shall be treated the same as
        _summary=count" (http://hl7.org/fhir/R4/search.html#count): the total, no entries."""
        return self.summary == "count" or self.count == 0

    def result_parameters(self) -> list[tuple[str, str]]:
        """The result parameters as used, for the Bundle's links."""
        params = []
        if self.sort:
            params.append(
                ("_sort", ",".join(("-" if k.descending else "") + k.code for k in self.sort))
            )
        for name, includes in (("_include", self.includes), ("_revinclude", self.revincludes)):
            params += [(name + (":iterate" if i.iterate else ""), i.text()) for i in includes]
        for name, value in (("_summary", self.summary), ("_total", self.total)):
            if value is not None:
                params.append((name, value))
        if self.elements is not None:
            params.append(("_elements", ",".join(self.elements)))
        if self.count is not None:
            params.append(("_count", str(self.count)))
        return params


def parse_query(query: str) -> list[tuple[str, str]]:
    """The pairs of criteria given as text (`If-None-Exist`, a Bundle entry's URL, a
    conditional reference); 400 for percent-escapes that are not UTF-8, as in a request's URL
    (`api/media.utf8_url`): decoded as U+FFFD they would match nothing, and a conditional
    create would create every time."""
    try:
        return parse_qsl(query, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise BadRequest(f"The criteria '{query[:200]}' have percent-escapes that are not "
                         "UTF-8") from None


def check_parameter_counts(
    pairs: list[tuple[str, str]], max_parameters: int, max_repeats: int
) -> None:
    """400 for more than `max_parameters` parameters, or one name more than `max_repeats`
    times: each costs parsing and a clause of the MongoDB query, so a request of thousands
    would hold the server for seconds."""
    if len(pairs) > max_parameters:
        raise _too_many_parameters(max_parameters)
    if pairs:
        name, repeats = Counter(name for name, _ in pairs).most_common(1)[0]
        if repeats > max_repeats:
            raise BadRequest(
                f"Parameter '{name}' is given {repeats} times; at most {max_repeats} are "
                "accepted",
                expression=name,
            )


def check_query_counts(query: str, max_parameters: int, max_repeats: int) -> None:
    """`check_parameter_counts` of a query string (a request's, a Bundle entry's
    `request.url`, conditional criteria), its `&`s counted before it is split: a megabyte
    of them is refused at once."""
    if query.count("&") >= max_parameters:
        raise _too_many_parameters(max_parameters)
    check_parameter_counts(list(query_pairs(query)), max_parameters, max_repeats)


@lru_cache(maxsize=64)
def query_pairs(query: str) -> tuple[tuple[str, str], ...]:
    """The name-value pairs of a query string, blank values kept, as `parse_qsl` reads them:
    remembered, since the request limits and the audit trail both read a request's."""
    return tuple(parse_qsl(query, keep_blank_values=True))


def _too_many_parameters(max_parameters: int) -> BadRequest:
    return BadRequest(f"More than {max_parameters} parameters in one request")


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise BadRequest(
            f"{name} must be one of {', '.join(allowed)}, not '{value}'", expression=name
        )
    return value


def _sort_keys(resource_type: str, value: str, earlier: list[SortKey]) -> list[SortKey]:
    """`earlier` (a `_sort` given before) followed by this one's keys; an empty value or item
    is no key, as an empty value of a filter is no filter, and a key given again adds
    nothing."""
    keys = list(earlier)
    parameters = search_parameters(resource_type)
    for item in filter(None, value.split(",")):
        code = item.removeprefix("-")
        parameter = parameters.get(code)
        if parameter is None or parameter.type not in SORTABLE_TYPES:
            raise BadRequest(
                f"_sort: '{code}' is not a sortable search parameter of {resource_type}",
                expression="_sort",
            )
        if code not in {key.code for key in keys}:
            keys.append(SortKey(code, item.startswith("-")))
    return keys


def named_elements(values: Iterable[str]) -> list[str] | None:
    """The element names that `_elements` values list (several add up), each once; None when
    they name none: `_elements=` is no `_elements` (as HAPI reads it, and as `_sort=` is no
    sort), not a request for each resource's id and meta alone."""
    names = dict.fromkeys(item.strip() for value in values for item in value.split(","))
    return [name for name in names if name] or None


def _include(name: str, value: str, reverse: bool, resource_type: str) -> Include:
    if value == "*" and name.endswith(":iterate"):
        # Every reference of whatever was brought in, of any type, round after round.
        return Include(ANY_SOURCE, "*", None, True)
    if value == "*" and not reverse:
        # Every reference of the matches, as the CapabilityStatement's searchInclude `*` says.
        value = f"{resource_type}:*"
    elif value == "*":  # every stored resource that refers to one of them
        return Include(ANY_SOURCE, "*", None, name.endswith(":iterate"))
    parts = value.split(":")
    if len(parts) not in (2, 3) or not is_supported(parts[0]):
        raise BadRequest(
            f"{name} takes SourceType:parameter[:TargetType], not '{value}'", expression=name
        )
    source, code = parts[0], parts[1]
    target = parts[2] if len(parts) == 3 else None
    if not reverse and not name.endswith(":iterate") and source != resource_type:
        raise BadRequest(
            f"{name}={value}: the source type must be {resource_type}", expression=name
        )
    parameter = search_parameters(source).get(code)
    if code != "*" and (parameter is None or parameter.type != "reference"):
        raise BadRequest(
            f"{name}: '{code}' is not a reference parameter of {source}", expression=name
        )
    if target is not None and not is_supported(target):
        raise BadRequest(f"{name}: '{target}' is not a supported type", expression=name)
    if target is not None and parameter is not None and parameter.targets and (
            target not in parameter.targets):
        raise BadRequest(f"{name}: {source}:{code} refers to {', '.join(parameter.targets)}, "
                         f"never to {target}", expression=name)
    return Include(source, code, target, name.endswith(":iterate"))


def check_include_rules(name: str, value: str) -> None:
    """`_include`/`_revinclude` rules (`name=value`) of any source type, checked as a search
    of that type checks them: a search of several types uses each rule on its own type."""
    reverse = name.startswith("_revinclude")
    if name not in RESULT_PARAMETERS:
        raise BadRequest(f"Unknown modifier in '{name}'", expression=name)
    for item in value.split(","):
        if item != "*":
            _include(name, item, reverse, item.split(":")[0])


def r4_form(name: str, value: str) -> tuple[str, str]:
    """A result parameter given in its STU3 form (`_include:recurse`, `_sort:desc=date`) in
    R4's; any other as it is."""
    if name in _STU3_SORT:
        return "_sort", ",".join(_STU3_SORT[name] + item for item in value.split(",") if item)
    return _RECURSE.get(name, name), value


def parse_request(
    resource_type: str,
    params: list[tuple[str, str]],
    max_count: int,
) -> SearchRequest:
    request = SearchRequest(resource_type)
    for name, value in params:
        name, value = r4_form(name, value)
        if name == "_count":
            if not is_digits(value):
                raise BadRequest(
                    f"_count must be at most {max_count} here, not '{value[:30]}...'"
                    if value.isascii() and value.isdecimal() else
                    f"_count must be a non-negative integer, not '{value}'", expression="_count"
                )
            request.count = min(int(value), max_count)
        elif name == "_sort":
            request.sort = _sort_keys(resource_type, value, request.sort)
        elif name.startswith("_include") or name.startswith("_revinclude"):
            if name not in RESULT_PARAMETERS:
                raise BadRequest(f"Unknown modifier in '{name}'", expression=name)
            reverse = name.startswith("_revinclude")
            items = value.split(",")
            if len(request.includes) + len(request.revincludes) + len(items) > MAX_INCLUDE_RULES:
                raise BadRequest(
                    f"More than {MAX_INCLUDE_RULES} _include and _revinclude rules",
                    expression=name,
                )
            for item in items:
                include = _include(name, item, reverse, resource_type)
                (request.revincludes if reverse else request.includes).append(include)
        elif name == "_summary":
            request.summary = _one_of(name, value, SUMMARY_MODES)
        elif name == "_total":
            request.total = _one_of(name, value, TOTAL_MODES)
        elif name == "_elements":
            request.elements = named_elements([*(request.elements or []), value])
        elif name == "_cursor":
            request.cursor = value
        elif name in PRESENTATION:
            request.presentation.append((name, value))
        elif (name, value) in _DEFAULTS_OF_NOT_RUN:
            pass
        elif (base := name.partition(":")[0]) in NOT_RUN:
            raise NotSupported(f"{name}={value}: {NOT_RUN[base]}", expression=name)
        elif name.partition(":")[0] in RESULT_PARAMETERS:
            # `_count:x`: no filter either, strict or not (it was "Unknown search parameter").
            raise BadRequest(f"Unknown modifier in '{name}'", expression=name)
        else:
            request.criteria.append((name, value))
    if request.elements is not None and request.summary in ("true", "text", "data"):
        raise BadRequest(
            f"_summary={request.summary} and _elements cannot be combined", expression="_elements"
        )
    if request.summary == "text" and (request.includes or request.revincludes):
        raise BadRequest("_summary=text cannot be mixed with _include or _revinclude "
                         "(search.html#summary)", expression="_summary")
    return request
