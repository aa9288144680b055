"""A search of several types with `_sort` (search-system, `Patient/123/*`): its matches in
one order across the types, as servers storing every type in one table give them (HAPI,
Firely), not one type's after another's: `GET [base]?_type=Condition,Observation&_sort=
-_lastUpdated` lists the latest changes first. Each type's criteria are compiled as its
search-type compiles them, the page is read by one MongoDB query over the types
(storage/union_reads.py), and each type's matches get that type's `_include`s and
`_revinclude`s. Pages are keyset-paged as a search of one type is, on the sort keys, the
id and then the type."""

from fhir_server.errors import BadRequest
from fhir_server.search import paging
from fhir_server.search.request import parse_request
from fhir_server.services.search import SearchService, page_projection, reference_codes_of
from fhir_server.storage.union_reads import find_across


async def search_across(service: SearchService, strict: bool, compartment: str | None,
                        type_params: dict[str, list[tuple[str, str]]], count: int,
                        position: list | None) -> tuple[dict, list | None]:
    """The page of `count` matches after `position` (None: the first page) of the types
    `type_params` names, each searched by its parameters, which sort alike: its searchset
    Bundle (no links, no total) and the position after it (None: the last page)."""
    requests = {kind: parse_request(kind, params, service.max_count)
                for kind, params in type_params.items()}
    fields = paging.sort_fields(next(iter(requests.values())).sort)
    branches = []
    for kind, request in requests.items():
        query, _ = await service.compiled(request, strict, compartment)
        if position is not None:
            query = {"$and": [query, _after(fields, position, kind)]}
        branches.append((kind, query))
    codes = set().union(*(reference_codes_of(request.includes) for request in requests.values()))
    page = await find_across(service.store, branches, count + 1, service.limits.max_bytes,
                             page_projection(codes, [f for f, _ in fields]), fields)
    matches = page.rows[:count]
    following = None
    if matches and (page.cut or len(page.rows) > count):
        kind, last = matches[-1]
        following = [*paging.position(last, fields), kind]
    return await service.page(requests, matches, page.size, [], None), following


def _after(fields: list[tuple[str, int]], position: list, kind: str) -> dict:
    """The rows of `kind` after `position` (the last row's sort keys, its id and its type):
    those after its keys and id, and of a later type, those at them too."""
    *values, last_kind = position
    try:
        beyond = paging.after(fields, values)
        if kind <= last_kind:
            return beyond
        return {"$or": [beyond, paging.at(fields, values)]}
    except (TypeError, ValueError):
        raise BadRequest("The paging cursor does not belong to this search",
                         expression="_cursor") from None
