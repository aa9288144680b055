"""Slicing: which slice each value of a sliced element belongs to, by the discriminators of
its slicing (http://hl7.org/fhir/R4/profiling.html#discriminator), compiled once per
profile into tests on the JSON of a value.

Discriminator paths are FHIRPath restricted to `$this`, dotted names, `extension('url')`,
`ofType(T)` and, last in a type discriminator, `resolve()`; other functions are reported as
not supported. A discriminator no slice gives a value for, or whose path a slice lacks (a
profile in error), is reported and left out; one that only some slices value does not
restrict the others. The slices of extensions are told apart by url when the profile says
nothing else."""

import re
from collections.abc import Callable
from dataclasses import dataclass

from fhir_server.conformance.definitions import registry
from fhir_server.conformance.profile_elements import (
    MISSING,
    Rules,
    Slicing,
    canonical,
)
from fhir_server.conformance.profile_rules import contains, member_of_binding
from fhir_server.conformance.reference_targets import literal_type, type_name
from fhir_server.conformance.structure import choice_type

_EXTENSION_STEP = re.compile(r"extension\('([^']*)'\)")
_OF_TYPE_STEP = re.compile(r"ofType\(([A-Za-z]+)\)")
_RESOLVE = "resolve()"
_VALUE_KINDS = ("value", "pattern")


@dataclass(frozen=True, slots=True)
class Test:
    """One discriminator of one slice: what the values at `steps` must be."""

    kind: str  # value, pattern, type, profile, exists
    steps: tuple[str, ...]
    expected: object  # a fixed or pattern value, a binding, types, profiles, or exists


def _steps(kind: str, path: str) -> tuple[str, ...] | None:
    """The steps of a discriminator path, None when not supported. `resolve()` is followed
    only last in a type discriminator: the type of the resource a reference names is read
    from the reference (`Task/1`) without resolving it."""
    steps: list[str] = []
    parts = re.split(r"\.(?![^(]*\))", path)
    for index, step in enumerate(parts):
        if step == "$this":
            continue
        resolved = step == _RESOLVE and kind == "type" and index == len(parts) - 1
        if "(" in step and not (resolved or _EXTENSION_STEP.fullmatch(step)
                                or _OF_TYPE_STEP.fullmatch(step)):
            return None
        steps.append(step)
    return tuple(steps)


def _element_at(by_id: dict[str, dict], slice_id: str, steps: tuple[str, ...]) -> dict | None:
    """The ElementDefinition of a slice at a discriminator path, or None."""
    current = slice_id
    for step in steps:
        if step == _RESOLVE or _OF_TYPE_STEP.fullmatch(step):
            continue  # a value of the element itself
        url = _EXTENSION_STEP.fullmatch(step)
        if url:
            prefix = current + ".extension:"
            current = next((key for key, element in by_id.items() if key.startswith(prefix)
                            and any(canonical(p) == url.group(1) for t in element.get("type", ())
                                    for p in t.get("profile", ()))), "")
        elif current + "." + step in by_id:
            current += "." + step
        else:
            current += "." + step + "[x]"
        if current not in by_id:
            return None
    return by_id[current]


def _profiled_type(url: str) -> str | None:
    """The type a profile (a targetProfile) constrains."""
    definition = registry().structure_definition(canonical(url))
    return definition.get("type") if definition else None


def _extension_url(element: dict) -> str | None:
    """The url an extension slice is told apart by: its type's profile."""
    profiles = [canonical(p) for t in element.get("type", ()) if t["code"] == "Extension"
                for p in t.get("profile", ())]
    return profiles[0] if len(profiles) == 1 else None


def _expected(kind: str, steps: tuple[str, ...], element: dict | None,
              slice_element: dict) -> object:
    """What a slice expects at a discriminator path, MISSING when the profile says
    nothing."""
    if kind in _VALUE_KINDS:
        if element is None and steps == ("url",):
            url = _extension_url(slice_element)
            return ("fixed", url) if url else MISSING
        if element is None:
            return MISSING
        if element.get("max") == "0":
            # A slice that forbids the element holds the values without it, as the HL7
            # validator reads it (`system` and `use`, the `email` slice prohibiting `use`).
            return ("absent", None)
        for prefix in ("fixed", "pattern"):
            found = next((value for key, value in element.items() if key.startswith(prefix)
                          and key[len(prefix):][:1].isupper()), MISSING)
            if found is not MISSING:
                return (prefix, found)
        bound = element.get("binding", {})
        if bound.get("strength") == "required" and bound.get("valueSet"):
            return ("binding", bound["valueSet"])
        return MISSING
    if element is None:
        return MISSING
    if kind == "type" and steps[-1:] == (_RESOLVE,):
        return frozenset(name for t in element.get("type", ()) if t["code"] == "Reference"
                         for p in t.get("targetProfile", ())
                         if (name := _profiled_type(p))) or MISSING
    if kind == "type":
        return frozenset(t["code"] for t in element.get("type", ())) or MISSING
    if kind == "profile":  # a slice of a type with no profile takes any value there
        return tuple(canonical(p) for t in element.get("type", ())
                     for p in t.get("profile", ())) if element.get("type") else MISSING
    if element.get("min", 0) > 0:
        return True
    return False if element.get("max") == "0" else MISSING


def _located(kind: str, steps: tuple[str, ...], by_id: dict[str, dict],
             slice_element: dict) -> tuple[tuple[str, ...], dict | None]:
    """The steps and element a slice's discriminator value comes from: the element at the
    path or, for value/pattern discriminators, the nearest element on the path whose own
    fixed/pattern value holds it (`use.coding.code` in a `patternCodeableConcept` on `use`,
    as VN Core's Encounter.diagnosis slices are written)."""
    at = _element_at(by_id, slice_element["id"], steps) if steps else slice_element
    if kind in _VALUE_KINDS and _expected(kind, steps, at, slice_element) is MISSING:
        for end in range(len(steps) - 1, -1, -1):
            ancestor = (_element_at(by_id, slice_element["id"], steps[:end]) if end
                        else slice_element)
            if ancestor is not None and _expected(kind, steps[:end], ancestor,
                                                  slice_element) is not MISSING:
                return steps[:end], ancestor
    return steps, at


def compile_slicing(element: dict, slices: list[tuple[Rules, dict]],
                    by_id: dict[str, dict]) -> Slicing:
    """The slicing of `element`, with a test per slice and usable discriminator."""
    found = element.get("slicing", {})
    discriminators = tuple((d.get("type", ""), d.get("path", "$this"))
                           for d in found.get("discriminator", ()))
    if not discriminators and element["path"].rsplit(".", 1)[-1] in ("extension",
                                                                      "modifierExtension"):
        discriminators = (("value", "url"),)  # extensions are always sliced by url
    single = not discriminators and not found and element.get("max") == "1" and len(slices) == 1
    if not discriminators and not single and slices and all(
            _slice_test("pattern", (), by_id, raw) is not None for _, raw in slices):
        # No discriminator, but each slice fixes or binds its whole value (VN Core's
        # `Observation.code.coding:requireCoding`, a patternCoding): a value is in the slice
        # it matches, as the HL7 validator tests each value against each slice. Unchecked,
        # an adult's body weight passed as a birth weight.
        discriminators = (("pattern", "$this"),)
    slicing = Slicing(bool(found.get("ordered", False)), found.get("rules", "open"),
                      [rules for rules, _ in slices])
    if single:
        # One slice of a single-valued element that declares no slicing (VN Core's
        # `Condition.code:conditionCode`): the one value can only be that slice's, whose
        # rules (its required binding) then apply to it.
        slicing.tests.append(())
        return slicing
    where = {"element": element.get("id", element["path"])}
    usable: list[tuple[str, tuple[str, ...]]] = []
    for kind, path in discriminators:
        steps = _steps(kind, path)
        if steps is None or kind not in (*_VALUE_KINDS, "type", "profile", "exists"):
            slicing.problems.append(("discriminator-not-supported", "not-supported",
                                     {**where, "path": path, "kind": kind}))
            continue
        lacking = [(rules, _located(kind, steps, by_id, raw)[1]) for rules, raw in slices
                   if _slice_test(kind, steps, by_id, raw) is None]
        if lacking and (len(lacking) == len(slices) or any(at is None for _, at in lacking)):
            for rules, at in lacking:
                message = "discriminator-no-element" if at is None else "discriminator-no-value"
                slicing.problems.append((message, "processing", {
                    **where, "path": path, "kind": kind, "slice": rules.slice_name}))
            continue
        # A slice that gives no value where others do is not told apart by it: it takes
        # any value there (HL7's type-subtype-slicing cases: Slice3 leaves `appliesTo` open).
        usable.append((kind, steps))
    slicing.usable = bool(usable)
    if not usable:
        slicing.problems.append(("slicing-not-checked", "processing", where))
    for _, raw in slices:
        tests: list[Test] = []
        for kind, steps in usable:
            test = _slice_test(kind, steps, by_id, raw)
            if test is not None and test not in tests:
                tests.append(test)
        slicing.tests.append(tuple(tests))
    slicing.lookup = _lookup(slicing.tests)
    return slicing


def _slice_test(kind: str, steps: tuple[str, ...], by_id: dict[str, dict],
                slice_element: dict) -> Test | None:
    """A slice's test for one discriminator; None when the profile gives it no value."""
    located, at = _located(kind, steps, by_id, slice_element)
    expected = _expected(kind, located, at, slice_element)
    if expected is not MISSING:
        return _test(kind, steps, located, expected)
    if kind in _VALUE_KINDS and (values := _resliced_values(by_id, slice_element["id"],
                                                             steps)):
        return Test(kind, steps, ("values", values))
    return None


def _resliced_values(by_id: dict[str, dict], slice_id: str,
                     steps: tuple[str, ...]) -> tuple[object, ...]:
    """The fixed or pattern values that the required re-slices of an element on the path
    give at the rest of it: R4's `bp` slices `component` by `code.coding.code`, whose values
    sit in `component:SystolicBP.code.coding:SBPCode.code` (a coding 1..1 of its own). A
    value of the slice holds each of them."""
    values: list[object] = []
    for end in range(1, len(steps)):
        on_path = _element_at(by_id, slice_id, steps[:end])
        if on_path is None:
            continue
        prefix = on_path["id"] + ":"
        for reslice_id, reslice in by_id.items():
            if not reslice_id.startswith(prefix) or "." in reslice_id[len(prefix):] or (
                    reslice.get("min", 0) < 1):
                continue
            found = _expected("value", steps[end:], _element_at(by_id, reslice_id, steps[end:]),
                              reslice)
            if isinstance(found, tuple) and found[0] in ("fixed", "pattern"):
                values.append(found[1])
    return tuple(values)


def _test(kind: str, steps: tuple[str, ...], located: tuple[str, ...],
          expected: object) -> Test:
    """A discriminator's test. Found in an ancestor's fixed or pattern value (`use` for
    `use.coding.code`), it tests the values that value has at the rest of the path, not
    all of it: the discriminator alone assigns a slice, whose other rules (a display the
    pattern also gives) are then checked as rules (profiling.html#discriminator)."""
    if located == steps or not isinstance(expected, tuple) or expected[0] not in _VALUE_KINDS:
        return Test(kind, located, expected)
    at_path = _project(expected[1], steps[len(located):])
    return Test(kind, steps, ("values", tuple(at_path))) if at_path else Test(
        kind, located, expected)


def _project(value: object, steps: tuple[str, ...]) -> list[object]:
    """The values a (fixed or pattern) value has at a path of names, arrays flattened."""
    current = [value]
    for step in steps:
        found: list[object] = []
        for item in current:
            child = item.get(step) if isinstance(item, dict) else None
            found += child if isinstance(child, list) else [] if child is None else [child]
        current = found
    return current


def _lookup(tests: list[tuple[Test, ...]]) -> tuple[tuple[str, ...], dict] | None:
    """(names, fixed strings → slice) when every slice is told apart by fixed strings at
    plain names (extensions by url, identifiers by system): a dict lookup per value."""
    names: tuple[str, ...] | None = None
    found: dict[tuple, int] = {}
    for index, slice_tests in enumerate(tests):
        keys = tuple(test.steps for test in slice_tests)
        fixed = [test.expected for test in slice_tests]
        if not slice_tests or any(len(steps) != 1 or "(" in steps[0] for steps in keys) or any(
                not isinstance(e, tuple) or e[0] != "fixed" or not isinstance(e[1], str)
                for e in fixed) or (names is not None and names != tuple(k[0] for k in keys)):
            return None
        names = tuple(k[0] for k in keys)
        found.setdefault(tuple(e[1] for e in fixed), index)  # type: ignore[index]
    return (names, found) if names is not None else None


def follow(value: object, type_code: str, steps: tuple[str, ...]) -> list[tuple[object, str]]:
    """(value, type) at a discriminator path from a value of type `type_code`; the type of a
    value under a choice comes from its JSON name, of a resource from its resourceType."""
    current = [(value, type_code)]
    for step in steps:
        if step == _RESOLVE:
            current = [(item, target) for item, _ in current
                       if (target := _referenced_type(item)) is not None]
            continue
        if of_type := _OF_TYPE_STEP.fullmatch(step):
            current = [(item, kind) for item, kind in current if kind == of_type.group(1)]
            continue
        url = _EXTENSION_STEP.fullmatch(step)
        found: list[tuple[object, str]] = []
        for item, _ in current:
            if not isinstance(item, dict):
                continue
            if url:
                found += [(e, "Extension") for e in item.get("extension", ())
                          if isinstance(e, dict) and e.get("url") == url.group(1)]
                continue
            # The element itself, or the JSON names of a choice (value → valueQuantity).
            pairs = [(item[step], "")] if step in item else [
                (child, choice_type(key[len(step):])) for key, child in item.items()
                if key.startswith(step) and key[len(step):][:1].isupper()]
            for child, child_type in pairs:
                for one in child if isinstance(child, list) else [child]:
                    kind = one.get("resourceType", child_type) if isinstance(one, dict) else ""
                    found.append((one, kind or child_type))
        current = found
    return current


def _referenced_type(reference: object) -> str | None:
    """The type of the resource a Reference names: its `type`, or its `Type/id`."""
    if not isinstance(reference, dict):
        return None
    return type_name(reference.get("type")) or literal_type(reference.get("reference"), {})


def matches(test: Test, value: object, type_code: str,
            conforms: Callable[[object, str], bool]) -> bool:
    """Whether a value passes one discriminator test of a slice."""
    found = follow(value, type_code, test.steps)
    if test.kind == "exists":
        return bool(found) is test.expected
    if test.kind == "type":
        return any(kind in test.expected for _, kind in found)  # type: ignore[operator]
    if test.kind == "profile":
        profiles: tuple[str, ...] = test.expected  # type: ignore[assignment]
        # A slice that names no profile there takes any value, or none (HL7's
        # profile-slicing-missing-instance: a category without text is in a slice that
        # constrains only its coding).
        return not profiles or any(
            conforms(item, url) for item, _ in found for url in profiles)
    how, expected = test.expected if isinstance(test.expected, tuple) else ("", None)
    if how == "absent":
        return not found
    if how == "values":  # each value the slice's pattern has at the path
        return all(any(item == one or contains(item, one) for item, _ in found)
                   for one in expected)
    if how == "fixed":
        return any(item == expected for item, _ in found)
    if how == "pattern":
        return any(contains(item, expected) for item, _ in found)
    return any(member_of_binding(item, kind, expected) for item, kind in found)
