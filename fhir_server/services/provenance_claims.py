"""What a client's signed Provenance claims besides its signatures, checked against them and
against the versions stored here. A signature binds the signer to the content of the target
version, not the Provenance's other elements: without these checks, a genuine signature
copied into a new Provenance could name another agent, a deletion that never happened, or a
time to come, and still verify."""

from datetime import datetime, timedelta

from fhir_server.conformance.identifier_systems import canonical_system
from fhir_server.errors import Unprocessable
from fhir_server.services.verification import deleted_version, is_deletion, stored_versions
from fhir_server.services.versions import utc_now
from fhir_server.storage.resources import ResourceStore

# How far ahead of this server's clock `recorded` may be: the clocks of two machines differ.
_CLOCK_SKEW = timedelta(minutes=5)


async def check_claims(store: ResourceStore, provenance: dict) -> None:
    """422 unless every signer is an agent, a DELETE activity targets deletions only, and
    `recorded` is not a time to come."""
    agents = [agent.get("who") for agent in provenance.get("agent") or []
              if isinstance(agent, dict)]
    for index, signature in enumerate(provenance.get("signature") or []):
        if not any(_same_party(signature.get("who"), who) for who in agents):
            # R4 Provenance.signature: "The signer should match a Provenance.agent."
            raise Unprocessable(
                f"Provenance.signature[{index}].who names no agent of the Provenance: a "
                "signer must be one of its agents", expression=f"Provenance.signature[{index}].who")
    if is_deletion(provenance):
        load = stored_versions(store)
        for index, target in enumerate(provenance.get("target") or []):
            reference = target["reference"]  # a version: the signatures' check required it
            if await load(reference) != deleted_version(reference.split("/")[0]):
                raise Unprocessable(
                    f"The activity is DELETE, but {reference} is no deletion",
                    expression=f"Provenance.target[{index}]")
    recorded = provenance.get("recorded")  # an instant, as validation required
    if isinstance(recorded, str) and datetime.fromisoformat(recorded) > utc_now() + _CLOCK_SKEW:
        raise Unprocessable(f"Provenance.recorded {recorded} is a time to come",
                            expression="Provenance.recorded")


def _same_party(signer: object, agent: object) -> bool:
    """Whether two References name one party: the same literal reference, or the same
    identifier (systems compared as the aliases of one identifier system)."""
    if not isinstance(signer, dict) or not isinstance(agent, dict):
        return False
    if isinstance(signer.get("reference"), str) and signer["reference"] == agent.get("reference"):
        return True
    ours, theirs = signer.get("identifier"), agent.get("identifier")
    return (isinstance(ours, dict) and isinstance(theirs, dict)
            and isinstance(ours.get("system"), str) and isinstance(theirs.get("system"), str)
            and (canonical_system(ours["system"]), ours.get("value"))
            == (canonical_system(theirs["system"]), theirs.get("value")))
