"""The launch patient of a person's token that names none: a VNeID login of the patient
themself. With `patient/` scopes and no `patient` claim, the person's own record is the one
Patient whose CCCD (either VN Core guide's system) is the token's personal ID, held now
(not `use: old`, its period not ended), not counting a record merged into another (`link`
`replaced-by` it); none, or several (duplicates awaiting a
merge), and the scopes grant nothing."""

import time
from collections import OrderedDict

from fhir_server.conformance.identifier_systems import canonical_system
from fhir_server.conformance.identifiers import CCCD_SYSTEM
from fhir_server.search.compiler import Compiler
from fhir_server.services.held_identifiers import held_now
from fhir_server.services.replaced_patients import current
from fhir_server.storage.database import Database

# Records one CCCD may be on (old and corrected ones, duplicates awaiting a merge).
_MOST_HOLDING = 50
# How long a lookup is remembered (a new or merged record is seen within it), and how many.
REMEMBER_SECONDS = 60
_REMEMBERED = 10_000


class PersonalRecords:
    def __init__(self, database: Database):
        self.database = database
        self._found: OrderedDict[str, tuple[float, str | None]] = OrderedDict()

    async def patient_of(self, personal_id: str) -> str | None:
        """The id of the one Patient with this CCCD, or None."""
        now = time.monotonic()
        if (known := self._found.get(personal_id)) is not None and known[0] > now:
            return known[1]
        store = self.database.store()
        query, _ = await Compiler(store.project).compile(
            "Patient", [("identifier", f"{CCCD_SYSTEM}|{personal_id}")], strict=True)
        holding = await store.find("Patient", query, _MOST_HOLDING + 1,
                                   projection=["_id", "resource"])
        found = current([version for version in holding
                         if _holds_now(version.resource or {}, personal_id)])
        # One current holder among them all, in whatever order they are read: beyond that
        # many, which is current cannot be told cheaply, and none is taken.
        patient = found[0].id if len(found) == 1 and len(holding) <= _MOST_HOLDING else None
        self._found[personal_id] = (now + REMEMBER_SECONDS, patient)
        self._found.move_to_end(personal_id)
        if len(self._found) > _REMEMBERED:
            self._found.popitem(last=False)
        return patient


def _holds_now(patient: dict, personal_id: str) -> bool:
    """Whether the Patient holds the CCCD as its own now: not one marked `old`, or whose
    period has not begun or has ended (a corrected, mistyped number may be another
    person's)."""
    identifiers = patient.get("identifier")
    return isinstance(identifiers, list) and any(
        isinstance(identifier, dict) and identifier.get("value") == personal_id
        and canonical_system(str(identifier.get("system", ""))) == CCCD_SYSTEM
        and held_now(identifier) for identifier in identifiers)
