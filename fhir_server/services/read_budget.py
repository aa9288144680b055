"""How much the read entries of one batch or transaction may answer with together. A search
page is held to FHIR_MAX_RESPONSE_RESOURCES; without a bound on their sum, a batch of a few
hundred searches (a 20 KB body) built a response of hundreds of megabytes."""

from contextvars import ContextVar
from dataclasses import dataclass

from fhir_server.errors import PayloadTooLarge

# Operation entries one Bundle may hold: each may cost what a request does (5,000 `$expand`
# entries held every client for 25 s and took 3.4 GB).
MOST_OPERATIONS = 100


@dataclass
class ReadBudget:
    limit: int
    spent: int = 0
    operations: int = 0

    def charge_operation(self, where: str) -> None:
        """413 for an operation entry past the MOST_OPERATIONS of one Bundle."""
        self.operations += 1
        if self.operations > MOST_OPERATIONS:
            raise PayloadTooLarge(
                f"{where}: one Bundle runs at most {MOST_OPERATIONS} operations; send the "
                "others in another", expression=where)

    def charge(self, answer: dict, where: str) -> None:
        """Count the resources an entry answers with (a Bundle's entries, or one); 413 once
        the entries answered so far would pass the limit."""
        resource = answer.get("resource")
        if not isinstance(resource, dict):
            return
        count = (len(resource.get("entry") or ()) if resource.get("resourceType") == "Bundle"
                 else 1)
        if self.spent + count > self.limit:
            raise PayloadTooLarge(
                f"{where}: the read entries of one Bundle answer with at most {self.limit} "
                "resources together, and this one would pass that; send the reads in smaller "
                "Bundles, or page the searches (_count)", expression=where)
        self.spent += count


# The budget of the Bundle being processed (each request runs in a task of its own).
read_budget: ContextVar[ReadBudget | None] = ContextVar("read_budget", default=None)


def charge_operation(where: str) -> None:
    """Count an operation entry against the budget of the Bundle being processed, if any."""
    if (budget := read_budget.get()) is not None:
        budget.charge_operation(where)


def charge(answer: dict, where: str) -> dict:
    """`answer`, charged to the budget of the Bundle being processed, if any."""
    if (budget := read_budget.get()) is not None:
        budget.charge(answer, where)
    return answer
