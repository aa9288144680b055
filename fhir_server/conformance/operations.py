"""What describes an operation this server offers (http://hl7.org/fhir/R4/operations.html):
its name, levels, types, the interaction whose scopes it needs and its OperationDefinition.
Routing, authorisation, audit and the CapabilityStatement all read these descriptors."""

from dataclasses import dataclass
from functools import cache

from fhir_server.conformance.definitions import registry
from fhir_server.conformance.packages import package_resources

# The package of this server's own OperationDefinitions (`profiles/packages/`).
OWN_OPERATIONS = "fhir-exchange-server.operations"

SYSTEM, TYPE, INSTANCE = "system", "type", "instance"
EVERY_TYPE = ("*",)  # an operation defined on every resource type
_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class OperationDescriptor:
    name: str  # without the `$`
    definition: str  # canonical URL of its OperationDefinition
    level: str  # SYSTEM, TYPE or INSTANCE
    resource_types: tuple[str, ...] = ()  # the types it is defined on (not at system level)
    # The interaction whose scopes it needs on the type in the path (system level: on `*`).
    interaction: str = "read"
    methods: tuple[str, ...] = ("GET", "POST")
    audit_subtype: str = "operation"
    # False where the operation answers an unacceptable `Accept` itself (the bulk kick-off's
    # 400, IG v2) instead of the usual 406.
    negotiated: bool = True
    excluded_types: tuple[str, ...] = ()  # of an operation on EVERY_TYPE, those it is not on
    # Types the server does not store that it is invoked on all the same (`Parameters/
    # $validate`: checking an operation's body).
    unstored_types: tuple[str, ...] = ()
    # Whether a token's launch patient may invoke it on their own Patient with `patient/`
    # scopes (it then reads their compartment only).
    launch_patient: bool = False
    # Whether it may be invoked on one version too: `[type]/[id]/_history/[vid]/$name`.
    versions: bool = False
    # Whether its handler refuses unknown parameters itself under `Prefer: handling=strict`
    # (those taking search parameters, or parameters of this server's own); else the router
    # does, by the inputs its OperationDefinition declares.
    checks_own_parameters: bool = False
    # Whether a GET of it changes nothing, so that a HEAD may be answered as one (a bulk
    # export kick-off starts a job: a HEAD, a safe method, must not).
    safe: bool = True

    @property
    def allowed(self) -> tuple[str, ...]:
        """The methods its URL takes: `methods`, and HEAD where a GET is safe to answer so
        (http.html#head); what a 405's `Allow` names (RFC 9110 §10.2.1)."""
        head = ("HEAD",) if "GET" in self.methods and self.safe else ()
        return tuple(sorted((*self.methods, *head), key=_METHOD_ORDER.index))

    def applies_to(self, level: str, resource_type: str | None) -> bool:
        return self.level == level and (level == SYSTEM or self.defined_on(resource_type))

    def defined_on(self, resource_type: str | None) -> bool:
        return resource_type in self.resource_types or (
            self.resource_types == EVERY_TYPE and resource_type not in self.excluded_types)


def capability_operations(
    operations: tuple[OperationDescriptor, ...], resource_type: str | None
) -> list[dict]:
    """`CapabilityStatement.rest[.resource].operation` entries: system-level operations when
    `resource_type` is None, else those defined on that type (at type or instance level)."""
    entries: dict[str, dict] = {}
    for operation in operations:
        if (resource_type is None) == (operation.level == SYSTEM) and (
            resource_type is None or operation.defined_on(resource_type)
        ):
            entries.setdefault(operation.name, {"name": operation.name,
                                                "definition": operation.definition})
    return list(entries.values())


@cache  # keyed by definitions only
def input_names(definition: str) -> frozenset[str] | None:
    """The names of the input parameters an OperationDefinition declares (R4's, or one of
    this server's own); None for a definition not held."""
    found = _definition(definition)
    if found is None:
        return None
    return frozenset(parameter["name"] for parameter in _inputs(found))


def _definition(definition: str) -> dict | None:
    return registry().resolve(definition) or _own_definitions().get(definition)


def _inputs(found: dict) -> list[dict]:
    return [parameter for parameter in found.get("parameter") or []
            if parameter.get("use") == "in" and isinstance(parameter.get("name"), str)]


@cache
def _own_definitions() -> dict[str, dict]:
    """The OperationDefinitions of this server's own operations, by canonical URL (its
    package's definitions that the registry does not hold: it holds R4's)."""
    return {resource["url"]: resource
            for package in registry().packages if package.name == OWN_OPERATIONS
            for resource in package_resources(package.location)
            if resource.get("resourceType") == "OperationDefinition"}


@cache  # keyed by definitions only
def primitive_inputs(definition: str) -> dict[str, str]:
    """name → FHIR primitive type of the input parameters an OperationDefinition declares
    (`start`: `date`, `mode`: `code`); none for a definition not held."""
    return {parameter["name"]: parameter["type"]
            for parameter in _inputs(_definition(definition) or {})
            if isinstance(parameter.get("type"), str) and parameter["type"][:1].islower()}


@cache  # keyed by definitions only
def single_inputs(definition: str) -> frozenset[str]:
    """The input parameters an OperationDefinition allows once (`max` 1: `start`, `count`)."""
    return frozenset(parameter["name"] for parameter in _inputs(_definition(definition) or {})
                     if parameter.get("max") == "1")


@cache  # keyed by definitions only
def resource_inputs(definition: str) -> dict[str, str]:
    """name → resource type of the input parameters an OperationDefinition declares as a
    resource (`valueSet`: `ValueSet`, `$validate`'s `resource`: `Resource`), which come as
    `parameter.resource`, never as a value."""
    types = registry().resource_types
    return {parameter["name"]: parameter["type"]
            for parameter in _inputs(_definition(definition) or {})
            if parameter.get("type") == "Resource" or parameter.get("type") in types}
