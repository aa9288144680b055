"""What a resource's `meta.profile` claims (http://hl7.org/fhir/R4/resource.html#profile):
profiles the registry does not hold cannot be checked, so the resource is stored with the
claim as sent and the client is told so in a warning, never refused for it."""

from fhir_server.conformance.definitions import registry
from fhir_server.conformance.messages import issue
from fhir_server.errors import Issue


def declared_profiles(resource: dict) -> tuple[str, ...]:
    """The `meta.profile` canonicals of a resource that the registry holds."""
    return tuple(url for url in _claims(resource)
                 if isinstance(url, str) and registry().structure_definition(url) is not None)


def _claims(resource: dict) -> list:
    meta = resource.get("meta")
    profiles = meta.get("profile") if isinstance(meta, dict) else None
    return profiles if isinstance(profiles, list) else []


def unknown_profiles(resource: dict, location: str | None = None) -> list[Issue]:
    """A warning for each claimed profile the registry does not hold, and for each claim of
    a version (`url|1.0`) checked against another one, the version held; `location`, where
    the resource is (a Bundle's entry), if not at the root."""
    kind = resource.get("resourceType")
    where = location or kind
    issues = []
    for index, url in enumerate(_claims(resource)):
        if not isinstance(url, str):
            continue
        at = f"{where}.meta.profile[{index}]"
        if registry().structure_definition(url) is None:
            issues.append(issue("profile-claim-unknown", "not-supported", at,
                                severity="warning", target=url, type=kind))
        elif (held := other_version_held(url)) is not None:
            issues.append(issue("profile-claim-other-version", "not-supported", at,
                                severity="warning", target=url, type=kind, held=held))
    return issues


def other_version_held(url: str) -> str | None:
    """For a canonical naming a version (`url|2.0.0`) that the registry does not hold but
    holds another version of: that version (what the registry resolves the URL to)."""
    _, bar, version = url.partition("|")
    definition = registry().structure_definition(url) if bar else None
    if definition is None or definition.get("version") == version:
        return None
    return str(definition.get("version", "(none)"))
