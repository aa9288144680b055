"""The TerminologyCapabilities of `GET /metadata?mode=terminology`
(http://hl7.org/fhir/R4/http.html#capabilities,
http://hl7.org/fhir/R4/terminologycapabilities.html): the code systems the terminology
operations answer from, with their versions (the registry's and those stored through the
API), and what `$expand`, `$validate-code` and `$translate` take. Terminology servers'
clients (the FHIR validator's `-tx`) read it first."""

from collections.abc import Iterable

from fhir_server.conformance.definitions import registry

_EXPAND = "http://hl7.org/fhir/OperationDefinition/ValueSet-expand"
# Of the inputs of R4's $expand, those `services/terminology.py` does not act on: no
# expansion context, flat expansions only (`hierarchical: false`), no post-coordinated codes.
# It takes every other one.
_EXPAND_NOT_TAKEN = frozenset({"context", "contextDirection", "excludeNested",
                               "excludePostCoordinated"})
# Content of which nothing can be answered: codes only named, or a supplement's.
_NO_CODES = ("not-present", "supplement")


def answers_from(code_system: dict) -> bool:
    """Whether the terminology operations answer from a CodeSystem's codes."""
    return isinstance(code_system.get("url"), str) and code_system.get("content") not in _NO_CODES


def _code_systems(stored: Iterable[tuple[str, str | None]]) -> list[dict]:
    """Each code system URL once, its versions in the order the registry holds them, then
    those stored through the API (url, version)."""
    versions: dict[str, list[str]] = {}
    held = [(r["url"], r.get("version")) for r in registry().all("CodeSystem") if answers_from(r)]
    for url, version in [*held, *stored]:
        listed = versions.setdefault(url, [])
        if isinstance(version, str) and version not in listed:
            listed.append(version)
    return [{"uri": url, **({"version": [{"code": v} for v in listed]} if listed else {})}
            for url, listed in versions.items()]


def _expansion_parameters() -> list[dict]:
    """The $expand parameters taken: R4's inputs, less those not acted on."""
    definition = registry().resolve(_EXPAND) or {}
    return [{"name": parameter["name"]} for parameter in definition.get("parameter") or ()
            if parameter.get("use") == "in" and parameter.get("name") not in _EXPAND_NOT_TAKEN]


def terminology_capabilities(base: str, software_version: str, published: str,
                             stored: Iterable[tuple[str, str | None]] = ()) -> dict:
    """The statement; `stored`: (url, version) of the CodeSystems stored through the API
    that the operations answer from."""
    return {
        "resourceType": "TerminologyCapabilities",
        "status": "active",
        "date": published,
        "publisher": "FHIR exchange server",
        "kind": "instance",
        "software": {"name": "fhir-exchange-server", "version": software_version},
        "implementation": {"description": "FHIR R4 health data exchange server", "url": base},
        "codeSystem": _code_systems(stored),
        "expansion": {"hierarchical": False, "paging": True,
                      "parameter": _expansion_parameters()},
        "validateCode": {"translations": False},
        "translation": {"needsMap": False},
    }
