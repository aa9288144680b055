"""New documents of a unit of work, held until a read needs them or the unit ends, then
stored with one `insert_many` per collection: a transaction Bundle of 50 new resources is a
few round trips to MongoDB instead of two per entry (and two per Provenance).

A lookup by id sees the held documents (`current`); any other read of the unit stores them
first (`ResourceStore` flushes), so the unit reads its own writes as before.
"""


class PendingInserts:
    def __init__(self) -> None:
        # collection name → documents, in the order written
        self._documents: dict[str, list[dict]] = {}
        self._current: dict[tuple[str, str], dict] = {}  # (type, id) → its current document

    def __bool__(self) -> bool:
        return bool(self._documents)

    def add(self, resource_type: str, current: dict, history: dict | None) -> None:
        """A new resource: its current document and its history document, if it has one."""
        self._documents.setdefault(resource_type, []).append(current)
        if history is not None:
            self._documents.setdefault(f"{resource_type}_history", []).append(history)
        self._current[(resource_type, current["_id"])] = current

    def current(self, resource_type: str, resource_id: str) -> dict | None:
        return self._current.get((resource_type, resource_id))

    def take(self) -> dict[str, list[dict]]:
        """Every held document by collection (current collections before their history),
        and hold none any more."""
        documents, self._documents, self._current = self._documents, {}, {}
        return documents
