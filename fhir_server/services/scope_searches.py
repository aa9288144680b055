"""Granular SMART scopes (`patient/Observation.rs?category=laboratory`,
http://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#finer-grained-resource-constraints-using-search-parameters):
a scope's search, compiled as any search is, is a filter the resources it grants pass."""

from collections.abc import Sequence
from urllib.parse import parse_qsl

from fhir_server.auth.scopes import Scope
from fhir_server.conformance.registry import resource_types
from fhir_server.errors import BadRequest, Forbidden, TooCostly
from fhir_server.search.compiler import Compiler
from fhir_server.search.request import parse_request
from fhir_server.services.access import shown
from fhir_server.services.versions import Version, storage_documents
from fhir_server.storage.resources import ResourceStore
from fhir_server.storage.unstored_matches import matching

# A scope's search names no page size; any number parses.
_ANY_COUNT = 2**31


async def _compiled(store: ResourceStore, base: str, resource_type: str, query: str) -> dict:
    params = parse_qsl(query, keep_blank_values=True)
    request = parse_request(resource_type, params, _ANY_COUNT)
    if not params or len(request.criteria) != len(params):
        raise BadRequest("a scope's search takes criteria only, none of _sort, _count, "
                         "_include, _summary and the like")
    # The scope's own search is the server's to run: no scope limits what it reads.
    compiled, used = await Compiler(store.project, base).compile(
        resource_type, request.criteria, strict=True)
    if len(used) != len(params) or not compiled:
        # A search ignores a criterion without a value; a scope would then grant more.
        raise BadRequest("a scope's search has a criterion without a value")
    return compiled


async def scope_filter(store: ResourceStore, base: str, resource_type: str,
                       queries: Sequence[str]) -> dict:
    """The filter of the `resource_type` resources one of the scopes' `queries` matches;
    403 when none of them is a search this server can run on that type."""
    clauses, problems = [], []
    for query in queries:
        try:
            clauses.append(await _compiled(store, base, resource_type, query))
        except TooCostly:
            raise  # its chains' searches out of time: the request's 400, not the scope's 403
        except BadRequest as error:
            problems.append(f"'{shown(query)}': {error.diagnostics[:200]}")
    if not clauses:
        raise Forbidden(f"The token's scopes allow {resource_type} resources only where a "
                        "search of theirs matches, and none is a search of "
                        f"{resource_type} this server can run ({'; '.join(problems)})")
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


async def search_problem(store: ResourceStore, base: str, scope: Scope) -> str | None:
    """Why a granular scope would grant nothing, as `scope_filter` refuses its search on
    every type it names (each type, for `*`); None when it runs on one. The token endpoint
    grants no such scope (RFC 6749 §3.3: the client learns then, not on every request)."""
    types = resource_types() if scope.resource_type == "*" else (scope.resource_type,)
    problems: dict[str, None] = {}
    for resource_type in types:
        try:
            await _compiled(store, base, resource_type, scope.query)
        except TooCostly:
            return None  # a search that runs, its chains' searches out of time just now
        except BadRequest as error:
            problems[error.diagnostics[:200]] = None
        else:
            return None
    first = next(iter(problems))
    # One reason on every type (`_count=1`) is the reason; else the first type's, say.
    return first if len(problems) == 1 else f"it runs on no resource type ({first})"


async def matching_versions(store: ResourceStore, versions: Sequence[Version],
                            scope_query: dict) -> list[bool]:
    """Whether the (compiled) searches of granular scopes match each version as it was
    then: an older one may have matched none (a category since corrected). A deletion
    matches none."""
    documents = []
    for version in versions:
        if version.resource is not None:
            document = storage_documents(version)[0]
            del document["resource"]  # searches read the index fields only
            documents.append(document)
    passed = iter(await matching(store.db, store.session, documents, scope_query))
    return [version.resource is not None and next(passed) for version in versions]
