"""What the server's MongoDB traffic looks like to Prometheus: every command sent, and how
many one request sent (its round trips), counted by a pymongo CommandListener."""

from collections import Counter as Tally
from contextvars import ContextVar
from functools import cache

from prometheus_client import Counter
from pymongo import monitoring

from fhir_server.storage.export_jobs import ExportJobStore

COMMANDS = Counter(
    "fhir_mongodb_commands", "Commands this process sent to MongoDB, by command name.",
    ["command"],
)
# The commands of the request being served: set per request by whoever measures requests.
# A mutable tally, so that tasks and threads the request starts (copies of its context)
# add to the same one.
request_commands: ContextVar[Tally[str] | None] = ContextVar("request_commands", default=None)


class CommandCounter(monitoring.CommandListener):
    """Counts every command when it is sent; called on the event loop, so it stays cheap."""

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        _sent(event.command_name).inc()
        tally = request_commands.get()
        if tally is not None:
            tally[event.command_name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@cache  # `labels()` takes a lock and builds a key each time; the commands are few
def _sent(command: str) -> Counter:
    return COMMANDS.labels(command)


async def export_jobs_by_status(jobs: ExportJobStore) -> dict[str, int]:
    """How many bulk export jobs are in each status (one aggregation over the few jobs kept
    until their files expire)."""
    counts = jobs.jobs.aggregate([{"$group": {"_id": "$status", "count": {"$sum": 1}}}])
    return {group["_id"]: group["count"] async for group in await counts}
