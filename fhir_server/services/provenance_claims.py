"""What a client's signed Provenance claims besides its signatures, checked against them and
against the versions stored here. A signature binds the signer (the identity its certificate
names) to the content of the target version, not the Provenance's other elements: without
these checks, a genuine signature copied into a new Provenance could name another signer or
agent, a deletion that never happened, or a time to come, and still verify."""

import re
from datetime import timedelta

from fhir_server.auth.tokens import Principal
from fhir_server.conformance.identifier_systems import canonical_system
from fhir_server.conformance.identifiers import CCCD_SYSTEM, CLIENT_ID_SYSTEM, TAX_CODE_SYSTEM
from fhir_server.conformance.primitives import ID_REGEX
from fhir_server.conformance.registry import is_supported
from fhir_server.errors import Forbidden, Unprocessable
from fhir_server.search.types.date import parse_date
from fhir_server.services.access import current_permissions
from fhir_server.services.verification import (
    data_operation,
    deleted_version,
    expected_identity,
    identifier_of,
    same_party,
    stored_versions,
)
from fhir_server.services.versions import utc_now
from fhir_server.storage.resources import ResourceStore

# How far ahead of this server's clock `recorded` may be: the clocks of two machines differ.
_CLOCK_SKEW = timedelta(minutes=5)
# A relative literal reference, `Type/id` or `Type/id/_history/n` (no other server's URL).
_RELATIVE_REFERENCE = re.compile(
    rf"(?P<type>[A-Z][A-Za-z]+)/(?P<id>{ID_REGEX})(?:/_history/(?P<vid>[0-9]{{1,19}}))?")


def check_readable_targets(provenance: dict) -> None:
    """403 unless the caller may read every target's type: whether a signature verifies
    tells of the target's content (that a version exists, that it is the one signed)."""
    kinds = sorted({str(target.get("reference", "")).split("/")[0]
                    for target in provenance.get("target") or [] if isinstance(target, dict)})
    if unreadable := [kind for kind in kinds if not current_permissions.get().allows(kind, "r")]:
        raise Forbidden(f"A signed Provenance is checked against its targets, and the token's "
                        f"scopes do not allow reading {', '.join(unreadable)}")


async def check_claims(store: ResourceStore, provenance: dict, poster: Principal | None) -> None:
    """422 unless each signer is who its certificate names and one of the agents, named the
    same way, a CREATE, UPDATE or DELETE activity matches what the targets are, and
    `recorded` is not a time to come. `poster`: who sends it (None: the server itself)."""
    agents = [agent.get("who") for agent in provenance.get("agent") or []
              if isinstance(agent, dict)]
    for index, signature in enumerate(provenance.get("signature") or []):
        where = f"Provenance.signature[{index}].who"
        await _check_reference(store, provenance, signature, signature.get("who"), where)
        _check_seal_signer(signature, poster, where)
        matching = [i for i, who in enumerate(agents) if same_party(signature.get("who"), who)]
        if not matching:
            # R4 Provenance.signature: "The signer should match a Provenance.agent."
            raise Unprocessable(f"{where} names no agent of the Provenance as it names the "
                                "signer: a signer must be one of its agents", expression=where)
        for agent in matching:  # a reference the agent adds must name the signer too
            await _check_reference(store, provenance, signature, agents[agent],
                                   f"Provenance.agent[{agent}].who")
    _check_unsigned_agents(provenance, agents, poster)
    await _check_activity(store, provenance)
    recorded = provenance.get("recorded")  # an instant, as validation required
    # Read as search reads instants: a leap second (`23:59:60Z`, which R4's grammar allows)
    # is the last millisecond of its minute; datetime.fromisoformat raised on it (a 500).
    if isinstance(recorded, str) and parse_date(recorded).low > utc_now() + _CLOCK_SKEW:
        raise Unprocessable(f"Provenance.recorded {recorded} is a time to come",
                            expression="Provenance.recorded")


def _check_unsigned_agents(provenance: dict, agents: list, poster: Principal | None) -> None:
    """An agent no signature binds is the poster's own claim: it may name the poster (a
    client recording that it entered the countersignature), no one else. Another user
    adding themselves as author beside a genuine signature was stored and verified."""
    if poster is None:  # the server itself, loading data
        return
    signers = [signature.get("who") for signature in provenance.get("signature") or []
               if isinstance(signature, dict)]
    own = [{"identifier": {"system": system, "value": value}}
           for system, value in ((CCCD_SYSTEM, poster.personal_id),
                                 (CLIENT_ID_SYSTEM, poster.client_id)) if value]
    for index, who in enumerate(agents):
        if any(same_party(signer, who) for signer in signers):
            continue
        if not any(same_party(mine, who) for mine in own):
            raise Unprocessable(
                f"Provenance.agent[{index}] is no signer of the Provenance, nor the one posting "
                "it: a signed Provenance names no one its signatures do not bind",
                expression=f"Provenance.agent[{index}].who")


def _check_seal_signer(signature: dict, poster: Principal | None, where: str) -> None:
    """A seal's certificate names the organisation only: `Signature.who` is the organisation
    itself (its tax code), or, as the server writes them, the backend client on whose behalf
    it sealed, which only that client (or the server loading data) may claim."""
    personal_id, tax_code = expected_identity(signature)
    if personal_id is not None:
        return
    identifier = identifier_of(signature.get("who"))
    system, value = canonical_system(str(identifier.get("system"))), identifier.get("value")
    if (system, value) == (TAX_CODE_SYSTEM, tax_code):
        return
    if system == CLIENT_ID_SYSTEM and (poster is None or poster.client_id == value):
        return
    raise Unprocessable(f"{where}: a seal names the organisation {tax_code} only; the signer "
                        "must be that organisation (its tax code) or the client posting it",
                        expression=where)


async def _check_reference(store: ResourceStore, provenance: dict, signature: dict,
                           who: object, where: str) -> None:
    """A signer named by a reference must be the one the certificate was matched against:
    the resource it references (here, relatively, in the version it names, or contained)
    must carry that identifier (the person's CCCD, or the seal's tax code). A reference this
    server cannot resolve, another server's among them, is refused: it would name someone
    the signature does not bind."""
    reference = who.get("reference") if isinstance(who, dict) else None
    if not isinstance(reference, str):
        return
    personal_id, tax_code = expected_identity(signature)
    wanted = (CCCD_SYSTEM, personal_id) if personal_id is not None else (TAX_CODE_SYSTEM, tax_code)
    carried = await _referenced(store, provenance, reference)
    if carried is None:
        raise Unprocessable(
            f"{where} references {reference}, which is no resource held here (a relative "
            "Type/id, or #id of a contained one): it would name someone the signature does "
            "not bind", expression=where)
    identifiers = carried.get("identifier")
    if not any(
        isinstance(i, dict) and (canonical_system(str(i.get("system"))), i.get("value")) == wanted
        for i in identifiers or []
    ):
        raise Unprocessable(
            f"{where} references {reference}, which does not carry the identifier "
            f"{wanted[0]}|{wanted[1]} the signature was checked against", expression=where)


async def _referenced(store: ResourceStore, provenance: dict, reference: str) -> dict | None:
    """The resource a reference names: one the Provenance contains (`#id`), else the one on
    this server with that relative `Type/id`, in the version `_history/n` names or the
    current one; None when there is none."""
    if reference.startswith("#"):
        contained = (r for r in provenance.get("contained") or [] if isinstance(r, dict))
        return next((r for r in contained if r.get("id") == reference[1:]), None)
    match = _RELATIVE_REFERENCE.fullmatch(reference)
    if match is None or not is_supported(match["type"]):
        return None
    if match["vid"] is not None:
        version = await store.version(match["type"], match["id"], int(match["vid"]))
        return version.resource if version is not None else None
    current = await store.current(match["type"], match["id"])
    return current.resource if current is not None else None


async def _check_activity(store: ResourceStore, provenance: dict) -> None:
    """A DELETE activity targets deletions only, a CREATE or UPDATE none."""
    activity = data_operation(provenance)
    if activity is None:
        return  # another activity (a verification, say) says nothing of what the target is
    deletion = activity == "DELETE"
    load = stored_versions(store)
    for index, target in enumerate(provenance.get("target") or []):
        reference = target["reference"]  # a version: the signatures' check required it
        if (await load(reference) == deleted_version(reference.split("/")[0])) != deletion:
            said = "DELETE" if deletion else "CREATE or UPDATE"
            raise Unprocessable(
                f"The activity is {said}, but {reference} is {'no' if deletion else 'a'} "
                "deletion", expression=f"Provenance.target[{index}]")
