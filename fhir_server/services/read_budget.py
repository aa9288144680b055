"""How much the read entries of one batch or transaction may answer with together. A search
page is held to FHIR_MAX_RESPONSE_RESOURCES; without a bound on their sum, a batch of a few
hundred searches (a 20 KB body) built a response of hundreds of megabytes."""

from contextvars import ContextVar
from dataclasses import dataclass

from fhir_server.errors import PayloadTooLarge


@dataclass
class ReadBudget:
    limit: int
    spent: int = 0

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


def charge(answer: dict, where: str) -> dict:
    """`answer`, charged to the budget of the Bundle being processed, if any."""
    if (budget := read_budget.get()) is not None:
        budget.charge(answer, where)
    return answer
