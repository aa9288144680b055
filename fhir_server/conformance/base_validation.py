"""Validation of resource bodies against the base StructureDefinition snapshots of the
registry (validation.html): unknown elements, cardinality, JSON types and
formats of primitives (json.html), resource types, required bindings, extensions, invariants.

One pass over the JSON with an explicit stack (no recursion), each object checked against
the compiled tree of its element (`structure.py`): time linear in the size of the body."""

from dataclasses import dataclass
from functools import cache
from typing import Any

from fhir_server.conformance.bundle_rules import bundle_issues
from fhir_server.conformance.coded_values import coded_value_issues, required_binding_issues
from fhir_server.conformance.definitions import registry
from fhir_server.conformance.extensions import extension_issues, repeated_extension_issues
from fhir_server.conformance.invariants import Invariant, is_violated
from fhir_server.conformance.issue_lists import MOST_KEPT, trimmed
from fhir_server.conformance.messages import issue, problem_vi
from fhir_server.conformance.narrative import narrative_problem, read_xhtml
from fhir_server.conformance.primitives import ABSOLUTE_URI, primitive_type, shown
from fhir_server.conformance.reference_targets import (
    allowed_targets,
    contained_types,
    literal_type,
    malformed_relative,
    type_name,
)
from fhir_server.conformance.structure import (
    COMPLEX,
    PRIMITIVE,
    Element,
    Node,
    Property,
    definition_tree,
)
from fhir_server.errors import Issue

# Primitive types whose values may name a contained resource (`#id`), as dom-3 reads them.
_LOCAL_REFERENCE_TYPES = frozenset({"canonical", "uri", "url"})
# Objects nested deeper are not walked, and then no invariant is evaluated (fhirpathpy
# recurses); the API refuses JSON nested deeper than 64 arrays and objects anyway.
MAX_DEPTH = 64


@dataclass(frozen=True, slots=True)
class _Resource:
    """The resource an element belongs to: `%resource` and `%rootResource` of invariants
    (http://hl7.org/fhir/R4/fhirpath.html#variables)."""

    value: dict
    root: dict
    contained: dict[str, object]  # of the root, id → type: what a local reference `#id` names


@dataclass(frozen=True, slots=True)
class _Visit:
    """One JSON object to check against a node of a compiled tree."""

    value: dict
    node: Node
    path: str  # FHIRPath location: Patient.name[0]
    holder: tuple[str, str]  # the element holding it (definition path, type): for extensions
    resource: _Resource
    needs_children: bool  # ele-1 (not for resources, nor `_x` objects of a valued primitive)
    depth: int


@cache
def resource_types() -> frozenset[str]:
    return frozenset(registry().resource_types)


# Elements defined as absolute URIs that published guides fill with plain names: a warning
# (IPS 2.0.0's logical model names its mapping 'ISO-27269_International_Patient_Summary').
_NAMED_LOOSELY = frozenset({"StructureDefinition.mapping.uri"})


class BaseWalk:
    """One validation against the base definitions: the objects still to visit, and the
    issues found so far."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []
        self.stack: list[_Visit] = []
        self.children: list[_Visit] = []  # of the object being visited, in document order
        # Invariants to evaluate once the structure is walked: (invariants, value, type path,
        # FHIRPath location, resource).
        self.pending: list[tuple[tuple[Invariant, ...], object, str, str, _Resource]] = []
        self.too_deep = False
        self.stopped = False  # at MOST_KEPT errors
        self.dropped = 0  # warnings and notes beyond MOST_KEPT
        # dom-3: the contained resources seen (frame, location), the local references `#id`
        # found under each root (by id()), and the contained resources that refer to their
        # container (`#`).
        self.contained: list[tuple[_Resource, str]] = []
        self.local_targets: dict[int, set[str]] = {}
        self.refer_to_container: set[int] = set()
        # (location, resource) of the resources within the one validated: their own
        # meta.profile claims are checked too.
        self.nested: list[tuple[str, dict]] = []
        # An error of structure, or a primitive of another JSON kind: the values a profile
        # would be checked on are not there.
        self.malformed = False

    def trimmed(self) -> bool:
        """Hold at most MOST_KEPT issues, errors first: a body of a million bad elements
        made a million issues, in two languages (a 12 MB body took 700 MB). True when the
        errors alone fill it: the walk stops there, the resource being refused anyway."""
        self.issues, dropped, self.stopped = trimmed(self.issues, MOST_KEPT)
        self.dropped += dropped
        return self.stopped

    def report(self, message_id: str, code: str, location: str, **params: Any) -> None:
        found = issue(message_id, code, location, **params)
        self.malformed |= code == "structure" and found.severity in ("fatal", "error")
        self.issues.append(found)

    def run(self, resource: dict, resource_type: str) -> list[Issue]:
        self.resource(resource, resource_type, None, 0)
        self.stack.extend(self.children)
        while self.stack:
            self.visit(self.stack.pop())
            if len(self.issues) > MOST_KEPT and self.trimmed():
                break
        if self.dropped:
            self.report("issues-dropped", "informational", resource_type,
                        severity="information", left=self.dropped)
        if self.stopped:
            self.report("validation-stopped", "too-costly", resource_type,
                        severity="information", count=MOST_KEPT)
        elif not self.too_deep:
            known: dict = {}
            for invariants, value, type_path, expression, owner in self.pending:
                for invariant in invariants:
                    if is_violated(invariant, value, type_path, owner.value, owner.root,
                                   known):
                        self.report("invariant", "invariant", expression,
                                    key=invariant.key, human=invariant.human)
            self.check_contained()
        return self.issues

    def check_contained(self) -> None:
        """dom-3: a contained resource is referenced from elsewhere in the resource that
        contains it (`#id`, as a Reference, canonical or uri) or refers to it (`#`)
        (http://hl7.org/fhir/R4/references.html#contained). An id names one of them only.
        """
        first_with: dict[tuple[int, object], str] = {}
        for frame, path in self.contained:
            contained_id = frame.value.get("id")  # a malformed one is reported by the walk
            if isinstance(contained_id, str):
                first = first_with.setdefault((id(frame.root), contained_id), path)
                if first != path:
                    self.report("contained-id-twice", "structure", f"{path}.id", path=path,
                                first=first, id=contained_id)
            if id(frame.value) in self.refer_to_container:
                continue
            targets = self.local_targets.get(id(frame.root), set())
            if contained_id is None:  # nothing could name it: the id is what is missing
                self.report("contained-no-id", "required", f"{path}.id", path=path)
            elif not isinstance(contained_id, str) or contained_id not in targets:
                self.report("contained-unreferenced", "invariant", path, path=path)

    def resource(self, value: dict, path: str, container: _Resource | None, depth: int,
                 expected: str = "Resource") -> None:
        """Queue a resource: the body, a contained resource (in `container`), or the value
        of a Resource-typed element such as Bundle.entry.resource (its own root)."""
        resource_type = value.get("resourceType")
        if not isinstance(resource_type, str) or resource_type not in resource_types() or (
            expected not in ("Resource", resource_type)
        ):
            self.report("resource-type-unknown" if expected == "Resource"
                        else "resource-type-expected", "structure", f"{path}.resourceType",
                        value=shown(resource_type), path=path, wanted=expected)
            return
        if depth:
            self.nested.append((path, value))
        if container is None:
            frame = _Resource(value, value, contained_types(value))
        else:
            if "contained" in value:
                self.report("contained-contains", "invariant", f"{path}.contained", path=path)
            frame = _Resource(value, container.root, container.contained)
            if container.value is container.root:  # a nested one is refused by dom-2 alone
                self.contained.append((frame, path))
        self.children.append(_Visit(value, definition_tree(resource_type), path,
                                    (resource_type, resource_type), frame, False, depth))

    def visit(self, at: _Visit) -> None:
        """Check one JSON object against its node and queue its child objects."""
        if at.depth > MAX_DEPTH:
            self.too_deep = True
            self.report("too-deep", "structure", at.path, path=at.path, max=MAX_DEPTH)
            return
        value, node, path = at.value, at.node, at.path
        self.children = []
        present: set[Element] = set()
        chosen: dict[Element, str] = {}
        for key, item in value.items():
            prop = node.properties.get(key)
            if prop is None:
                base = node.properties.get(key[1:]) if key[:1] == "_" else None
                if base is not None and base.kind == PRIMITIVE:
                    if item is None:  # present, unlike a `_x` left out
                        self.report("null-value", "structure", f"{path}.{key}",
                                    expression=f"{path}.{key}")
                    elif key[1:] not in value:
                        present.add(base.element)
                        self.primitive(key[1:], base, None, item, at)
                elif not (key == "resourceType" and value is at.resource.value):
                    self.unknown(key, node, path)
                continue
            element = prop.element
            present.add(element)
            if element.name.endswith("[x]") and chosen.setdefault(element, key) != key:
                self.report("choice-twice", "structure", f"{path}.{key}", path=path,
                            first=chosen[element], key=key, element=element.path)
            if prop.kind == PRIMITIVE:
                self.primitive(key, prop, item, value.get("_" + key), at)
            else:
                self.complex(key, prop, item, at)
        for element in node.required:
            if element not in present:
                expression = f"{path}.{element.name.removesuffix('[x]')}"
                self.report("missing-required", "required", expression,
                            expression=expression, min=element.min)
        if at.needs_children and not any(key != "id" for key in value):
            self.report("empty-element", "invariant", path, path=path)
        if node.path == "Extension":
            self.issues += extension_issues(value, path, *at.holder)
        elif node.path == "Reference":
            self.local_reference(value.get("reference"), path, at.resource)
            self.reference_target(value, path, at)
        elif node.path == "Bundle":
            self.issues += bundle_issues(value, path)
        self.invariants(node.invariants, value, node.path, path, at.resource)
        self.stack.extend(reversed(self.children))

    def local_reference(self, reference: object, path: str, resource: _Resource) -> None:
        """ref-1: a reference `#id` names a resource contained in the root resource; `#`
        alone is the container itself (http://hl7.org/fhir/R4/references.html#contained)."""
        self.local_target(reference, resource)
        if (
            isinstance(reference, str)
            and reference.startswith("#")
            and reference[1:]
            and reference[1:] not in resource.contained
        ):
            self.report("reference-not-contained", "invariant", f"{path}.reference",
                        reference=shown(reference), path=path)

    def reference_target(self, reference: dict, path: str, at: _Visit) -> None:
        """The type a Reference names is one its element may refer to (targetProfile), and
        its `reference` and `type` agree: warnings, as four official examples refer to other
        types (DeviceMetric-example's parent is a DeviceDefinition); a profile's target
        rules are errors (profile_validation.py)."""
        if malformed_relative(reference.get("reference"), resource_types()):
            self.issues.append(issue("reference-malformed", "value", f"{path}.reference",
                                     severity="warning", value=reference["reference"]))
        named = literal_type(reference.get("reference"), at.resource.contained,
                             at.resource.root.get("resourceType"))
        declared = type_name(reference.get("type"))
        if named is not None and named not in resource_types():
            named = None  # a URL of something else than a FHIR resource
        if named and declared and named != declared:
            self.issues.append(issue("reference-type-disagrees", "invalid", path,
                                     severity="warning", path=path, named=named,
                                     declared=declared))
        kind = named or declared
        allowed = allowed_targets(at.holder[0]) if kind else None
        if kind and allowed is not None and kind not in allowed:
            self.issues.append(issue("reference-target-base", "invalid", path,
                                     severity="warning", type=kind, element=at.holder[0],
                                     allowed=", ".join(sorted(allowed))))

    def local_target(self, value: object, resource: _Resource) -> None:
        """Note a local reference (`#id`, or `#` for the container) for dom-3."""
        if not (isinstance(value, str) and value.startswith("#")):
            return
        if value == "#":
            self.refer_to_container.add(id(resource.value))
        else:
            self.local_targets.setdefault(id(resource.root), set()).add(value[1:])

    def unknown(self, key: str, node: Node, path: str) -> None:
        for name, (element, names) in node.choices.items():
            if key.startswith(name) and key[len(name):][:1].isupper():
                self.report("unknown-element-choice", "structure", f"{path}.{key}", key=key,
                            path=path, element=element.path, names=", ".join(names))
                return
        self.report("unknown-element", "structure", f"{path}.{key}", key=key, path=path)

    def items(self, value: object, expression: str, element: Element) -> list | None:
        """The values of an element as a list, or None (reported) if the JSON shape is wrong:
        an array for a repeating element, a single value otherwise (json.html#arrays)."""
        if not element.repeats:
            if isinstance(value, list):
                self.report("not-array", "structure", expression, expression=expression,
                            element=element.path)
                return None
            return [value]
        if not isinstance(value, list):
            self.report("must-be-array", "structure", expression, expression=expression,
                        element=element.path, max=element.max or "*")
            return None
        if not value:
            self.report("empty-array", "structure", expression, expression=expression)
        if element.max is not None and len(value) > element.max:
            self.report("too-many", "structure", expression, expression=expression,
                        count=len(value), element=element.path, max=element.max)
        if 0 < len(value) < element.min:
            self.report("too-few", "required", expression, expression=expression,
                        count=len(value), element=element.path, min=element.min)
        return value

    def primitive(self, key: str, prop: Property, value: object, extra: object,
                  at: _Visit) -> None:
        """A primitive element: its JSON values and their `_key` objects (id, extension),
        aligned by position in arrays, where null stands for a missing half (json.html)."""
        element, expression = prop.element, f"{at.path}.{key}"
        extra_expression = f"{at.path}._{key}"
        if extra is not None and element.bare:
            self.report("bare-element", "structure", extra_expression, extra=extra_expression,
                        expression=expression)
            extra = None
            if value is None:
                return
        absent = value is None and extra is not None
        values = [] if absent else self.items(value, expression, element)
        extras = [] if extra is None else self.items(extra, extra_expression, element)
        if values is None or extras is None:
            return
        if not element.repeats:
            self.primitive_value(prop, values[0] if values else None,
                                 extras[0] if extras else None, expression, extra_expression, at)
            return
        if values and extras and len(values) != len(extras):
            self.report("extra-count", "structure", extra_expression, extra=extra_expression,
                        expression=expression, extras=len(extras), values=len(values))
            return
        if extras and all(extra is None for extra in extras) and None not in values:
            # No position of `_x` holds an id or extension: json.html leaves it out (a null
            # value beside a null is reported where it is).
            self.report("null-value", "structure", extra_expression, expression=extra_expression)
        for index in range(max(len(values), len(extras))):
            self.primitive_value(prop, values[index] if values else None,
                                 extras[index] if extras else None, f"{expression}[{index}]",
                                 f"{extra_expression}[{index}]", at)

    def primitive_value(self, prop: Property, value: object, extra: object, expression: str,
                        extra_expression: str, at: _Visit) -> None:
        if value is None and extra is None:
            self.report("null-value", "structure", expression, expression=expression)
            return
        if value is not None:
            kind = primitive_type(prop.type)
            problem = kind.problem(value)
            if problem is not None:
                self.malformed |= not kind.has_json_kind(value)
                self.report("invalid-primitive", "value", expression, type=prop.type,
                            value=shown(value), expression=expression, problem=problem,
                            vi={"problem": problem_vi(problem)})
            elif prop.binding is not None:
                self.issues += required_binding_issues(prop.binding, value, expression)
            elif prop.type == "xhtml":
                self.narrative(value, expression, at.value.get("status") == "empty",
                               at.resource)
            if prop.type in _LOCAL_REFERENCE_TYPES:
                self.local_target(value, at.resource)
            if (prop.element.absolute and isinstance(value, str) and problem is None
                    and not ABSOLUTE_URI.match(value)):
                self.report("uri-relative", "value", expression, expression=expression,
                            value=shown(value), severity=(
                                "warning" if prop.element.path in _NAMED_LOOSELY else "error"))
            self.invariants(prop.element.invariants, value, prop.type, expression, at.resource)
        if extra is None:
            return
        if not isinstance(extra, dict) or not extra:
            self.report("extra-not-object", "structure", extra_expression,
                        extra=extra_expression, expression=expression)
            return
        self.children.append(_Visit(extra, definition_tree(prop.type), extra_expression,
                                    (prop.element.path, prop.type), at.resource, value is None,
                                    at.depth + 1))

    def complex(self, key: str, prop: Property, value: object, at: _Visit) -> None:
        """An element whose values are JSON objects: a data type, a BackboneElement or a
        resource."""
        element, expression = prop.element, f"{at.path}.{key}"
        values = self.items(value, expression, element)
        if prop.type == "Extension" and values is not None and len(values) > 1:
            self.issues += repeated_extension_issues(values, expression)
        for index, item in enumerate(values or ()):
            location = f"{expression}[{index}]" if element.repeats else expression
            if not isinstance(item, dict):
                self.report("not-object", "structure", location, value=shown(item),
                            expression=location, type=prop.type)
                continue
            if prop.node is not None:  # a BackboneElement
                self.children.append(_Visit(item, prop.node, location,
                                            (prop.node.path, prop.type), at.resource, True,
                                            at.depth + 1))
            elif prop.kind == COMPLEX:
                # The context of an extension is the element that holds it.
                holder = at.holder if prop.type == "Extension" else (element.path, prop.type)
                self.children.append(_Visit(item, definition_tree(prop.type), location, holder,
                                            at.resource, True, at.depth + 1))
                self.issues += coded_value_issues(prop.type, prop.binding, item, location)
            else:
                self.resource(item, location, at.resource if prop.contained else None,
                              at.depth + 1, prop.type)
            self.invariants(element.invariants, item, prop.type, location, at.resource)

    def narrative(self, div: object, expression: str, said_empty: bool,
                  resource: _Resource) -> None:
        """An XHTML div: well-formed, one <div>, txt-1 and txt-2 (but for a narrative of
        status `empty`) (http://hl7.org/fhir/R4/narrative.html#xhtml); its `#id` images and
        links reference contained resources."""
        if not isinstance(div, str):
            return
        reading = read_xhtml(div)
        for reference in reading.local_references:
            self.local_target(reference, resource)
        found = narrative_problem(reading, said_empty)
        if found is not None:
            severity, code, problem = found
            self.report("invalid-narrative", code, expression, expression=expression,
                        problem=problem, severity=severity)

    def invariants(self, invariants: tuple[Invariant, ...], value: object, type_path: str,
                   expression: str, resource: _Resource) -> None:
        if invariants:
            self.pending.append((invariants, value, type_path, expression, resource))
