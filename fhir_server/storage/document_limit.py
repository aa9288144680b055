"""MongoDB's 16 MiB document limit: a write whose document (a resource with its search
index and compartments, or a version in history) is over it is refused with 413, whichever
way it reaches MongoDB (an insert, a replacement, `$set` of derived fields or of a meta)."""

from collections.abc import Iterator
from contextlib import contextmanager

from pymongo.errors import BulkWriteError, DocumentTooLarge, OperationFailure

from fhir_server.errors import PayloadTooLarge

# MongoDB's BSONObjectTooLarge: a document over 16 MiB that the driver did not catch first.
_TOO_LARGE_CODES = (10334, 17419)


@contextmanager
def within_document_limit(resource_type: str) -> Iterator[None]:
    """A document over MongoDB's 16 MiB limit is refused with 413; the driver checks before
    sending it."""
    try:
        yield
    except (DocumentTooLarge, OperationFailure) as failure:
        if isinstance(failure, OperationFailure) and not _is_too_large(failure):
            raise
        raise PayloadTooLarge(
            f"The {resource_type} is too large to store: with its search index it is over "
            "MongoDB's 16 MiB document limit"
        ) from None


def _is_too_large(failure: OperationFailure) -> bool:
    """MongoDB refused a document over its limit: a command error, or in a bulk insert (a
    document the driver let through, just over 16 MiB) a write error of each document."""
    if failure.code in _TOO_LARGE_CODES:
        return True
    errors = (failure.details or {}).get("writeErrors") if isinstance(
        failure, BulkWriteError) else None
    return isinstance(errors, list) and bool(errors) and all(
        "too large" in str(error.get("errmsg")) for error in errors)
