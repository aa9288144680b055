"""Bulk Data export (Bulk Data Access IG v2, http://hl7.org/fhir/uv/bulkdata/STU2/export.html;
DESIGN.md §4): `request` checks a kick-off, `service` stores jobs and answers status, cancel
and file requests, `worker` claims jobs and runs them (`run`) into NDJSON files (`output`),
and `verification` checks the signatures of a downloaded export offline."""

from fhir_server.services.export.service import ExportService

__all__ = ["ExportService"]
