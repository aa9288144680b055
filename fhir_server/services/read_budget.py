"""How much the read entries of one batch or transaction may answer with together. A search
page is held to FHIR_MAX_RESPONSE_RESOURCES and FHIR_MAX_RESPONSE_BYTES; without a bound on
their sum, a batch of a few hundred searches (a 20 KB body) built a response of hundreds of
megabytes, and one of 5,000 reads of a 13 MB Binary took 3.5 GB."""

from contextvars import ContextVar
from dataclasses import dataclass

from fhir_server.conformance.json_format import dumps
from fhir_server.conformance.messages import refusal
from fhir_server.errors import PayloadTooLarge

# Operation entries one Bundle may hold: each may cost what a request does (5,000 `$expand`
# entries held every client for 25 s and took 3.4 GB).
MOST_OPERATIONS = 100


@dataclass
class ReadBudget:
    limit: int  # resources
    byte_limit: int  # of their JSON
    spent: int = 0
    bytes_spent: int = 0
    operations: int = 0

    def charge_operation(self, where: str) -> None:
        """413 for an operation entry past the MOST_OPERATIONS of one Bundle."""
        self.operations += 1
        if self.operations > MOST_OPERATIONS:
            raise refusal(PayloadTooLarge, "bundle.too-many-operations", where, where=where,
                          max=MOST_OPERATIONS)

    def check_room(self, where: str) -> None:
        """413 before a read entry once the entries before it used a limit up: nothing more
        would fit, so nothing more is read (5,000 reads of a large Binary)."""
        if self.spent >= self.limit or self.bytes_spent >= self.byte_limit:
            raise self._too_costly(where)

    def _too_costly(self, where: str) -> PayloadTooLarge:
        return refusal(PayloadTooLarge, "bundle.reads-too-large", where, where=where,
                       limit=self.limit, bytes=self.byte_limit)

    def charge(self, answer: dict, where: str) -> None:
        """Count the resources an entry answers with (a Bundle's entries, or one), and their
        bytes; 413 once the entries answered so far would pass either limit (the first entry
        is answered whatever its size, as it would be alone)."""
        resource = answer.get("resource")
        if not isinstance(resource, dict):
            return
        count = (len(resource.get("entry") or ()) if resource.get("resourceType") == "Bundle"
                 else 1)
        size = len(dumps(resource))
        if self.spent + count > self.limit or (
                self.bytes_spent and self.bytes_spent + size > self.byte_limit):
            raise self._too_costly(where)
        self.spent += count
        self.bytes_spent += size


# The budget of the Bundle being processed (each request runs in a task of its own).
read_budget: ContextVar[ReadBudget | None] = ContextVar("read_budget", default=None)


def charge_operation(where: str) -> None:
    """Count an operation entry against the budget of the Bundle being processed, if any."""
    if (budget := read_budget.get()) is not None:
        budget.charge_operation(where)


def check_room(where: str) -> None:
    """413 if the Bundle being processed, if any, has no room left for a read entry."""
    if (budget := read_budget.get()) is not None:
        budget.check_room(where)


def charge(answer: dict, where: str) -> dict:
    """`answer`, charged to the budget of the Bundle being processed, if any."""
    if (budget := read_budget.get()) is not None:
        budget.charge(answer, where)
    return answer
