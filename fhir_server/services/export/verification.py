"""Offline verification of exported data: every Provenance signature checked against the
resource versions beside it, and every resource covered by a signature that passes. The data
is a Bulk Data export directory (NDJSON files) or Bundles saved from the server, such as the
pages of `Patient/{id}/$everything?includeProvenance=true`.

Nothing here needs the server or its database: a receiving hospital runs it on the files it
downloaded, with the trust anchors it chooses (`fhir-server verify`).
"""

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from fhir_server.services.data_files import data_files, manifests, read_resources
from fhir_server.services.export.attachments import stored_attachment_urls
from fhir_server.services.verification import (
    JOSE,
    ProvenanceVerification,
    SignatureVerifier,
    VersionLoader,
)
from signing.provenance import TARGET
from signing.report import TOTAL_PASSED

#: A fresh pass over the data: (location, resource) of each resource.
Resources = Callable[[], Iterator[tuple[str, dict]]]
# A manifest's `request`, the kick-off URL: [base]/$export, [base]/Patient/$export or
# [base]/Group/[id]/$export, and its parameters.
_KICK_OFF = re.compile(r"(?P<base>.+?)(?:/Patient|/Group/[^/?#]+)?/\$export(?:\?.*)?", re.DOTALL)


@dataclass
class ExportVerification:
    resources: int = 0
    signatures: int = 0
    passed: int = 0
    # Provenances whose targets are all versions the export does not hold (older versions).
    skipped: int = 0
    # Provenances without a signature: they vouch for nothing, so they fail nothing either
    # (anyone allowed to write Provenance can add one); coverage still needs a signature.
    unsigned: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and self.signatures > 0


async def verify_files(paths: Iterable[Path], verifier: SignatureVerifier) -> ExportVerification:
    """The NDJSON files and JSON Bundles of `paths` (files, or directories holding them),
    with the base URLs of the Bulk Data manifests among them."""
    paths = list(paths)
    files = data_files(paths)
    return await verify_resources(lambda: read_resources(files), verifier,
                                  export_bases(manifests(paths)))


def _manifest_bodies(files: Iterable[Path]) -> Iterator[tuple[Path, dict]]:
    """(path, JSON object) of each manifest that is one; another names nothing."""
    for path in files:
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, RecursionError):  # nested deeper than Python reads: none either
            continue
        if isinstance(body, dict):
            yield path, body


def export_bases(files: Iterable[Path]) -> list[str]:
    """The base URLs the exports of these manifests were requested at (their `request`),
    the base their Attachment URLs were made absolute with (attachments.py)."""
    bases = []
    for _, body in _manifest_bodies(files):
        request = body.get("request")
        if isinstance(request, str) and (kick_off := _KICK_OFF.fullmatch(request)):
            bases.append(kick_off["base"])
    return bases


def section_files(files: Iterable[Path], section: str) -> list[Path]:
    """The files of a section of these manifests: `deleted` (a `_since` export's deletions:
    each line a transaction Bundle of DELETE entries), `error` (OperationOutcomes about the
    export; export.html#bulk-data-output-file-request), beside their manifest under the name
    their URL ends with, as bulk clients save them."""
    found = []
    for path, body in _manifest_bodies(files):
        items = body.get(section)
        for item in items if isinstance(items, list) else []:
            url = item.get("url") if isinstance(item, dict) else None
            if isinstance(url, str) and (name := url.rsplit("/", 1)[-1].split("?")[0]):
                found.append(path.parent / name)
    return found


async def verify_resources(read: Resources, verifier: SignatureVerifier,
                           bases: Iterable[str] = ()) -> ExportVerification:
    """Two passes, so only the Provenances and the resources they target are held in memory.
    A version whose Attachment URLs an export of one of `bases` made absolute is also
    checked as stored, which its signature covers."""
    outcome = ExportVerification()
    provenances = _distinct(r for _, r in read() if r.get("resourceType") == "Provenance")
    targeted = {
        target.get("reference")
        for provenance in provenances
        for target in provenance.get("target") or []
        if isinstance(target, dict)
    }
    versions = _Versions(list(bases))
    exported = versions.exported
    for where, resource in read():
        if resource.get("resourceType") == "Provenance" or _deletions(resource):
            continue
        reference = _versioned(resource)
        if reference in exported:  # the same version twice, e.g. saved pages that overlap
            if resource != exported[reference]:
                outcome.failures.append(f"{reference}: {where} differs from another copy")
            continue
        outcome.resources += 1
        outcome.failures += _document_failures(resource, reference or where, verifier)
        if reference is None:
            outcome.failures.append(f"{where}: a resource without id and versionId")
        elif reference in targeted:
            versions.add(reference, resource)
        else:
            outcome.failures.append(f"{reference}: no Provenance in the export signs it")

    covered: set[str] = set()
    for provenance in provenances:
        if not provenance.get("signature"):
            outcome.unsigned += 1
            continue
        targets = [t.get("reference") for t in provenance.get("target") or []]
        if not any(t in exported for t in targets):
            outcome.skipped += 1
            continue
        verification = await versions.verify(verifier, provenance, targets)
        name = f"Provenance/{provenance.get('id')}"
        # A signature of a version the export does not hold (an older one, beside the
        # current one in a multi-target Provenance) is skipped, as a Provenance of older
        # versions only is. So is a deletion's: nothing in the files shows the deletion, and
        # its signed bytes (an empty resource's) and header are those of a creation of an
        # empty resource relabelled DELETE, which $verify-signature calls INDETERMINATE.
        absent = {result.index for result in verification.results
                  if result.target is not None and result.target not in exported}
        for result in verification.results:
            if result.index in absent:
                continue
            outcome.signatures += 1
            if result.report.indication == TOTAL_PASSED and result.target is not None:
                outcome.passed += 1
                covered.add(result.target)
        outcome.failures += [
            f"{name} signature[{index}] {reason}" if index is not None else f"{name} {reason}"
            for index, reason in verification.failures() if index not in absent]
    outcome.failures += [
        f"{reference}: no signature in the export verifies it"
        for reference in exported
        if reference not in covered
    ]
    return outcome


@dataclass
class _Versions:
    """The versions the export holds, by `Type/id/_history/n`: as exported, and as stored
    where an export of one of `bases` made their Attachment URLs absolute."""

    bases: list[str]
    exported: dict[str, dict] = field(default_factory=dict)
    stored: dict[str, dict] = field(default_factory=dict)

    def add(self, reference: str, resource: dict) -> None:
        self.exported[reference] = resource
        stored = stored_attachment_urls(resource, self.bases)
        if stored is not resource:
            self.stored[reference] = stored

    async def verify(self, verifier: SignatureVerifier, provenance: dict,
                     targets: list) -> ProvenanceVerification:
        """The Provenance's signatures against the versions as exported, each one that fails
        then against its version as stored, if an export changed it (an Attachment URL
        already absolute under the base reads back alike, so both are tried)."""
        verification = await verifier.verify(provenance, self._loader({}))
        if verification.indication == TOTAL_PASSED or not any(t in self.stored for t in targets):
            return verification
        again = await verifier.verify(provenance, self._loader(self.stored))
        return replace(verification, results=[
            second if first.report.indication != TOTAL_PASSED
            and second.report.indication == TOTAL_PASSED else first
            for first, second in zip(verification.results, again.results, strict=True)])

    def _loader(self, preferred: dict[str, dict]) -> VersionLoader:
        async def load(target: str) -> dict | None:
            return preferred.get(target, self.exported.get(target))

        return load


def _document_failures(resource: dict, name: str, verifier: SignatureVerifier) -> list[str]:
    """A stored Bundle's own JOSE signature (a document's seal) must pass as well: its
    Provenance vouches that the Bundle was stored as it is, not that what it says it is."""
    signature = resource.get("signature") if resource.get("resourceType") == "Bundle" else None
    if not isinstance(signature, dict) or signature.get("sigFormat") != JOSE:
        return []
    verification = verifier.verify_document(resource)
    if verification.indication == TOTAL_PASSED:
        return []
    return [f"{name}: Bundle.signature {reason}" for reason in verification.reasons()]


def _deletions(resource: dict) -> bool:
    """A Bundle of a `_since` export's `deleted` file: a transaction of DELETE requests only
    (Bulk Data: "request.method DELETE"), no record of its own. Any other Bundle (a stored
    document or collection) is a resource like the rest, checked against its signature."""
    entries = resource.get("entry") or []
    return (resource.get("resourceType") == "Bundle" and resource.get("type") == "transaction"
            and bool(entries) and all(
                isinstance(entry, dict) and "resource" not in entry
                and (entry.get("request") or {}).get("method") == "DELETE"
                for entry in entries))


def _distinct(provenances: Iterable[dict]) -> list[dict]:
    """Each Provenance once, also when saved pages overlap (copies that differ are kept)."""
    by_id: dict[object, list[dict]] = {}
    for provenance in provenances:
        copies = by_id.setdefault(provenance.get("id"), [])
        if provenance not in copies:
            copies.append(provenance)
    return [provenance for copies in by_id.values() for provenance in copies]


def _versioned(resource: dict) -> str | None:
    version = (resource.get("meta") or {}).get("versionId")
    reference = f"{resource.get('resourceType')}/{resource.get('id')}/_history/{version}"
    return reference if TARGET.fullmatch(reference) else None
