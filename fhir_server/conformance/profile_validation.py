"""Validation of a resource against a profile (http://hl7.org/fhir/R4/validation.html#profile,
http://hl7.org/fhir/R4/profiling.html): the rules of the profile's compiled tree
(`profile_tree.py`) applied to the values of the instance they constrain, after the base
validation found the resource structurally valid.

Every issue names the profile and the id of the ElementDefinition whose rule failed.

A profile in error (a discriminator whose slices give no value at its path, a path the base
type does not have, a discriminator this server does not support) gives issues of code
`processing`, severity warning: the data are not at fault, the other rules of the profile
are still checked, and refusing every write for a flaw of the profile would stop a hospital.
A profile that cannot be used at all (unknown, or no snapshot can be made) is an error when
the resource is validated against it: nothing of it can be checked, so conformance to it
cannot be claimed; for a profile named by an element's type, a warning."""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from fhir_server.conformance.invariants import Invariant, answers_to, is_violated
from fhir_server.conformance.messages import issue
from fhir_server.conformance.profile_bindings import binding_issues
from fhir_server.conformance.profile_elements import (
    MISSING,
    ProfileUnavailable,
    Rules,
    presence_test,
)
from fhir_server.conformance.profile_rules import (
    contains,
    equals,
    length_problem,
    out_of_range,
    reference_types,
    shown_value,
)
from fhir_server.conformance.profile_tree import CompiledProfile, compiled_profile
from fhir_server.conformance.slicing import Test, follow, matches
from fhir_server.conformance.structure import RESOURCE
from fhir_server.errors import Issue


@dataclass(frozen=True, slots=True)
class _Item:
    """One value of an element in the instance."""

    value: object
    extra: dict | None  # the `_name` object of a primitive: its id and extensions
    location: str  # FHIRPath location of the element: Patient.identifier
    index: int | None  # in the array of a repeating element
    type: str  # its type: from the JSON name of a choice, the resourceType of a resource

    @property
    def expression(self) -> str:
        """FHIRPath location of the value (Patient.identifier[1]), made when needed."""
        return self.location if self.index is None else f"{self.location}[{self.index}]"


def _items(rules: Rules, holder: dict, where: str) -> list[_Item]:
    """The values of an element in one object of the instance."""
    items: list[_Item] = []
    names = rules.json_names
    # The object's keys, not the element's names: a choice has up to 50 of them.
    for key in [k for k in holder if k in names or (
            k[:1] == "_" and k[1:] in names and k[1:] not in holder)]:
        key = key.lstrip("_")
        type_code = names[key]
        value, extra = holder.get(key), holder.get("_" + key)
        location = f"{where}.{key}"
        values = value if isinstance(value, list) else [value]
        extras = extra if isinstance(extra, list) else [extra] * len(values)
        for index, one in enumerate(values):
            more = extras[index] if index < len(extras) else None
            if one is None and more is None:
                continue
            kind = one.get("resourceType", type_code) if isinstance(one, dict) and (
                rules.kind == RESOURCE) else type_code
            items.append(_Item(one, more if isinstance(more, dict) else None, location,
                               index if rules.repeats else None, kind))
    return items


def _count(rules: Rules, holder: dict) -> int:
    """How many values an element has in an object (its cardinality alone is checked)."""
    count = 0
    for key in rules.json_names:
        value = holder.get(key, holder.get("_" + key))
        if value is not None:
            count += len(value) if isinstance(value, list) else 1
    return count


def _violated(invariant: Invariant, value: object, type_path: str, resource: dict,
              root: dict, known: dict) -> bool:
    """`is_violated`, with invariants on the presence of children evaluated natively."""
    test = presence_test(invariant.expression) if isinstance(value, dict) else None
    if test is None:
        return is_violated(invariant, value, type_path, resource, root, known)
    operator, terms = test
    results = [answers_to(value, name) is exists  # type: ignore[arg-type]
               for name, exists in terms]
    return not (any(results) if operator == "or" else all(results))


@lru_cache(maxsize=4096)  # the same flaws of the same profiles, at a few locations
def _problem(key: tuple, code: str, location: str, severity: str) -> Issue:
    """The issue of a problem of a profile (an Issue is immutable: shared)."""
    message_id, url, params = key
    found = dict(params)
    return issue(message_id, code, location, severity=severity, profile=url,
                 element_id=found.get("element"), **found)


def _profiled_values(tests: tuple[Test, ...], items: list[_Item]
                     ) -> Iterator[tuple[dict, str, str]]:
    """(resource, its location, profile) for each resource at a `profile` discriminator of
    the items whose type is the one the profile constrains."""
    for item in items:
        for test in (test for test in tests if test.kind == "profile"):
            for value, kind in follow(item.value, item.type, test.steps):
                for url in test.expected:  # type: ignore[attr-defined]
                    if isinstance(value, dict) and _profile_type(url) == kind:
                        yield value, ".".join((item.expression, *test.steps)), url


def _profile_type(url: str) -> str | None:
    try:
        return compiled_profile(url).type
    except ProfileUnavailable:
        return None


def _strings(value: object, names: tuple[str, ...]) -> tuple | None:
    """The strings at `names` of an object (a slicing lookup key), None if one is not."""
    if not isinstance(value, dict):
        return None
    found = tuple(value.get(name) for name in names)
    return found if all(isinstance(item, str) for item in found) else None


_SLICE_NAME = re.compile(r":[^.]+")  # Encounter.diagnosis:DischargeDiagnosis.condition


def _bundled(resource: dict) -> dict[str, str]:
    """The types of a Bundle's entries by their `urn:` fullUrl: what a reference to one
    points to (bundle.html#references; the HL7 validator resolves them so)."""
    entries = resource.get("entry") if resource.get("resourceType") == "Bundle" else None
    found: dict[str, str] = {}
    for entry in entries if isinstance(entries, list) else ():
        full_url = entry.get("fullUrl") if isinstance(entry, dict) else None
        kept = entry.get("resource") if isinstance(entry, dict) else None
        if (isinstance(full_url, str) and full_url.startswith("urn:") and isinstance(kept, dict)
                and isinstance(kept.get("resourceType"), str)):
            found.setdefault(full_url, kept["resourceType"])
    return found


class _Run:
    """One validation of a resource against profiles: the issues found so far."""

    def __init__(self, resource: dict, bundle: dict):
        self.issues: list[Issue] = []
        self.resource = resource
        contained = resource.get("contained")
        self.contained = {
            item["id"]: item["resourceType"] for item in contained
            if isinstance(item, dict) and isinstance(item.get("id"), str)
        } if isinstance(contained, list) else {}
        self.bundled = _bundled(bundle)
        self.reported: set[tuple] = set()  # problems of profiles, reported once
        self.conformance: dict[tuple[int, str], bool] = {}
        self.invariant_results: dict = {}  # `is_violated`'s

    def report(self, message_id: str, code: str, location: str, url: str, rules: Rules,
               severity: str = "error", **params: Any) -> None:
        self.issues.append(issue(message_id, code, location, severity=severity, profile=url,
                                 element_id=rules.id, **params))

    def problem(self, message_id: str, code: str, location: str, url: str,
                params: dict[str, Any], severity: str = "warning") -> None:
        """A problem of the profile itself, once per validation."""
        key = (message_id, url, tuple(params.items()))
        if key not in self.reported:
            self.reported.add(key)
            self.issues.append(_problem(key, code, location, severity))

    def apply(self, url: str, item: _Item, resource: dict, nested: bool) -> None:
        """Check a value (a resource, a data type, an extension) against a profile."""
        try:
            profile = compiled_profile(url)
        except ProfileUnavailable as error:
            unknown = error.reason.message_id == "profile.not-known"
            message = "profile-unknown" if nested and unknown else "profile-no-snapshot"
            self.problem(message, "processing", item.expression, url,
                         {"target": url, "reason": error.reason},
                         "warning" if nested else "error")
            return
        if profile.type != item.type and item.type:
            self.problem("profile-not-for-type", "processing", item.expression, url,
                         {"target": url, "constrained": profile.type, "type": item.type},
                         "warning" if nested else "error")
            return
        for message_id, code, params in profile.problems:
            self.problem(message_id, code, item.expression, url, params)
        self.item(profile.root, item, profile, resource)

    def conforms(self, value: object, url: str) -> bool:
        """Whether a value has no error against a profile (a `profile` discriminator)."""
        key = (id(value), url)
        if key not in self.conformance:
            saved, self.issues = self.issues, []
            kind = value.get("resourceType", "") if isinstance(value, dict) else ""
            resource = value if kind and isinstance(value, dict) else self.resource
            self.apply(url, _Item(value, None, "", None, kind or _profile_type(url) or ""),
                       resource, True)
            self.conformance[key] = not any(i.severity == "error" for i in self.issues)
            self.issues = saved
        return self.conformance[key]

    def element(self, rules: Rules, holder: dict, where: str, profile: CompiledProfile,
                resource: dict) -> None:
        """An element of the profile in one object of the instance: cardinality, each value,
        slicing."""
        items = _items(rules, holder, where) if rules.per_value else []
        count = len(items) if rules.per_value else _count(rules, holder)
        url = profile.url
        # The element's location: the JSON name of the values, when there are some.
        location = items[0].location if items else f"{where}.{rules.stem}"
        missing = rules.check_min and count < rules.min
        if missing:
            self.report("profile-missing" if count == 0 else "profile-min", "required",
                        location, url, rules, min=rules.min, count=count)
        if rules.check_max and rules.max is not None and count > rules.max:
            self.report("profile-prohibited" if rules.max == 0 else "profile-max",
                        "structure", location, url, rules, max=rules.max, count=count)
        for item in items:
            self.item(rules, item, profile, resource)
        if rules.slicing is not None and items:
            self.slices(rules, items, location, profile, resource)
        elif rules.slicing is not None and count == 0 and not missing:
            # An optional element is still required by a slice of min 1 (a main diagnosis).
            for piece in rules.slicing.slices:
                self.slice_count(piece, 0, location, url)

    def item(self, rules: Rules, item: _Item, profile: CompiledProfile,
             resource: dict) -> None:
        """The rules of an ElementDefinition on one value, then its children's."""
        if rules.checks_value and not self.value_rules(rules, item, profile.url, resource):
            return
        if rules.kind == RESOURCE and isinstance(item.value, dict):
            # A contained or entry resource is %resource of its children, not of itself.
            resource = item.value
        if rules.children:
            value, where = item.value, item.expression
            holder = value if isinstance(value, dict) else item.extra
            for child in rules.children:
                self.element(child, holder or {}, where, profile, resource)

    def value_rules(self, rules: Rules, item: _Item, url: str, resource: dict) -> bool:
        """The rules on the value itself; False when its type is not allowed (nothing more
        is checked then)."""
        value, where = item.value, item.expression
        if rules.allowed_types is not None and item.type not in rules.allowed_types:
            self.report("type-not-allowed", "structure", where, url, rules, type=item.type,
                        allowed=", ".join(sorted(rules.allowed_types)))
            return False
        if rules.fixed is not MISSING and value is None:  # `_use` alone: no value to match
            self.report("fixed-value-absent", "value", where, url, rules,
                        fixed=shown_value(rules.fixed))
        elif rules.fixed is not MISSING and not equals(value, rules.fixed):
            self.report("fixed-value", "value", where, url, rules, value=shown_value(value),
                        fixed=shown_value(rules.fixed))
        if rules.pattern is not MISSING and value is None:
            self.report("fixed-value-absent", "value", where, url, rules,
                        fixed=shown_value(rules.pattern))
        elif rules.pattern is not MISSING and not contains(value, rules.pattern):
            self.report("pattern-value", "value", where, url, rules, value=shown_value(value),
                        pattern=shown_value(rules.pattern))
        if rules.binding is not None:
            self.issues += binding_issues(rules.binding, value, item.type, where, profile=url,
                                          element_id=rules.id)
        self.limits(rules, item, url)
        if rules.target_types is not None:
            target = next((kind for kind in reference_types(value, self.contained, self.bundled)
                           if kind not in rules.target_types), None)
            if target is not None:
                self.report("reference-target", "structure", where, url, rules, type=target,
                            allowed=", ".join(sorted(rules.target_types)))
        targets = rules.type_profiles.get(item.type, ())
        if len(targets) == 1:
            self.apply(targets[0], item, resource, True)
        elif targets and not any(self.conforms(value, target) for target in targets):
            self.report("value-not-conformant", "structure", where, url, rules,
                        targets=", ".join(targets))
        # A choice's value by the type it has (`$this.ofType(dateTime)` of IPS's ips-1 is
        # empty on an untyped "2020", which then passed).
        type_path = item.type if rules.type_path.endswith("[x]") and item.type else (
            rules.type_path)
        for invariant, severity in rules.invariants:
            if _violated(invariant, value, type_path, resource, self.resource,
                         self.invariant_results):
                self.report("invariant" if severity == "error" else "profile-invariant-warning",
                            "invariant", where, url, rules, severity, key=invariant.key,
                            human=invariant.human)
        return True

    def limits(self, rules: Rules, item: _Item, url: str) -> None:
        """maxLength, minValue[x], maxValue[x]."""
        if rules.max_length is None and rules.min_value is None and rules.max_value is None:
            return
        if rules.max_length is not None:
            length = length_problem(item.value, rules.max_length)
            if length is not None:
                self.report("max-length", "value", item.expression, url, rules,
                            length=length, max=rules.max_length)
        for limit, below, message in ((rules.min_value, True, "min-value"),
                                      (rules.max_value, False, "max-value")):
            if limit is not None and out_of_range(item.value, limit, below):
                self.report(message, "value", item.expression, url, rules,
                            value=shown_value(item.value), limit=shown_value(limit[1]))

    def slices(self, rules: Rules, items: list[_Item], location: str,
               profile: CompiledProfile, resource: dict) -> None:
        """Values assigned to slices, the slicing's rules, each slice's cardinality and rules
        (http://hl7.org/fhir/R4/profiling.html#slicing)."""
        slicing, url = rules.slicing, profile.url
        assert slicing is not None
        for message_id, code, params in slicing.problems:
            self.problem(message_id, code, location, url, params)
        if not slicing.usable:
            return
        if slicing.lookup is not None:
            names, found = slicing.lookup
            assigned = [found.get(_strings(item.value, names)) for item in items]
        else:
            assigned = [
                next((index for index, tests in enumerate(slicing.tests)
                      if all(matches(test, item.value, item.type, self.conforms)
                             for test in tests)), None)
                for item in items
            ]
        last: int | None = None
        unmatched: _Item | None = None
        for item, index in zip(items, assigned, strict=True):
            if index is None:
                if slicing.rules == "closed":
                    self.report("slice-closed", "structure", item.expression, url, rules,
                                element=rules.id)
                unmatched = unmatched or item
                continue
            if slicing.rules == "openAtEnd" and unmatched is not None:
                self.report("slice-open-at-end", "structure", unmatched.expression, url,
                            rules, element=rules.id)
                unmatched = _Item(None, None, "", None, "")  # reported once
            if slicing.ordered and last is not None and index < last:
                self.report("slice-order", "structure", item.expression, url,
                            slicing.slices[index], element=rules.id,
                            slice=slicing.slices[index].slice_name,
                            previous=slicing.slices[last].slice_name)
            last = index if last is None else max(last, index)
        left = [item for item, found in zip(items, assigned, strict=True) if found is None]
        for index, piece in enumerate(slicing.slices):
            mine = [item for item, found in zip(items, assigned, strict=True) if found == index]
            self.slice_count(piece, len(mine), location, url)
            if len(mine) < piece.min and slicing.lookup is None:
                self.why_not_in(slicing.tests[index], left)
            for item in mine:
                self.item(piece, item, profile, resource)

    def why_not_in(self, tests: tuple[Test, ...], left: list[_Item]) -> None:
        """For a slice short of values that its profile discriminator tells apart (IPS's
        `patient` entry): the errors of the first value left out whose type the profile
        constrains, at their own locations; "0 values match" alone says nothing to act on."""
        for value, where, url in _profiled_values(tests, left):
            saved, self.issues = self.issues, []
            self.apply(url, _Item(value, None, where, None, value["resourceType"]), value, True)
            errors = [i for i in self.issues if i.severity == "error"]
            self.issues = saved + errors
            if errors:
                return

    def slice_count(self, piece: Rules, count: int, location: str, url: str) -> None:
        """A slice's cardinality, given how many values it holds."""
        if count < piece.min:
            self.report("slice-min", "required", location, url, piece, count=count,
                        slice=piece.slice_name, min=piece.min)
        if piece.max is not None and count > piece.max:
            self.report("slice-max", "structure", location, url, piece, count=count,
                        slice=piece.slice_name, max=piece.max)


def profile_issues(resource: dict, profile_url: str, location: str | None = None,
                   bundle: dict | None = None) -> list[Issue]:
    """Issues of a resource, structurally valid against its base type, against one profile
    (http://hl7.org/fhir/R4/validation.html#profile); `location`, where the resource is (a
    Bundle's entry), if not at the root; `bundle`, the Bundle it is in, whose entries its
    `urn:` references name (the resource itself when it is one)."""
    run = _Run(resource, bundle or resource)
    kind = str(resource.get("resourceType", ""))
    run.apply(profile_url, _Item(resource, None, location or kind, None, kind), resource, False)
    return _once(run.issues)


def _once(issues: list[Issue]) -> list[Issue]:
    """Each fault once: a value in a slice meets the rules of the sliced element and those
    of the slice, which repeat the ones it does not change (VN Core's Encounter.diagnosis
    .condition targetProfile, on every diagnosis slice); the HL7 validator checks a sliced
    value against its slice's definition alone, so says it once."""
    seen: set[tuple] = set()
    kept = []
    for found in issues:
        rule = _SLICE_NAME.sub("", found.element_id or "")
        said = found.diagnostics.replace(found.element_id or "", rule)
        key = (found.message_id, found.severity, found.expression, found.profile, rule, said)
        if key not in seen:
            seen.add(key)
            kept.append(found)
    return kept
