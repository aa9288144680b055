"""The audit trail: one AuditEvent per request (IHE Basic Audit Log Patterns shape,
https://profiles.ihe.net/ITI/BALP/), written by a background task so that recording never
waits on MongoDB in the request path."""

import asyncio
import base64
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from fhir_server.conformance.identifiers import CCCD_SYSTEM, CLIENT_ID_SYSTEM
from fhir_server.services.versions import Version, new_id, stamp, storage_documents
from fhir_server.storage.database import Database

log = logging.getLogger(__name__)

_QUEUE_SIZE = 50_000
_BATCH = 500
_STOP_SECONDS = 10
# action codes (http://hl7.org/fhir/R4/valueset-audit-event-action.html) per interaction
_ACTIONS = {
    "create": "C",
    "read": "R",
    "vread": "R",
    "update": "U",
    "patch": "U",
    "delete": "D",
    "search-type": "E",
    "history-instance": "R",
    "history-type": "E",
    "history-system": "E",
    "transaction": "E",
    "batch": "E",
    "operation": "E",
    "export": "E",
    "capabilities": "R",
    "token": "E",
}


@dataclass(frozen=True)
class Access:
    """What one request did, as the audit trail needs it."""

    interaction: str
    status: int
    who: str | None  # personal ID or client id; None when no token was accepted
    is_client: bool
    name: str | None
    address: str | None
    entity: str | None  # `Type/id` the request was about
    query: str | None  # search parameters, for searches
    source: str  # this server (its base URL)


def _outcome(status: int) -> str:
    """0 success, 4 minor failure (refused request), 8 serious failure (server error)."""
    return "0" if status < 400 else "4" if status < 500 else "8"


def audit_event(access: Access, recorded: datetime) -> dict:
    action = _ACTIONS.get(access.interaction, "E")
    role = ("AUT", "author (originator)") if action in "CUD" else ("IRCP", "information recipient")
    agent: dict = {
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                    "code": role[0],
                    "display": role[1],
                }
            ]
        },
        "requestor": True,
    }
    if access.who is not None:
        system = CLIENT_ID_SYSTEM if access.is_client else CCCD_SYSTEM
        agent["who"] = {"identifier": {"system": system, "value": access.who}}
        if access.name:
            agent["who"]["display"] = access.name
    if access.address:
        agent["network"] = {"address": access.address, "type": "2"}
    event: dict = {
        "resourceType": "AuditEvent",
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
            "display": "RESTful Operation",
        },
        "subtype": [
            {"system": "http://hl7.org/fhir/restful-interaction", "code": access.interaction}
        ],
        "action": action,
        "recorded": recorded.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "outcome": _outcome(access.status),
        "outcomeDesc": f"HTTP {access.status}",
        "agent": [agent],
        "source": {
            "observer": {"display": access.source},
            "type": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                    "code": "4",
                    "display": "Application Server",
                }
            ],
        },
    }
    entities: list[dict] = []
    if access.entity:
        entities.append({"what": {"reference": access.entity}})
    if access.query:
        entities.append(
            {
                "type": {
                    "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                    "code": "2",
                    "display": "System Object",
                },
                "query": base64.b64encode(access.query.encode()).decode(),
            }
        )
    if entities:
        event["entity"] = entities
    return event


class AuditTrail:
    """Collects AuditEvents in memory and stores them in batches in the background."""

    def __init__(self, database: Database):
        self.database = database
        self._queue: asyncio.Queue[dict] = asyncio.Queue(_QUEUE_SIZE)
        self._writer: asyncio.Task | None = None

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_forever())

    async def stop(self) -> None:
        """Store what is queued (for a few seconds at most), then stop."""
        try:
            await asyncio.wait_for(self._queue.join(), _STOP_SECONDS)
        except TimeoutError:
            log.error("%d AuditEvents were not stored before shutdown", self._queue.qsize())
        if self._writer is not None:
            self._writer.cancel()

    def record(self, access: Access) -> None:
        """Queue the AuditEvent of a request; never waits."""
        try:
            self._queue.put_nowait(audit_event(access, datetime.now(UTC)))
        except asyncio.QueueFull:
            log.error("audit queue full: an AuditEvent for %s was lost", access.interaction)

    async def _write_forever(self) -> None:
        while True:
            events = [await self._queue.get()]
            while len(events) < _BATCH and not self._queue.empty():
                events.append(self._queue.get_nowait())
            try:
                await self._store(events)
            except Exception:
                log.exception("storing %d AuditEvents failed", len(events))
            finally:
                for _ in events:
                    self._queue.task_done()

    async def _store(self, events: list[dict]) -> None:
        now = datetime.now(UTC).replace(microsecond=0)
        documents = []
        for event in events:
            resource_id = new_id()
            version = Version(
                "AuditEvent", resource_id, 1, now, stamp(event, resource_id, 1, now), "POST"
            )
            documents.append(storage_documents(version))
        await self.database.store().insert_versions("AuditEvent", documents)
