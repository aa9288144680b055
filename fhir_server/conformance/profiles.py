"""What a resource's `meta.profile` claims (http://hl7.org/fhir/R4/resource.html#profile):
profiles the registry does not hold cannot be checked, so the resource is stored with the
claim as sent and the client is told so in a warning, never refused for it."""

from fhir_server.conformance.definitions import registry
from fhir_server.errors import Issue


def unknown_profiles(resource: dict) -> list[Issue]:
    meta = resource.get("meta")
    profiles = meta.get("profile") if isinstance(meta, dict) else None
    if not isinstance(profiles, list):
        return []
    kind = resource.get("resourceType")
    return [
        Issue(
            f"Profile {url} is not known to this server: the {kind} was checked against the "
            "base R4 definition only, and its meta.profile claim is kept as sent",
            code="not-supported",
            severity="warning",
            expression=(f"{kind}.meta.profile[{index}]",),
        )
        for index, url in enumerate(profiles)
        if isinstance(url, str) and registry().structure_definition(url) is None
    ]
