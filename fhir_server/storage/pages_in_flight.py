"""The bytes of search pages that the requests of this process hold at once. One page is
bounded (FHIR_MAX_RESPONSE_BYTES), not the pages in flight together: twenty clients that
never read a page of large resources held 1.6 GB until they were dropped. Past MOST_BYTES,
a page ends at its first resource (its `next` link goes on from there) until requests
holding pages end and give theirs back."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

MOST_BYTES = 256 * 2**20

_held_in_all = [0]
# The bytes the current request holds (None outside a request: a background job's reads
# are not counted).
_held: ContextVar[list[int] | None] = ContextVar("page_bytes_held", default=None)


@contextmanager
def held_by_request() -> Iterator[None]:
    """Count the page bytes the request running in this block holds, and give them back
    when it ends (its response sent, or its client gone)."""
    held = [0]
    token = _held.set(held)
    try:
        yield
    finally:
        _held.reset(token)
        _held_in_all[0] -= held[0]


def held_now() -> int:
    """The page bytes the current request holds (0 outside a request)."""
    held = _held.get()
    return held[0] if held is not None else 0


class PageBudget:
    """One page's bytes: its first document whatever its size, then up to `max_bytes`,
    within what the process's pages may hold together. Counted against the request that
    made it, wherever the page is read (a task reading pages of several requests at once,
    `coalesced_finds`)."""

    def __init__(self, max_bytes: int):
        self._left, self._held = max_bytes, _held.get()

    def keeps(self, size: int, first: bool) -> bool:
        """Whether the page takes a document of `size` bytes (`first`: its first)."""
        if not first and size > self._left or not _take(self._held, size, first):
            return False
        self._left -= size
        return True


def _take(held: list[int] | None, size: int, first: bool) -> bool:
    """Whether a page may hold `size` more bytes (`first`: its first resource, which it
    holds whatever the others hold), counted against the request's share (`held`)."""
    if held is None:
        return True
    if not first and _held_in_all[0] + size > MOST_BYTES:
        return False
    held[0] += size
    _held_in_all[0] += size
    return True
