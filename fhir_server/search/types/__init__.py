"""One module per search-parameter type, each owning both sides: `index(nodes)` turns the
values an expression selects into `search.<code>` entries, `compile_value(criterion, value)`
turns one search value (one of a comma list, its `\\` escapes kept for the module to split
by and undo, see values.py) into a MongoDB filter on them (DESIGN.md §3)."""

import dataclasses
from collections.abc import Mapping

from fhir_server.conformance.search_parameters import SearchParameter


@dataclasses.dataclass(frozen=True)
class Criterion:
    """One `code[:modifier]=value` of a query, as the type modules need it."""

    field: str  # where the entries are stored: "search.<code>"
    parameter: SearchParameter
    modifier: str | None
    base_url: str | None = None  # absolute references to this server count as relative
    # `:in`/`:not-in`: ValueSets stored through the API that it names, by canonical.
    value_sets: Mapping[str, dict] = dataclasses.field(default_factory=dict, compare=False,
                                                       hash=False)
    # `:in`/`:not-in`: whether a code without a system may be in a ValueSet (that of a
    # primitive `code` element with no implicit system; index.indexes_bare_codes).
    bare_codes: bool = True
