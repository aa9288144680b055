"""SMART App Launch 2.x clinical-data scopes and the permissions they grant.

Scope syntax (http://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html):
`<context>/<resource type or *>.<permissions>` where the context is `patient`, `user` or
`system` (http://hl7.org/fhir/smart-app-launch/backend-services.html) and the permissions are
either v2 letters, a subset of `cruds` in that order, or the v1 words `read` (= `rs`),
`write` (= `cud`) and `*` (= `cruds`).

A granular scope (`patient/Observation.rs?category=laboratory`) grants only the resources its
search matches; it never `allows` a type outright (`Permissions.queries`). Non-resource
scopes (`openid`, `fhirUser`, `launch`, `offline_access`, ...) and garbled resource scopes
are ignored.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl

#: The v2 permission letters, in the order the v2 syntax requires.
PERMISSIONS = "cruds"

#: Which permission letter each FHIR interaction needs
#: (http://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#scopes-for-requesting-fhir-resources).
INTERACTION_PERMISSION = {
    "read": "r",
    "vread": "r",
    "history-instance": "r",
    "search-type": "s",
    "history-type": "s",
    "history-system": "s",
    "create": "c",
    "update": "u",
    "patch": "u",
    "delete": "d",
}

#: Interactions answered with the stored resource as they changed it rather than with what
#: the client sent (a patch, `$meta-add`): they need read as well, or an update-only token
#: would read any record by an empty patch (and test guessed values with JSON Patch `test`).
ANSWERED_WITH_STORED_CONTENT = frozenset({"patch"})

_V1_PERMISSIONS = {"read": "rs", "write": "cud", "*": "cruds"}
_V1_WORDS = {frozenset(letters): word for word, letters in _V1_PERMISSIONS.items()}

_RESOURCE_SCOPE = re.compile(
    r"(?P<context>patient|user|system)/(?P<type>\*|[A-Z][A-Za-z]*)"
    r"\.(?P<permissions>read|write|\*|c?r?u?d?s?)(?:\?(?P<query>\S+))?"
)

#: Contexts whose scopes grant access to every resource of a type. `patient/` scopes grant
#: only what is in the compartment of the token's `patient`: `patient_allows`.
_GRANTING_CONTEXTS = ("user", "system")

#: Types no `patient/` scope grants, `patient/*` or by name, though the patient's compartment
#: holds those naming them: the audit trail, whose events name who acted (their personal
#: IDs), the queries they ran and whatever else the request touched (every resource of a
#: transaction, another patient's too); and Group, whose member list names the other
#: patients of a cohort (a Patient or Group export never hands it over either). They are
#: read with `user/` or `system/` scopes.
NOT_GRANTED_TO_PATIENTS = frozenset({"AuditEvent", "Group"})


@dataclass(frozen=True)
class Scope:
    """One resource scope, e.g. `user/Patient.rs`."""

    context: str
    resource_type: str
    permissions: frozenset[str]
    # A granular scope's search, as written (`category=laboratory`): it grants the resources
    # that match it only.
    query: str = ""

    def text(self, v1: bool = False) -> str:
        """The scope in v2 syntax, or in v1 syntax when asked and its permissions are one v1
        word (`read`, `write`, `*`): v1 has no word for e.g. `r` alone."""
        letters = "".join(p for p in PERMISSIONS if p in self.permissions)
        if v1:
            letters = _V1_WORDS.get(self.permissions, letters)
        search = f"?{self.query}" if self.query else ""
        return f"{self.context}/{self.resource_type}.{letters}{search}"


def parse_scope(token: str) -> Scope | None:
    """One resource scope, v1 or v2 syntax; None for any other token."""
    match = _RESOURCE_SCOPE.fullmatch(token)
    if match is None or not match["permissions"]:
        return None
    letters = _V1_PERMISSIONS.get(match["permissions"], match["permissions"])
    return Scope(match["context"], match["type"], frozenset(letters), match["query"] or "")


def parse_scopes(text: str) -> tuple[Scope, ...]:
    """The resource scopes of a space-separated scope string, in order, without duplicates;
    every other scope is ignored. Never raises."""
    scopes = (parse_scope(token) for token in text.split())
    return tuple(dict.fromkeys(scope for scope in scopes if scope is not None))


def _check_permission(permission: str) -> None:
    if len(permission) != 1 or permission not in PERMISSIONS:
        raise ValueError(f"permission must be one letter of {PERMISSIONS!r}, not {permission!r}")


def _granted(grants: dict[str, frozenset[str]], resource_type: str, permission: str) -> bool:
    """Whether `grants` (type or `*` → letters) hold `permission` on `resource_type`."""
    _check_permission(permission)
    return any(permission in grants.get(name, ()) for name in (resource_type, "*"))


class Permissions:
    """What a set of `user/` and `system/` scopes allows, regardless of the context, and
    apart from it what `patient/` scopes allow within a patient's compartment."""

    def __init__(self, scopes: Iterable[Scope] = ()):
        grants: dict[tuple[str, str], frozenset[str]] = {}
        patient: dict[str, frozenset[str]] = {}
        # (context, type, query) → letters: what granular scopes grant where their search
        # matches.
        granular: dict[tuple[str, str, str], frozenset[str]] = {}
        for scope in scopes:
            if scope.query and scope.permissions:
                searched = (scope.context, scope.resource_type, scope.query)
                granular[searched] = granular.get(searched, frozenset()) | scope.permissions
            elif scope.context in _GRANTING_CONTEXTS and scope.permissions:
                key = (scope.context, scope.resource_type)
                grants[key] = grants.get(key, frozenset()) | scope.permissions
            elif scope.context == "patient" and scope.permissions:
                patient[scope.resource_type] = (
                    patient.get(scope.resource_type, frozenset()) | scope.permissions)
        self._patient = patient
        self._grants = grants
        self._granular = granular
        # type → the letters `within_compartment` granted that no scope grants outright
        self._compartment_only: dict[str, frozenset[str]] = {}
        self._by_type: dict[str, frozenset[str]] = {}
        for (_, resource_type), letters in grants.items():
            self._by_type[resource_type] = self._by_type.get(resource_type, frozenset()) | letters

    @classmethod
    def from_text(cls, text: str) -> "Permissions":
        """The permissions of a space-separated scope string (e.g. a token's `scope` claim)."""
        return cls(parse_scopes(text))

    def allows(self, resource_type: str, permission: str) -> bool:
        """Whether `permission` (one letter of `cruds`) is granted on `resource_type`."""
        return _granted(self._by_type, resource_type, permission)

    @property
    def has_patient_grants(self) -> bool:
        return bool(self._patient) or any(key[0] == "patient" for key in self._granular)

    def patient_allows(self, resource_type: str, permission: str) -> bool:
        """Whether `patient/` scopes grant `permission` on `resource_type` (within the
        compartment of the token's patient only); never on `NOT_GRANTED_TO_PATIENTS`."""
        return (resource_type not in NOT_GRANTED_TO_PATIENTS
                and _granted(self._patient, resource_type, permission))

    def queries(self, resource_type: str, permission: str, patient: bool = False
                ) -> tuple[str, ...]:
        """The searches of the granular scopes that grant `permission` on `resource_type`
        (`category=laboratory`): a resource one of them matches is granted. Those of
        `user/` and `system/` scopes, or with `patient` those of `patient/` scopes (within
        the compartment of the token's patient)."""
        _check_permission(permission)
        if patient and resource_type in NOT_GRANTED_TO_PATIENTS:
            return ()
        contexts = ("patient",) if patient else _GRANTING_CONTEXTS
        return tuple(query for (context, name, query), letters in self._granular.items()
                     if context in contexts and name in (resource_type, "*")
                     and permission in letters)

    def queries_anywhere(self, resource_type: str, permission: str) -> tuple[str, ...]:
        """The searches of `user/` and `system/` granular scopes that grant `permission` on
        `resource_type` beyond any compartment: none when `patient/` scopes grant it on the
        type too, which keeps those searches to the compartment of the token's patient."""
        if self.patient_allows(resource_type, permission) or self.queries(
                resource_type, permission, patient=True):
            return ()
        return self.queries(resource_type, permission)

    def within_compartment(self, member_types: Iterable[str]) -> "Permissions":
        """These permissions with what `patient/` scopes grant on `member_types` granted
        outright: for a request that reaches nothing but the launch patient's compartment."""
        promoted = [
            Scope("user", resource_type, letters)
            for resource_type in member_types
            if resource_type not in NOT_GRANTED_TO_PATIENTS
            and (letters := self._patient.get(resource_type, frozenset())
                | self._patient.get("*", frozenset()))
        ]
        within = Permissions([*self.scopes(), *promoted])
        within._compartment_only = {
            scope.resource_type: frozenset(p for p in scope.permissions
                                           if not self.allows(scope.resource_type, p))
            for scope in promoted}
        return within

    def allows_outside_compartment(self, resource_type: str, permission: str) -> bool:
        """Whether `permission` on `resource_type` holds beyond the compartment: not granted
        by `within_compartment` alone (a resource of a compartment's type that is in no
        patient's compartment is not the launch patient's to read)."""
        return (self.allows(resource_type, permission)
                and permission not in self._compartment_only.get(resource_type, ()))

    def allowed_types(self, permission: str, candidates: Iterable[str]) -> list[str]:
        """The candidate resource types on which `permission` is granted, in order."""
        return [name for name in candidates if self.allows(name, permission)]

    def scopes(self) -> tuple[Scope, ...]:
        """The `user/` and `system/` scopes granted, merged per context, resource type (and
        search), leaving out a scope when its context's scopes without a search already grant
        all of it on its type, or on every type."""
        def covered(context: str, resource_type: str) -> frozenset[str]:
            return self._grants.get((context, "*"), frozenset()) | (
                self._grants.get((context, resource_type), frozenset()))

        return tuple(
            Scope(context, resource_type, letters)
            for (context, resource_type), letters in self._grants.items()
            if resource_type == "*" or not letters <= self._grants.get((context, "*"), frozenset())
        ) + tuple(
            Scope(context, resource_type, letters, query)
            for (context, resource_type, query), letters in self._granular.items()
            if context in _GRANTING_CONTEXTS and not letters <= covered(context, resource_type)
        )

    def text(self) -> str:
        """The normalised v2 scope string, e.g. `system/*.rs system/Patient.cruds`."""
        return " ".join(scope.text() for scope in self.scopes())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Permissions) and self.scopes() == other.scopes()

    def __hash__(self) -> int:
        return hash(self.scopes())

    def __repr__(self) -> str:
        return f"Permissions({self.text()!r})"


#: Every permission on every type: for calls made by the server itself, not for a request.
ALL = Permissions.from_text("system/*.cruds")


def _criteria(query: str) -> frozenset[tuple[str, str]]:
    """A scope's search as its criteria, however encoded, ordered or repeated."""
    return frozenset(parse_qsl(query, keep_blank_values=True))


def _meet(left: Scope, right: Scope) -> Scope | None:
    """The scope granting what both scopes grant, if anything: of two searches, the one
    when the other scope has none, and nothing when their criteria differ."""
    if left.context != right.context or (
            left.query and right.query and _criteria(left.query) != _criteria(right.query)):
        return None
    if left.resource_type in ("*", right.resource_type):
        resource_type = right.resource_type
    elif right.resource_type == "*":
        resource_type = left.resource_type
    else:
        return None
    letters = left.permissions & right.permissions
    query = left.query or right.query
    return Scope(left.context, resource_type, letters, query) if letters else None


def grant(requested: str, registered: str) -> str:
    """The requested scopes narrowed to those the client was registered for; an empty string
    when nothing can be granted. Each requested scope is answered in its own syntax (v1 or v2,
    see `Scope.text`), in the request's order, each granted scope once. For the token endpoint
    of SMART Backend Services
    (http://hl7.org/fhir/smart-app-launch/backend-services.html#issue-access-token)."""
    allowed = parse_scopes(registered)
    granted: dict[str, None] = {}
    for token in requested.split():
        asked = parse_scope(token)
        if asked is None:
            continue
        v1 = token.partition("?")[0].rpartition(".")[2] in _V1_PERMISSIONS
        meets = (_meet(asked, held) for held in allowed)
        # Merged per requested scope: two registered scopes may each grant part of it.
        for scope in Permissions(meet for meet in meets if meet is not None).scopes():
            # v1 has no searches: one the registration added is written in v2 syntax.
            granted[scope.text(v1 and (bool(asked.query) or not scope.query))] = None
    return " ".join(granted)
