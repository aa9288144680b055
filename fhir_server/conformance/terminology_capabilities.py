"""The TerminologyCapabilities of `GET /metadata?mode=terminology`
(http://hl7.org/fhir/R4/http.html#capabilities,
http://hl7.org/fhir/R4/terminologycapabilities.html): the code systems the terminology
operations answer from, with their versions, and what `$expand`, `$validate-code` and
`$translate` take. Terminology servers' clients (the FHIR validator's `-tx`) read it first."""

from fhir_server.conformance.definitions import registry

# The $expand parameters `services/terminology.py` reads.
_EXPANSION_PARAMETERS = ("url", "valueSet", "valueSetVersion", "filter", "count", "offset",
                         "activeOnly", "includeDesignations", "displayLanguage",
                         "exclude-system", "system-version", "check-system-version",
                         "force-system-version")


def _code_systems() -> list[dict]:
    """Each code system URL once, its versions in the order the registry holds them; the
    ones only named (content not-present) are left out: nothing can be answered from them."""
    versions: dict[str, list[str]] = {}
    for resource in registry().all("CodeSystem"):
        url = resource.get("url")
        if isinstance(url, str) and resource.get("content") not in ("not-present",
                                                                    "supplement"):
            held = versions.setdefault(url, [])
            version = resource.get("version")
            if isinstance(version, str) and version not in held:
                held.append(version)
    return [{"uri": url, **({"version": [{"code": v} for v in held]} if held else {})}
            for url, held in versions.items()]


def terminology_capabilities(base: str, software_version: str, published: str) -> dict:
    return {
        "resourceType": "TerminologyCapabilities",
        "status": "active",
        "date": published,
        "publisher": "FHIR exchange server",
        "kind": "instance",
        "software": {"name": "fhir-exchange-server", "version": software_version},
        "implementation": {"description": "FHIR R4 health data exchange server", "url": base},
        "codeSystem": _code_systems(),
        "expansion": {"hierarchical": False, "paging": True, "parameter": [
            {"name": name} for name in _EXPANSION_PARAMETERS]},
        "validateCode": {"translations": False},
        "translation": {"needsMap": False},
    }
