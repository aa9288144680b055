"""The signed Provenance of every write, stored in the write's own transaction (a person's
signature is fetched before it, `signing_rounds`).

Every create, update and delete (each entry of a transaction too) gets one Provenance whose
`target` is the version written and whose `signature` is a detached JWS over that version
(README "Signature contract"; http://hl7.org/fhir/R4/provenance.html). All versions of one
unit of work are signed together: one request to the signing service. Provenances that
clients write themselves are not given a Provenance of their own; those carrying signatures
are stored only when every signature verifies.
"""

from dataclasses import dataclass, replace
from datetime import datetime

from fhir_server.auth.tokens import Principal
from fhir_server.conformance.identifiers import CCCD_SYSTEM, CLIENT_ID_SYSTEM, TAX_CODE_SYSTEM
from fhir_server.errors import Issue, Unprocessable
from fhir_server.search.compiler import Compiler
from fhir_server.search.request import parse_query, parse_request
from fhir_server.services.access import current_principal
from fhir_server.services.metrics import signing_latency
from fhir_server.services.offloading import run_sized
from fhir_server.services.provenance_claims import check_claims, check_readable_targets
from fhir_server.services.signers import SignerDirectory
from fhir_server.services.signing_rounds import PresignedSigner
from fhir_server.services.verification import (
    JOSE,
    SignatureVerifier,
    deleted_version,
    stored_versions,
)
from fhir_server.services.versions import (
    Version,
    format_instant,
    new_id,
    next_timestamp,
    storage_documents,
    utc_now,
)
from fhir_server.storage.records import HistoryVersion
from fhir_server.storage.resources import ResourceStore
from signing.canonical import DOCUMENT_TARGET_FORMAT, TARGET_FORMAT
from signing.documents import sign_document
from signing.provenance import format_signing_time, sign_resources
from signing.report import TOTAL_FAILED

DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
AUTHOR_SIGNATURE = {
    "system": "urn:iso-astm:E1762-95:2013",
    "code": "1.2.840.10065.1.12.1.1",
    "display": "Author's Signature",
}
# The hospital's seal on a document it assembled: it attests the content is its record's.
VERIFICATION_SIGNATURE = {
    "system": "urn:iso-astm:E1762-95:2013",
    "code": "1.2.840.10065.1.12.1.5",
    "display": "Verification Signature",
}
AUTHOR_AGENT = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
            "code": "author",
            "display": "Author",
        }
    ]
}
#: A literal reference's trailing `Type/id`, after any base URL, before any `_history/n`.
_ACTIVITY_DISPLAY = {"CREATE": "create", "UPDATE": "revise", "DELETE": "delete"}


@dataclass(frozen=True)
class Hospital:
    """The organisation this server acts for: every agent acts on its behalf."""

    name: str
    tax_code: str

    @property
    def identifier(self) -> dict:
        return {"system": TAX_CODE_SYSTEM, "value": self.tax_code}

    def organization(self) -> dict:
        """The hospital as an Organization resource (e.g. the author of a document)."""
        return {"resourceType": "Organization", "identifier": [self.identifier],
                "active": True, "name": self.name}


class ProvenanceRecorder:
    def __init__(
        self,
        signers: SignerDirectory,
        verifier: SignatureVerifier,
        hospital: Hospital,
        sign_writes: bool = True,
    ):
        self.signers = signers
        self.verifier = verifier
        self.hospital = hospital
        self.sign_writes = sign_writes

    async def remote_signer(self, principal: Principal | None) -> PresignedSigner | None:
        """For a person, whose signature comes from the remote signing service, the signer
        that `record` must use: one whose signatures are fetched outside the transaction
        (`signing_rounds`). None when the seal signs (in memory) or nothing is signed."""
        if not self.sign_writes or principal is None or principal.personal_id is None:
            return None
        return PresignedSigner(await self.signers.signer_for(principal))

    async def record(
        self, store: ResourceStore, principal: Principal | None,
        presigned: PresignedSigner | None = None,
    ) -> None:
        """Sign every version `store` wrote in this unit of work and store the Provenances;
        refuse (422) client Provenances whose signatures do not verify."""
        targets = [(kind, version) for kind, version in store.written if kind != "Provenance"]
        for kind, version in store.written:
            if kind == "Provenance" and version.resource and version.resource.get("signature"):
                await self.check_countersignature(store, version.resource)
            elif kind == "Bundle" and version.resource:
                await self.check_document_signature(version.resource)
        if not targets or not self.sign_writes:
            return
        signer = presigned or await self.signers.signer_for(principal)
        signed_at = utc_now()
        items = [
            (version.resource or deleted_version(kind), _versioned(kind, version))
            for kind, version in targets
        ]
        with signing_latency("seal" if presigned is None else "presigned"):
            signatures = await sign_resources(items, signer, signed_at)
        who, on_behalf_of = await self._parties(store, principal)
        # After every version it signs: history lists a Provenance before its target.
        last_updated = next_timestamp(max(version.last_updated for _, version in targets))
        provenances = []
        for (kind, version), data in zip(targets, signatures, strict=True):
            resource = self._provenance(kind, version, who, on_behalf_of, signed_at, data)
            provenances.append(Version("Provenance", new_id(), 1, last_updated, resource, "POST"))
        # Their search indexes off the event loop for a large Bundle (5,000 held it 1 s).
        documents = await run_sized(_stamped_documents, provenances)
        await store.insert_versions("Provenance", documents)

    async def seal_document(self, store: ResourceStore, bundle: dict) -> dict:
        """`bundle`, a document the server assembled, with the hospital seal's
        `Bundle.signature` (README "Signature contract"); unsigned when no seal is configured
        or writes are not signed."""
        seal = self.signers.seal
        if seal is None or not self.sign_writes:
            return bundle
        signed_at = utc_now()
        with signing_latency("seal"):
            data = await sign_document(bundle, seal, signed_at)
        who, _ = await self._parties(store, None)
        return bundle | {"signature": {
            "type": [VERIFICATION_SIGNATURE], "when": format_signing_time(signed_at), "who": who,
            "targetFormat": DOCUMENT_TARGET_FORMAT, "sigFormat": JOSE, "data": data,
        }}

    async def check_document_signature(self, bundle: dict) -> None:
        """A Bundle whose own JOSE signature (a document's seal, README "Signature contract")
        is proven false (TOTAL-FAILED: another content, a broken signature) is refused, as a
        Provenance's would be; one this server cannot decide (another issuer's chain) or of
        another format (XML-DSig, an image of a signature) is kept as sent."""
        if issues := await self.document_signature_issues(bundle):
            raise Unprocessable(issues[0].diagnostics, issues=issues)

    async def document_signature_issues(self, bundle: dict) -> list[Issue]:
        """What `check_document_signature` refuses a Bundle for, as `$validate` says it.
        Off the event loop for a large Bundle: canonicalising it takes 0.5 s per MB."""
        signature = bundle.get("signature")
        if not isinstance(signature, dict) or signature.get("sigFormat") != JOSE:
            return []
        verification = await run_sized(self.verifier.verify_document, bundle)
        return verification.issues() if verification.indication == TOTAL_FAILED else []

    async def check_countersignature(self, store: ResourceStore, provenance: dict) -> None:
        """A client's signed Provenance must verify against the versions stored here, and
        claim nothing its signatures do not bind (services/provenance_claims.py)."""
        check_readable_targets(provenance)
        verification = await self.verifier.verify(provenance, stored_versions(store))
        if verification.failed_checks() - {"claims"}:
            verification.require_passed()  # the signatures themselves
        # Then what the Provenance claims beside them, naming the element at fault
        # (verification checks the signer and activity too, and reports them less precisely).
        await check_claims(store, provenance, current_principal.get())
        verification.require_passed()

    async def countersignature_issues(self, store: ResourceStore, provenance: dict
                                      ) -> list[Issue]:
        """What `check_countersignature` refuses a client's signed Provenance for (422), as
        `$validate` says it: the same issues, nothing stored. 403 as for the write, when
        the token may not read a target's type."""
        if not provenance.get("signature"):
            return []
        try:
            await self.check_countersignature(store, provenance)
        except Unprocessable as refused:
            return refused.issues
        return []

    def _provenance(
        self,
        kind: str,
        version: HistoryVersion,
        who: dict,
        on_behalf_of: dict | None,
        signed_at: datetime,
        data: str,
    ) -> dict:
        agent = {"type": AUTHOR_AGENT, "who": who}
        signature = {
            "type": [AUTHOR_SIGNATURE],
            "when": format_signing_time(signed_at),
            "who": who,
        }
        if on_behalf_of is not None:
            agent["onBehalfOf"] = on_behalf_of
            signature["onBehalfOf"] = on_behalf_of
        activity = _activity(version)
        return {
            "target": [{"reference": _versioned(kind, version)}],
            "recorded": format_instant(version.last_updated),
            "activity": {
                "coding": [
                    {
                        "system": DATA_OPERATION,
                        "code": activity,
                        "display": _ACTIVITY_DISPLAY[activity],
                    }
                ]
            },
            "agent": [agent],
            "signature": [
                signature | {"targetFormat": TARGET_FORMAT, "sigFormat": JOSE, "data": data}
            ],
        }

    async def _parties(
        self, store: ResourceStore, principal: Principal | None
    ) -> tuple[dict, dict | None]:
        """(agent.who, agent.onBehalfOf): the person or client on behalf of the hospital, or
        the hospital itself when the server writes on its own."""
        hospital = {
            **await _reference(store, "Organization", self.hospital.identifier),
            "display": self.hospital.name,
        }
        if principal is None:
            return hospital, None
        if principal.personal_id is not None:
            identifier = {"system": CCCD_SYSTEM, "value": principal.personal_id}
            practitioners = await _carrying(store, "Practitioner", identifier)
            # A Patient only when no Practitioner carries the CCCD: with two (one of them
            # someone else's), which is the signer is not for the server to guess.
            matches = practitioners or await _carrying(store, "Patient", identifier)
            person = _reference_to(matches, identifier)
            return person | ({"display": principal.name} if principal.name else {}), hospital
        if principal.client_id is not None:
            identifier = {"system": CLIENT_ID_SYSTEM, "value": principal.client_id}
        else:
            identifier = {"system": principal.issuer, "value": principal.subject}
        return {"identifier": identifier, "display": identifier["value"]}, hospital


def _versioned(kind: str, version: HistoryVersion) -> str:
    return f"{kind}/{version.id}/_history/{version.vid}"


def _activity(version: HistoryVersion) -> str:
    if version.deleted:
        return "DELETE"
    return "CREATE" if version.vid == 1 or version.recreated else "UPDATE"


async def _reference(store: ResourceStore, kind: str, identifier: dict) -> dict:
    """`identifier`, with a literal reference to the one `kind` that carries it, if any."""
    return _reference_to(await _carrying(store, kind, identifier), identifier)


async def _carrying(store: ResourceStore, kind: str, identifier: dict) -> list[str]:
    """`Type/id` of (at most two of) the `kind` resources that carry `identifier`."""
    query = f"identifier={identifier['system']}|{identifier['value']}"
    request = parse_request(kind, parse_query(query), max_count=2)
    criteria, _ = await Compiler(store.project).compile(kind, request.criteria, strict=True)
    return [f"{kind}/{match.id}" for match in await store.find(kind, criteria, 2)]


def _reference_to(matches: list[str], identifier: dict) -> dict:
    return ({"reference": matches[0]} if len(matches) == 1 else {}) | {"identifier": identifier}


def _stamped_documents(provenances: list[Version]) -> list[tuple[dict, dict]]:
    """The storage documents of new Provenances, their id and meta stamped first."""
    return [storage_documents(replace(version, resource={
        "resourceType": "Provenance", "id": version.id,
        "meta": {"versionId": "1", "lastUpdated": format_instant(version.last_updated)},
    } | (version.resource or {}))) for version in provenances]
