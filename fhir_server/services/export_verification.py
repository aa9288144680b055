"""Offline verification of a Bulk Data export: every Provenance signature in the NDJSON files
checked against the resource versions in the same files, and every resource covered.

Nothing here needs the server or its database: a receiving hospital runs it on the files it
downloaded, with the trust anchors it chooses (`fhir-server verify`).
"""

from dataclasses import dataclass, field
from pathlib import Path

from fhir_server.services.loading import NDJSON_SUFFIXES, read_ndjson
from fhir_server.services.verification import SignatureVerifier, deleted_version, is_deletion
from signing.provenance import TARGET
from signing.report import TOTAL_PASSED


@dataclass
class ExportVerification:
    resources: int = 0
    signatures: int = 0
    passed: int = 0
    # Provenances whose targets are all versions the export does not hold (older versions).
    skipped: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and self.signatures > 0


def ndjson_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.suffix in NDJSON_SUFFIXES)


async def verify_export(directory: Path, verifier: SignatureVerifier) -> ExportVerification:
    """Two passes, so only the Provenances and the resources they target are held in memory."""
    outcome = ExportVerification()
    provenances = [
        resource
        for path in ndjson_files(directory)
        for _, resource in read_ndjson(path)
        if resource.get("resourceType") == "Provenance"
    ]
    targeted = {
        target.get("reference")
        for provenance in provenances
        for target in provenance.get("target") or []
        if isinstance(target, dict)
    }
    exported: dict[str, dict] = {}
    for path in ndjson_files(directory):
        for number, resource in read_ndjson(path):
            if resource.get("resourceType") in ("Provenance", "Bundle"):
                continue  # Bundles: the `deleted` file of a _since export
            outcome.resources += 1
            reference = _versioned(resource)
            if reference is None:
                outcome.failures.append(
                    f"{path.name}:{number}: a resource without id and versionId"
                )
            elif reference in targeted:
                exported[reference] = resource
            else:
                outcome.failures.append(f"{reference}: no Provenance in the export signs it")

    async def load(target: str) -> dict | None:
        return exported.get(target)

    covered: set[str] = set()
    for provenance in provenances:
        targets = [t.get("reference") for t in provenance.get("target") or []]
        if not any(t in exported for t in targets) and not is_deletion(provenance):
            outcome.skipped += 1
            continue
        verification = await verifier.verify(provenance, _with_deletions(provenance, load))
        name = f"Provenance/{provenance.get('id')}"
        for result in verification.results:
            outcome.signatures += 1
            if result.report.indication == TOTAL_PASSED:
                outcome.passed += 1
                covered.add(result.target)
        outcome.failures += [f"{name} {reason}" for reason in verification.reasons()]
    outcome.failures += [
        f"{reference}: no signature in the export verifies it"
        for reference in exported
        if reference not in covered
    ]
    return outcome


def _versioned(resource: dict) -> str | None:
    version = (resource.get("meta") or {}).get("versionId")
    reference = f"{resource.get('resourceType')}/{resource.get('id')}/_history/{version}"
    return reference if TARGET.fullmatch(reference) else None


def _with_deletions(provenance: dict, load):
    """A deletion's target is not in the files: its signature covers no content."""
    if not is_deletion(provenance):
        return load

    async def load_deleted(target: str) -> dict | None:
        return deleted_version(target.split("/")[0])

    return load_deleted
