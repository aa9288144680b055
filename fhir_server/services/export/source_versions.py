"""Which Provenances of a reloaded Bulk Data export cannot be stored in the copy: an export
holds each resource's current version alone, which the copy stores as its version 1, so the
signature of another version number (`Patient/1/_history/3`), or of version 1 of a resource
updated since at the source (whose content the copy's version 1 is not), cannot verify
there. The resources themselves load, sealed anew by the loading server."""

import re

# A version-specific reference to a resource of this server: `Patient/1/_history/3`.
_VERSIONED = re.compile(r"(?P<resource>[A-Za-z]+/[A-Za-z0-9.-]{1,64})/_history/(?P<version>[^/]+)")

RENUMBERED = ("not loaded: it signs a version that the export holds under another number "
              "(an export holds current versions alone, which the copy numbers from 1); "
              "what it signs loads, sealed anew")


class SourceVersions:
    """The resources of an export that were updated at their source (`meta.versionId` other
    than 1), as the export's files pass."""

    def __init__(self) -> None:
        self._updated: set[str] = set()

    def note(self, resource: dict) -> None:
        meta = resource.get("meta")
        version = meta.get("versionId") if isinstance(meta, dict) else None
        if version is not None and version != "1":
            self._updated.add(f"{resource['resourceType']}/{resource.get('id')}")

    def renumbered(self, resource: dict) -> bool:
        """Whether `resource` is a Provenance signing a version the copy holds under
        another number."""
        if resource.get("resourceType") != "Provenance":
            return False
        targets = resource.get("target")
        for target in targets if isinstance(targets, list) else []:
            reference = target.get("reference") if isinstance(target, dict) else None
            named = _VERSIONED.fullmatch(reference) if isinstance(reference, str) else None
            if named and (named["version"] != "1" or named["resource"] in self._updated):
                return True
        return False
