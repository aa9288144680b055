"""Verifying the signatures of a Provenance against the resource versions it targets.

Used by `GET Provenance/{id}/$verify`, `POST $verify-signature`, the check of Provenances
that clients post with their own signature, and the offline `fhir-server verify`. Each
signature is checked by :func:`signing.provenance.verify_resource`; this module knows the
FHIR side: which target a signature covers, whose identity the certificate must carry, what a
deleted version's signature covers, and how the report reads as `Parameters`.
"""

import binascii
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from cryptography import x509

from fhir_server.conformance.identifier_systems import canonical_system
from fhir_server.conformance.identifiers import CCCD_SYSTEM, TAX_CODE_SYSTEM
from fhir_server.conformance.primitives import is_digits
from fhir_server.errors import Issue, TooCostly, Unprocessable
from fhir_server.services.offloading import run_off_the_loop
from fhir_server.storage.resources import ResourceStore
from signing.canonical import DOCUMENT_TARGET_FORMAT, TARGET_FORMAT
from signing.documents import verify_document
from signing.jws import base64_binary, parse_detached
from signing.provenance import TARGET, content_once, verify_detached
from signing.report import INDETERMINATE, TOTAL_FAILED, TOTAL_PASSED, Check, VerificationReport

JOSE = "application/jose"
# Signatures one Provenance may hold: each costs a certificate path and a signature check
# (a signer each; 400 copies of one made a request of 23 s).
MAX_SIGNATURES = 100

#: Finds the resource of a version-specific reference: its JSON, `deleted_version(type)` for
#: a deletion, None when the version is unknown.
VersionLoader = Callable[[str], Awaitable[dict | None]]


def deleted_version(resource_type: str) -> dict:
    """What a deletion's signature covers: a resource of the type with no content. The
    deleted resource's type, id and version are bound by the signed header's `sigD`."""
    return {"resourceType": resource_type}


def stored_versions(store: ResourceStore) -> VersionLoader:
    """Targets looked up in the history collections (inside `store`'s transaction, if any)."""

    async def load(target: str) -> dict | None:
        kind, resource_id, _, vid = target.split("/")
        version = await store.version(kind, resource_id, int(vid)) if is_digits(vid) else None
        if version is None:
            return None
        return deleted_version(kind) if version.deleted else version.resource

    return load


def sent_versions(resources: list[dict]) -> VersionLoader:
    """Targets looked up among `resources` sent with the request: by type, id and
    meta.versionId (a resource without versionId stands for any version). A target with no
    resource sent is not found, whatever the Provenance's activity says: a DELETE activity,
    which the signature does not bind, made the signature of an empty resource's creation
    pass as a deletion's."""

    async def load(target: str) -> dict | None:
        kind, resource_id, _, vid = target.split("/")
        for resource in resources:
            meta = resource.get("meta")
            version = meta.get("versionId", vid) if isinstance(meta, dict) else vid
            if (resource.get("resourceType"), resource.get("id"), version) == (
                kind,
                resource_id,
                vid,
            ):
                return resource
        return None

    return load


def is_deletion(provenance: dict) -> bool:
    """Whether the Provenance records a delete (v3-DataOperation DELETE)."""
    codings = (provenance.get("activity") or {}).get("coding") or []
    return any(isinstance(c, dict) and c.get("code") == "DELETE" for c in codings)


@dataclass(frozen=True)
class SignatureResult:
    index: int
    target: str | None
    report: VerificationReport


@dataclass(frozen=True)
class ProvenanceVerification:
    results: list[SignatureResult]
    # Targets no signature designates: a signature over one version must not lend its
    # verdict to other targets listed beside it.
    unsigned_targets: tuple[str, ...] = ()
    subject: str = "The Provenance"  # what was to carry the signatures
    element: str = "Provenance.signature[{}]"  # where, given a signature's index

    @property
    def indication(self) -> str:
        indications = {result.report.indication for result in self.results}
        if not self.results or self.unsigned_targets or TOTAL_FAILED in indications:
            return TOTAL_FAILED
        return INDETERMINATE if INDETERMINATE in indications else TOTAL_PASSED

    def failures(self) -> list[tuple[int | None, str]]:
        """(signature index, reason) of every failed or undecided check."""
        if not self.results:
            return [(None, f"{self.subject} carries no signature")]
        unsigned: list[tuple[int | None, str]] = [
            (None, f"{TOTAL_FAILED} target: {target} is designated by no signature")
            for target in self.unsigned_targets
        ]
        # The signatures' own failures first: a target is often undesignated only because
        # its signature could not be read.
        signed: list[tuple[int | None, str]] = [
            (result.index, f"{result.report.indication} {check.name}: {check.reason}")
            for result in self.results
            for check in result.report.checks
            if check.passed is False or (check.passed is None and check.sub_indication)
        ]
        return signed + unsigned

    def failed_checks(self) -> set[str]:
        """The names of the checks that failed or could not be decided."""
        return {check.name for result in self.results for check in result.report.checks
                if check.passed is False or (check.passed is None and check.sub_indication)}

    def reasons(self) -> list[str]:
        return [
            reason if index is None else f"signature[{index}] {reason}"
            for index, reason in self.failures()
        ]

    def to_parameters(self, provenance_reference: str | None = None) -> dict:
        """The outcome as `Parameters`: overall indication, reasons, then each signature."""
        parameters: list[dict] = [{"name": "indication", "valueCode": self.indication}]
        if provenance_reference:
            parameters.append(
                {"name": "provenance", "valueReference": {"reference": provenance_reference}}
            )
        parameters += [{"name": "reason", "valueString": reason} for reason in self.reasons()]
        parameters += [_signature_parameter(result) for result in self.results]
        return {"resourceType": "Parameters", "parameter": parameters}

    def issues(self) -> list[Issue]:
        """An error naming each failed check; none when every signature is TOTAL-PASSED."""
        if self.indication == TOTAL_PASSED:
            return []
        return [
            Issue(
                f"The signature does not verify ({self.indication}): {reason}",
                "processing",
                expression=() if index is None else (self.element.format(index),),
            )
            for index, reason in self.failures()
        ]

    def require_passed(self) -> None:
        """422 naming every failed check unless every signature is TOTAL-PASSED."""
        if issues := self.issues():
            raise Unprocessable(issues[0].diagnostics, issues=issues)


class SignatureVerifier:
    """Checks Provenance signatures against the configured trust anchors."""

    def __init__(self, anchors: list[x509.Certificate]):
        self.anchors = anchors

    async def verify(self, provenance: dict, load: VersionLoader) -> ProvenanceVerification:
        """Each signature against its target, and what the Provenance claims of it that the
        signature does not bind (its signer, activity and format), as POST checks them.
        The targets are loaded first, then checked off the event loop: the cost grows with
        their size and the number of signatures (at most MAX_SIGNATURES)."""
        signatures = provenance.get("signature") or []
        if isinstance(signatures, list) and len(signatures) > MAX_SIGNATURES:
            raise TooCostly(f"The Provenance holds {len(signatures)} signatures: this server "
                            f"checks at most {MAX_SIGNATURES} in one",
                            expression="Provenance.signature")
        targets = _version_targets(provenance)
        designated = [_signed_target(signature.get("data"), targets)
                      if isinstance(signature, dict) else None for signature in signatures]
        versions = {target: await load(target)
                    for target in dict.fromkeys(t for t in designated if t is not None)}
        return await run_off_the_loop(self._verify_all, provenance, signatures, targets,
                                      designated, versions)

    def _verify_all(self, provenance: dict, signatures: list, targets: list[str],
                    designated: list[str | None],
                    versions: dict[str, dict | None]) -> ProvenanceVerification:
        contents = {target: content_once(resource, target)
                    for target, resource in versions.items() if resource is not None}
        results = [
            self._verify_one(index, signature, target, targets, versions, contents, provenance)
            for index, (signature, target) in enumerate(zip(signatures, designated, strict=True))]
        signed = {result.target for result in results}
        unsigned = tuple(t for t in _targets(provenance) if t not in signed)
        return ProvenanceVerification(results, unsigned)

    def _verify_one(
        self, index: int, signature: object, target: str | None, targets: list[str],
        versions: dict[str, dict | None], contents: dict[str, Callable[[], tuple[bytes, str]]],
        provenance: dict,
    ) -> SignatureResult:
        if not isinstance(signature, dict) or signature.get("sigFormat") != JOSE:
            return _failed(index, "format", f"sigFormat must be {JOSE}")
        if target is None:
            return _failed(
                index,
                "target",
                "the signature designates none of the Provenance's version-specific targets "
                f"({', '.join(targets) or 'none'})",
            )
        resource = versions[target]
        if resource is None:
            # ETSI EN 319 102-1: signed data not found leaves the signature INDETERMINATE,
            # not failed; it does designate the target.
            missing = Check("content", None, f"{target} is not available to check against",
                            sub_indication="SIGNED_DATA_NOT_FOUND")
            return SignatureResult(index, target, VerificationReport((missing,)))
        result = self._verified(index, signature, target, lambda person, organization: (
            verify_detached(signature["data"], target, contents[target], self.anchors, person,
                            expected_organization_id=organization)))
        if result.report.indication != TOTAL_PASSED:
            return result
        return _claims_checked(result, provenance, signature, resource)

    def verify_document(self, bundle: dict) -> ProvenanceVerification:
        """A document's own signature (`Bundle.signature`) checked against the Bundle."""
        signature = bundle.get("signature")
        def of_bundle(results: list[SignatureResult]) -> ProvenanceVerification:
            return ProvenanceVerification(results, subject="The Bundle",
                                          element="Bundle.signature")

        if signature is None:
            return of_bundle([])
        if not isinstance(signature, dict) or signature.get("sigFormat") != JOSE:
            return of_bundle([_failed(0, "format", f"sigFormat must be {JOSE}")])
        identifier = bundle.get("identifier")
        target = identifier.get("value") if isinstance(identifier, dict) else None
        result = self._verified(0, signature, target, lambda person, org: (
            verify_document(signature.get("data", ""), bundle, self.anchors, person,
                            expected_organization_id=org)))
        return of_bundle([_with_claim(result, _format_claim(signature, DOCUMENT_TARGET_FORMAT))])

    @staticmethod
    def _verified(
        index: int, signature: dict, target: str | None,
        check: Callable[[str | None, str | None], VerificationReport],
    ) -> SignatureResult:
        """`check` (personal ID, organisation tax code) for the identity `Signature.who` names;
        `Signature.when` must then be the signed time."""
        personal_id, organization_id = expected_identity(signature)
        if personal_id is None and organization_id is None:
            return _failed(
                index,
                "identity",
                f"Signature.who carries no identifier of system {CCCD_SYSTEM} (a person) or "
                f"{TAX_CODE_SYSTEM} (an organisation): the certificate cannot be matched to it",
            )
        report = check(personal_id, organization_id)
        return SignatureResult(index, target, _with_when_checked(report, signature.get("when")))


def _claims_checked(result: SignatureResult, provenance: dict, signature: dict,
                    signed: dict) -> SignatureResult:
    """`result` (of `signed`, the target version) failed when the Provenance says what its
    signature does not bind: a signer none of its agents is (who authored it), a format
    other than the one verified, or an activity the target is not (DELETE of a version with
    content, CREATE or UPDATE of a deletion)."""
    agents = [agent.get("who") for agent in provenance.get("agent") or []
              if isinstance(agent, dict)]
    problem = None
    if not any(same_party(signature.get("who"), agent) for agent in agents):
        problem = ("Signature.who names none of the Provenance's agents: the signer is not "
                   "the one the Provenance says acted")
    elif (problem := _format_claim(signature, TARGET_FORMAT)) is not None:
        pass
    elif (activity := data_operation(provenance)) is not None and result.target is not None:
        deleted = signed == deleted_version(result.target.split("/")[0])
        if deleted != (activity == "DELETE"):
            problem = (f"the activity is {activity}, but {result.target} is "
                       f"{'a deletion' if deleted else 'a version with content'}")
    return _with_claim(result, problem)


def _format_claim(signature: dict, signed_format: str) -> str | None:
    """What is wrong with `Signature.targetFormat`, which the signature does not bind, when
    it names a form other than the one verified (none: the verified one is meant)."""
    claimed = signature.get("targetFormat", signed_format)
    if claimed == signed_format:
        return None
    return f"targetFormat {claimed!r} is not the form signed, {signed_format}"


def _with_claim(result: SignatureResult, problem: str | None) -> SignatureResult:
    """`result` failed by a `claims` check saying `problem`, if there is one."""
    if problem is None:
        return result
    checks = (*result.report.checks, Check("claims", False, problem))
    return replace(result, report=replace(result.report, checks=checks))


def data_operation(provenance: dict) -> str | None:
    """CREATE, UPDATE or DELETE (v3-DataOperation), the activities that say what the target
    is; None for another (a verification says nothing of it)."""
    codes = {coding.get("code") for coding in
             (provenance.get("activity") or {}).get("coding") or [] if isinstance(coding, dict)}
    return next((code for code in ("DELETE", "UPDATE", "CREATE") if code in codes), None)


def same_party(signer: object, agent: object) -> bool:
    """Whether two References name one party: what both give agrees (the literal reference,
    and the identifier, its systems compared as aliases of one system), and they share at
    least one of them."""
    if not isinstance(signer, dict) or not isinstance(agent, dict):
        return False
    compared = False
    for ours, theirs in ((signer.get("reference"), agent.get("reference")),
                         (_key(signer.get("identifier")), _key(agent.get("identifier")))):
        if ours is not None and theirs is not None:
            if ours != theirs:
                return False
            compared = True
    return compared


def _key(identifier: object) -> tuple[str, object] | None:
    if not isinstance(identifier, dict) or not isinstance(identifier.get("system"), str):
        return None
    return canonical_system(identifier["system"]), identifier.get("value")


def expected_identity(signature: dict) -> tuple[str | None, str | None]:
    """(personal ID, organisation tax code) the certificate must name, from `Signature.who`
    (a person's CCCD) or, for a seal, the organisation in `who` or `onBehalfOf`."""
    identifier = identifier_of(signature.get("who"))
    if canonical_system(str(identifier.get("system"))) == CCCD_SYSTEM:
        return identifier.get("value"), None
    for party in (signature.get("onBehalfOf"), signature.get("who")):
        identifier = identifier_of(party)
        if identifier.get("system") == TAX_CODE_SYSTEM:
            return None, identifier.get("value")
    return None, None


def identifier_of(reference: object) -> dict:
    """The `identifier` of a Reference (`Signature.who`, `onBehalfOf`); {} when it has none."""
    identifier = reference.get("identifier") if isinstance(reference, dict) else None
    return identifier if isinstance(identifier, dict) else {}


def _targets(provenance: dict) -> list[str]:
    """Each `Provenance.target`: its reference, else its place (`Provenance.target[i]`)."""
    targets = provenance.get("target") or []
    references = (t.get("reference") if isinstance(t, dict) else None for t in targets)
    return [r if isinstance(r, str) else f"Provenance.target[{i}]"
            for i, r in enumerate(references)]


def _version_targets(provenance: dict) -> list[str]:
    return [r for r in _targets(provenance) if TARGET.fullmatch(r)]


def _signed_target(data: object, targets: list[str]) -> str | None:
    """The target the signature's `sigD` names, if it is one of `targets`; with one target
    and an unreadable header, that target (the full check then reports the problem)."""
    try:
        header, _, _ = parse_detached(base64_binary(str(data)).decode("ascii"))
        named = header["sigD"]["pars"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        return targets[0] if len(targets) == 1 else None
    matches = [t for t in targets if isinstance(named, list) and t in named]
    return matches[0] if matches else (targets[0] if len(targets) == 1 else None)


def _with_when_checked(report: VerificationReport, when: object) -> VerificationReport:
    """`report`, its `format` check failed when `Signature.when` is not the signed `sigT`
    (to the second): the Provenance must not tell another signing time than the one signed."""
    signed_at = report.signed_at
    if signed_at is None or report.check("format").passed is not True:
        return report
    try:
        stated = datetime.fromisoformat(str(when)).astimezone(UTC).replace(microsecond=0)
    except ValueError:
        stated = None
    if stated == signed_at:
        return report
    sig_t = signed_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    failed = Check("format", False, f"Signature.when {when!r} is not the signing time sigT {sig_t}")
    checks = tuple(failed if check.name == "format" else check for check in report.checks)
    return replace(report, checks=checks)


def _failed(index: int, check: str, reason: str) -> SignatureResult:
    return SignatureResult(index, None, VerificationReport((Check(check, False, reason),)))


def _signature_parameter(result: SignatureResult) -> dict:
    report = result.report
    parts: list[dict] = [{"name": "index", "valueInteger": result.index}]
    if result.target:
        parts.append({"name": "target", "valueString": result.target})
    parts.append({"name": "indication", "valueCode": report.indication})
    if report.sub_indication:
        parts.append({"name": "subIndication", "valueCode": report.sub_indication})
    if report.signer_personal_id:
        parts.append({"name": "signerPersonalId", "valueString": report.signer_personal_id})
    if report.signed_at:
        parts.append(
            {"name": "signedAt", "valueInstant": report.signed_at.strftime("%Y-%m-%dT%H:%M:%SZ")}
        )
    for check in report.checks:
        status = check.to_dict()["status"]
        parts.append(
            {
                "name": "check",
                "part": [
                    {"name": "name", "valueCode": check.name},
                    {"name": "status", "valueCode": status},
                    {"name": "reason", "valueString": check.reason},
                ],
            }
        )
    return {"name": "signature", "part": parts}
