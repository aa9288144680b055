"""FHIRPath Patch (http://hl7.org/fhir/R4/fhirpatch.html): a `Parameters` resource whose
`operation` parameters each add, insert, delete, replace or move content, at an element
found by a FHIRPath `path`, applied in order to a copy of the resource.

Paths are the FHIRPath subset the search parameters use (`search/fhirpath.py`): members,
choice elements, `[n]`, `first()`, `last()`, `extension('url')`, `where(element =
'literal')`, `as`, `and`, and a primitive's `id` and `extension` (in its `_name` object:
`patched_json`); elements are found where they are (`fhirpath_patch_paths`). A `value` is
a `value[x]` or, for an element no data type describes (a BackboneElement), `part`s named by
its children; which children repeat is read from the StructureDefinitions. A path that does
not resolve to what its operation needs is 422, as a failing JSON Patch test is
(http.html#patch); a malformed operation is 400.
"""

import copy
from collections.abc import Callable
from functools import partial

from fhir_server.conformance.structure import Node, Property, definition_tree
from fhir_server.errors import BadRequest, TooCostly, Unprocessable
from fhir_server.search.fhirpath import UnsupportedExpression, compile_path
from fhir_server.services.fhirpath_patch_paths import (
    Element,
    Location,
    holder_of,
    holders,
    last_step,
    members,
    steps,
)
from fhir_server.services.parameters import check_parameters_shape
from fhir_server.services.patched_json import element_object, prune, shift_shadow

_PARTS = {"add": ("path", "name", "value"), "insert": ("path", "value", "index"),
          "delete": ("path",), "replace": ("path", "value"),
          "move": ("path", "source", "destination")}
MAX_PATH_LENGTH = 2000  # of a path or a name: a search parameter's longest is 400 or so
# Elements the operations of one patch may walk in all (about 1 µs each here).
MAX_VISITS = 2_000_000


def is_fhirpath_patch(body: object) -> bool:
    return isinstance(body, dict) and body.get("resourceType") == "Parameters"


def apply_fhirpath_patch(resource: dict, parameters: dict) -> dict:
    """`resource` patched by the operations of `parameters`; the input is left as it was."""
    patched = copy.deepcopy(resource)
    check_parameters_shape(parameters)
    _check_cost(resource, parameters)
    # No operation changes nothing, as an empty JSON Patch (the official "No Difference").
    for index, parameter in enumerate(parameters.get("parameter") or []):
        where = f"Parameters.parameter[{index}]"
        if not isinstance(parameter, dict) or parameter.get("name") != "operation":
            raise BadRequest(f"{where} is not an 'operation'", expression=where)
        kind, parts = _parts(parameter, where)
        _OPERATIONS[kind](_Patch(patched, parts, where))
    return patched


def _check_cost(resource: dict, parameters: dict) -> None:
    """Each operation finds its element by walking the resource, which grows by what the
    operations before it added: refused (too-costly) past MAX_VISITS elements in all
    (400 operations on a Patient of 9,000 identifiers took 12 s)."""
    operations = parameters.get("parameter")
    operations = operations if isinstance(operations, list) else []
    added = sum(_elements(part) for operation in operations if isinstance(operation, dict)
                for part in operation.get("part") or [] if isinstance(part, dict)
                and part.get("name") == "value")
    most = _elements(resource) + added  # the resource's size, at most
    if len(operations) * most > MAX_VISITS:
        raise TooCostly(
            f"This FHIRPath Patch has {len(operations)} operations, each finding its element "
            f"among up to {most:,} (those of the resource and those its operations add): "
            f"more than this server walks for one patch ({MAX_VISITS:,} in all). Send fewer "
            "operations per patch, or a JSON Patch, whose paths need no search",
            expression="Parameters.parameter")


def _elements(value: object) -> int:
    """How many JSON values `value` holds, itself included."""
    count, stack = 0, [value]
    while stack:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def _parts(parameter: dict, where: str) -> tuple[str, dict[str, dict]]:
    parts: dict[str, dict] = {}
    for part in parameter.get("part") or []:
        name = part.get("name") if isinstance(part, dict) else None
        if not isinstance(name, str) or name in parts:
            raise BadRequest(f"{where}: each part has a name, given once", expression=where)
        parts[name] = part
    kind = parts.get("type", {}).get("valueCode")
    if not isinstance(kind, str) or kind not in _PARTS:
        # Not "not None" for a type missing, or given as another value than valueCode.
        given = (f"not '{kind}'" if isinstance(kind, str) else "as a valueCode"
                 if "type" in parts else "in a part named type")
        raise BadRequest(f"{where}: type must be one of {', '.join(_PARTS)}, {given}",
                         expression=where)
    needed = set(_PARTS[kind]) | {"type"}
    if set(parts) != needed:
        missing, extra = sorted(needed - set(parts)), sorted(set(parts) - needed)
        wrong = "; ".join(f"{label} {', '.join(names)}" for label, names in (
            ("it lacks", missing), ("it may not have", extra)) if names)
        article = "an" if kind[0] in "aeiou" else "a"
        raise BadRequest(f"{where}: {article} {kind} operation has the parts "
                         f"{', '.join(sorted(needed))}: {wrong}", expression=where)
    return kind, parts


class _Patch:
    """One operation on the resource being patched."""

    def __init__(self, resource: dict, parts: dict[str, dict], where: str):
        self.resource, self.parts, self.where = resource, parts, where
        self.path = self.string("path")

    def string(self, name: str) -> str:
        value = next((v for k, v in self.parts[name].items() if k.startswith("value")), None)
        if not isinstance(value, str) or not value or len(value) > MAX_PATH_LENGTH:
            raise BadRequest(f"{self.where}: {name} must be a string of at most "
                             f"{MAX_PATH_LENGTH} characters", expression=self.where)
        return value

    def integer(self, name: str) -> int:
        value = self.parts[name].get("valueInteger")
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise BadRequest(f"{self.where}: {name} must be a valueInteger of 0 or more",
                             expression=self.where)
        return value

    def fail(self, reason: str) -> Unprocessable:
        return Unprocessable(f"{self.where}: path '{self.path}' {reason}", expression=self.where)

    def found(self, path: str | None = None) -> list[Element]:
        """The elements `path` (the operation's) finds: objects, and primitives where they
        are (`fhirpath_patch_paths`)."""
        path = path or self.path
        try:
            evaluate = compile_path(path, self.resource["resourceType"])
        except UnsupportedExpression as error:
            raise BadRequest(f"{self.where}: path '{path}' is not FHIRPath this "
                             f"server evaluates: {error}", expression=self.where) from None
        step = last_step(path, self.resource["resourceType"])
        if step is None:
            values = [node.value for node in evaluate(self.resource)]
            objects: list[Element] = [value for value in values if isinstance(value, dict)]
            if len(objects) < len(values):  # primitives, found by value alone
                raise self.fail("does not end in an element name (or name[n], name.first(), "
                                "name.last())")
            return objects
        parent_path, name, selected = step
        choices: list[frozenset[str]] = []  # read once, if a holder lacks `name`

        def json_name(holder: dict) -> str:
            if name in holder or f"_{name}" in holder:
                return name
            if not choices:
                choices.append(frozenset(self.structure(parent_path).choices))
            return _choice_key(holder, name) if name in choices[0] else name

        return members(holders(self.found(parent_path)), json_name, selected)

    def one(self, path: str | None = None) -> Element:
        found = self.found(path)
        if len(found) != 1:
            within = "" if path in (None, self.path) else f"is within '{path}', which "
            raise self.fail(f"{within}finds {len(found)} elements, not one")
        return found[0]

    def locate(self) -> Location | None:
        """Where the one element the path finds is; None when it finds nothing."""
        found = self.found()
        if len(found) > 1:
            raise self.fail(f"finds {len(found)} elements, not one")
        if not found:
            return None
        if isinstance(found[0], dict):
            return holder_of(self.resource, found[0]) or _refuse(self)
        return found[0]

    def children_of(self, path: str) -> dict:
        """What holds the children of the one element `path` finds: itself, or a primitive's
        `_name` object, which holds its id and extensions (made if it has none)."""
        found = self.one(path)
        return found if isinstance(found, dict) else element_object(*found)

    def element_list(self) -> tuple[dict, str, list]:
        """The parent and JSON name of the repeating element the path names, and its items."""
        parent_path, name, position = _last_step(self)
        parent = self.children_of(parent_path)
        items = parent.get(name, [])
        if position is not None or not isinstance(items, list):
            raise self.fail("names no repeating element")
        return parent, name, items

    def value(self, node_of: Callable[[], Node | None]) -> object:
        """The operation's value; `node_of` gives the definition of the element it goes in,
        needed only for a value given as parts."""
        return _value(self.parts["value"], node_of, self.where)

    def structure(self, path: str) -> Node:
        """The definition tree of the elements `path` finds."""
        kind = self.resource["resourceType"]
        names = steps(path)
        if names[0] in (kind, "Resource", "DomainResource"):  # else relative to the resource
            names = names[1:]
        # Functions select among the elements a step names (`where()`, `first()`), but for
        # `extension('url')`, which names the extensions too.
        names = ["extension" if s.startswith("extension(") else s for s in names
                 if "(" not in s or s.startswith("extension(")]
        node = definition_tree(kind)
        for step in names:
            property_ = node.properties.get(step.partition("[")[0])
            child = _child_node(property_) if property_ else None
            if child is None:
                raise BadRequest(f"{self.where}: path '{path}' does not name an element with "
                                 "children here", expression=self.where)
            node = child
        return node


def _add(patch: _Patch) -> None:
    target = patch.children_of(patch.path)  # a primitive's: where its id or extension goes
    name = patch.string("name")
    node = patch.structure(patch.path)
    key, property_ = _json_name(node, name, patch.parts["value"])
    if property_ is None:
        raise BadRequest(f"{patch.where}: {name} is not an element of {node.path}",
                         expression=patch.where)
    value = patch.value(partial(_child_node, property_))
    if property_.element.repeats:
        target.setdefault(key, []).append(value)
        shift_shadow(target, key, lambda shadow: shadow.append(None), added=1)
    elif key in target:
        raise patch.fail(f"already has {key}, which does not repeat: replace it instead")
    else:
        target[key] = value


def _insert(patch: _Patch) -> None:
    parent, name, items = patch.element_list()
    index = patch.integer("index")
    if index > len(items):
        raise patch.fail(f"has {len(items)} items: there is no index {index} to insert at")
    items.insert(index, patch.value(lambda: patch.structure(patch.path)))
    parent[name] = items
    shift_shadow(parent, name, lambda shadow: shadow.insert(index, None), added=1)


def _delete(patch: _Patch) -> None:
    location = patch.locate()
    if location is None:
        return  # fhirpatch.html: deleting nothing is no error
    holder, key, position = location
    if position is None:
        holder.pop(key, None)  # a primitive may have an extension alone
        holder.pop(f"_{key}", None)
    else:
        holder[key].pop(position)
        shadow = holder.get(f"_{key}")
        if isinstance(shadow, list) and len(shadow) > position:
            shadow.pop(position)
    prune(patch.resource)


def _replace(patch: _Patch) -> None:
    location = patch.locate()
    if location is None:
        raise patch.fail("finds nothing to replace")
    holder, key, position = location
    value = patch.value(lambda: patch.structure(patch.path))
    if position is not None:
        holder[key][position] = value
        return
    chosen = _chosen_key(patch, key)
    if chosen != key:  # `Observation.value` (a valueQuantity) replaced by a valueString
        holder.pop(key)
        holder.pop(f"_{key}", None)
    holder[chosen] = value


def _chosen_key(patch: _Patch, key: str) -> str:
    """The JSON name a replaced choice element takes from its new value's type: the path
    names `value`, which is `valueQuantity` in the resource, and the value is a valueString.
    Any other element keeps its name."""
    step = last_step(patch.path, patch.resource["resourceType"])
    if step is None:  # `(Observation.value as Quantity)`: its type is the one named
        return key
    name = step[1]
    given = next((k for k in patch.parts["value"] if k.startswith("value") and k != "value"),
                 None)
    if name == key or not key.startswith(name) or given is None:
        return key
    return name + given.removeprefix("value")


def _move(patch: _Patch) -> None:
    parent, name, items = patch.element_list()
    source, destination = patch.integer("source"), patch.integer("destination")
    if source >= len(items) or destination >= len(items):
        raise patch.fail(f"has {len(items)} items: cannot move {source} to {destination}")
    items.insert(destination, items.pop(source))
    shift_shadow(parent, name, lambda shadow: shadow.insert(destination, shadow.pop(source)),
                 added=0)


_OPERATIONS: dict[str, Callable[[_Patch], None]] = {
    "add": _add, "insert": _insert, "delete": _delete, "replace": _replace, "move": _move}


def _last_step(patch: _Patch) -> tuple[str, str, int | None]:
    """(parent path, JSON name, index) of the operation's path (`last_step`)."""
    step = last_step(patch.path, patch.resource["resourceType"])
    if step is None:
        raise patch.fail("does not end in an element name (or name[n], name.first(), "
                         "name.last())")
    return step


def _choice_key(holder: dict, name: str) -> str:
    """The JSON name `holder` has the choice element `name` by (`deceased` is
    `deceasedBoolean`), else `name`."""
    return next((key for key in holder if key.startswith(name) and key[len(name):][:1].isupper()),
                name)


def _refuse(patch: _Patch) -> Location:
    raise patch.fail("finds the resource itself, which cannot be deleted or replaced")


def _child_node(property_: Property | None) -> Node | None:
    """The definition of the children of a property's values: a primitive's are its id and
    extensions."""
    if property_ is None:
        return None
    if property_.node is not None:
        return property_.node
    try:
        return definition_tree(property_.type)
    except KeyError:
        return None


def _json_name(node: Node, name: str, value_part: dict) -> tuple[str, Property | None]:
    """The JSON name of element `name` for the value given: `deceased` with a valueBoolean is
    `deceasedBoolean` (http://hl7.org/fhir/R4/formats.html#choice)."""
    if name in node.choices:
        given = next((k for k in value_part if k.startswith("value") and k != "value"), "")
        key = name + given.removeprefix("value")
        return key, node.properties.get(key)
    return name, node.properties.get(name)


def _value(part: dict, node_of: Callable[[], Node | None], where: str) -> object:
    """A part's value: its `value[x]`, or an object of its named `part`s, whose element's
    definition `node_of` gives."""
    given = [k for k in part if k.startswith("value")]
    if len(given) == 1 and "part" not in part:
        return part[given[0]]
    children = part.get("part")
    if given or not isinstance(children, list) or not children:
        raise BadRequest(f"{where}: a value is one value[x] or parts naming its elements",
                         expression=where)
    node = node_of()
    result: dict = {}
    for child in children:
        name = child.get("name") if isinstance(child, dict) else None
        if not isinstance(name, str):
            raise BadRequest(f"{where}: each part of a value has a name", expression=where)
        key, child_property = _json_name(node, name, child) if node else (name, None)
        value = _value(child, partial(_child_node, child_property), where)
        if child_property is not None and child_property.element.repeats:
            result.setdefault(key, []).append(value)
        else:
            result[key] = value
    return result
