"""What a search says while its type is being re-indexed: a server started on an earlier
release's data rebuilds the search entries that release stored in the background
(`services/reindex.py`), and until then criteria, sorts and compartments read the former
entries, which may miss or wrongly match resources (a Bundle's `composition` chain, an
integer token, ...). The searchset then carries a warning (`incomplete`) rather than
answering as if complete."""

from collections.abc import Awaitable, Callable

from fhir_server.search.index import TOP_LEVEL_PARAMETERS
from fhir_server.search.request import SearchRequest


async def never_stale(kind: str) -> bool:
    return False


async def stale_entries_read(request: SearchRequest, used: list[tuple[str, str]],
                             compartment: str | None,
                             stale: Callable[[str], Awaitable[bool]]) -> str | None:
    """Why the matches may be incomplete or wrong, if they may: the search reads search
    entries of the type (criteria, `_sort`, a compartment; `_id` and `_lastUpdated` read
    the stored document itself) while some are an earlier release's."""
    reads_entries = (compartment is not None
                     or any(_code(name) not in TOP_LEVEL_PARAMETERS for name, _ in used)
                     or any(key.code not in TOP_LEVEL_PARAMETERS for key in request.sort))
    kind = request.resource_type
    if not reads_entries or not await stale(kind):
        return None
    return (f"{kind} resources stored by an earlier release are being re-indexed (search "
            "parameters or their extraction changed): until that finishes, this search reads "
            "their former search entries, so matches may be missing or wrong (POST "
            f"[base]/{kind}/$reindex finishes it at once)")


def _code(name: str) -> str:
    """The parameter of a criterion's name (`composition.type`, `family:exact`)."""
    return name.split(":")[0].split(".")[0]
