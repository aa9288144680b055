"""Snapshots generated from differentials (http://hl7.org/fhir/R4/profiling.html#snapshot,
http://hl7.org/fhir/R4/elementdefinition.html).

The base definition's snapshot is copied, then each differential element is located in it
by its id (http://hl7.org/fhir/R4/elementdefinition.html#id) and merged onto it. Locating an
id creates what it names: the children of a data type (`Patient.identifier.system`, from the
type's StructureDefinition or the element's single `type.profile`), slices
(`Patient.identifier:cccd`, re-slices `:cccd/old`, placed after the sliced element's existing
slices and starting from its definition), and the type-specific name of a choice
(`Observation.valueQuantity` constrains `Observation.value[x]` to Quantity).
"""

import copy
import re
from collections.abc import Callable

from fhir_server.conformance.messages import Phrase, phrase
from fhir_server.conformance.snapshot_checks import (
    SnapshotError,
    check_cardinality,
    check_types,
)
from fhir_server.conformance.type_codes import CORE, choice_name
from fhir_server.errors import Unprocessable

# canonical URL → the snapshot elements of that StructureDefinition (SnapshotError or
# ProfileError when there is none).
SnapshotOf = Callable[[str], list[dict]]

# Properties that hold one value of a choice of types: a new one replaces the old.
_CHOICE_PROPERTIES = ("fixed", "pattern", "defaultValue", "minValue", "maxValue")
# Properties the differential adds to rather than replaces.
_ADDED = ("constraint", "condition", "mapping")
# Properties merged key by key.
_MERGED = ("binding", "slicing")
# What locates an element rather than constrains it.
_LOCATORS = ("id", "path", "sliceName")


class ProfileError(Unprocessable):
    """A profile the registry holds but cannot use: its snapshot cannot be generated (why:
    `reason`, which profiles built on it embed in theirs)."""

    def __init__(self, url: str, reason: Phrase):
        self.phrase = phrase("profile-no-snapshot", target=url, reason=reason)
        super().__init__(str(self.phrase))


def generate_snapshot(definition: dict, snapshot_of: SnapshotOf) -> list[dict]:
    """The snapshot elements of a StructureDefinition that has only a differential
    (http://hl7.org/fhir/R4/profiling.html#snapshot)."""
    base = definition.get("baseDefinition")
    differential = definition.get("differential", {}).get("element")
    if not isinstance(base, str) or not isinstance(differential, list):
        raise SnapshotError("profile.nothing-to-build-on")
    if definition.get("derivation") == "specialization":
        raise SnapshotError("profile.specialization")
    builder = _Builder(copy.deepcopy(snapshot_of(base)), snapshot_of)
    ids_at: dict[str, str] = {}
    for element in differential:
        builder.apply(element, _element_id(element, ids_at))
    return builder.elements


def _element_id(element: dict, ids_at: dict[str, str]) -> str:
    """The element's id, or the one its path and sliceName give (elementdefinition.html#id):
    an element without one is within the slice the differential last named on its path
    (`Observation.category.coding` after the slice `Observation.category:slice2` is that
    slice's). `ids_at` (path → the id last met there) is kept up to date."""
    path = element.get("path")
    if not isinstance(path, str):
        path = element.get("id") if isinstance(element.get("id"), str) else None
        if path is None:
            raise SnapshotError("profile.element-without-id", element=str(element))
    element_id = element.get("id")
    if not isinstance(element_id, str) or not _agrees(element_id, path):
        # None, or one that contradicts the path (IPS's `effective[x]:data-absent-reason`
        # of path `effective[x].extension`): the path says where the element is, as the
        # HL7 snapshot generator reads it.
        parent, _, name = path.rpartition(".")
        element_id = (ids_at.get(parent, parent) + "." + name if parent else name) + (
            f":{element['sliceName']}" if "sliceName" in element else "")
    for known in [known for known in ids_at if known.startswith(path + ".")]:
        del ids_at[known]  # the slices named under an earlier element at this path
    ids_at[path] = element_id
    return element_id


def _agrees(element_id: str, path: str) -> bool:
    """Whether an id names an element at `path`: the same names once slice names are
    dropped, a choice's path possibly renamed (`medication[x]:medicationReference` at
    `medicationReference`)."""
    named = re.sub(r":[^.]*", "", element_id).split(".")
    steps = path.split(".")
    return len(named) == len(steps) and all(
        name == step or name.endswith("[x]") and step.startswith(name[:-3])
        for name, step in zip(named, steps, strict=True))


def _within(element_id: str, root: str) -> bool:
    """Whether an id is a descendant or slice of `root`."""
    return element_id.startswith((root + ".", root + ":", root + "/"))


class _Builder:
    """The snapshot under construction: a list of elements in snapshot order."""

    def __init__(self, elements: list[dict], snapshot_of: SnapshotOf):
        self.elements = elements
        self.snapshot_of = snapshot_of
        self.new_slices: set[str] = set()  # the slices this differential makes

    def _index(self, element_id: str) -> int | None:
        return next((i for i, e in enumerate(self.elements) if e["id"] == element_id), None)

    def _element(self, element_id: str) -> dict:
        index = self._index(element_id)
        assert index is not None, element_id
        return self.elements[index]

    def apply(self, differential: dict, element_id: str) -> None:
        root, *segments = element_id.split(".")
        if root != self.elements[0]["id"]:
            raise SnapshotError("profile.element-of-another-type", element=element_id,
                                root=self.elements[0]["id"])
        current = root
        for segment in segments:
            name, _, slice_name = segment.partition(":")
            current = self._child(current, name, element_id)
            if slice_name:
                current = self._slice(current, slice_name)
        target = self._element(current)
        # A slice made here may allow more than the sliced element, up to its base's max
        # (HL7's profile-parameters-complex: `part` 3..5, a slice of it 1..10): the sliced
        # element's max still bounds its values together.
        widest = target.get("base", {}).get("max") if current in self.new_slices else None
        check_cardinality(target, differential, element_id, widest)
        check_types(target, differential, element_id)
        _merge(target, differential)

    def _child(self, parent_id: str, name: str, wanted: str) -> str:
        """The id of the child `name` of an element, unfolding the parent's children from
        its type when the snapshot does not list them yet."""
        child = f"{parent_id}.{name}"
        if self._index(child) is None and not self._has_children(parent_id):
            self._unfold(parent_id)
        if self._index(child) is not None:
            return child
        renamed = self._choice(parent_id, name)
        if renamed is not None:
            return renamed
        types = self._element(parent_id).get("type", [])
        if len(types) > 1:
            codes = ", ".join(t["code"] for t in types)
            raise SnapshotError("profile.children-of-choice", parent=parent_id, codes=codes)
        raise SnapshotError("profile.not-in-base", wanted=wanted, child=child)

    def _has_children(self, element_id: str) -> bool:
        index = self._index(element_id)
        assert index is not None
        following = self.elements[index + 1:index + 2]
        return bool(following) and following[0]["id"].startswith(element_id + ".")

    def _choice(self, parent_id: str, name: str) -> str | None:
        """`Observation.valueQuantity`: the choice element `value[x]`, constrained to the
        type its name gives (http://hl7.org/fhir/R4/profiling.html#choice)."""
        for element in self.elements:
            stem = element["id"].removeprefix(parent_id + ".")
            if (element["id"].startswith(parent_id + ".") and stem.endswith("[x]")
                    and "." not in stem and ":" not in stem):
                types = [t for t in element.get("type", ())
                         if choice_name(stem[:-3], t["code"]) == name]
                if types:
                    element["type"] = types
                    return element["id"]
        return None

    def _slice(self, sliced_id: str, slice_name: str) -> str:
        """The id of a slice (or re-slice `a/b`) of an element, created from the sliced
        element's definition after its existing slices when new. A slice is optional unless
        the differential says otherwise, as the IG Publisher's snapshots have it: the sliced
        element's `min` counts all its slices together (two type slices of a 1..1
        `value[x]` each 1..1 would need both types at once)."""
        slice_id = f"{sliced_id}:{slice_name}"
        if self._index(slice_id) is not None:
            return slice_id
        parent_slice, _, _ = slice_name.rpartition("/")
        origin_id = f"{sliced_id}:{parent_slice}" if parent_slice else sliced_id
        origin = self._index(origin_id)
        if origin is None:
            raise SnapshotError("profile.reslice-of-no-slice", slice=slice_id, origin=origin_id)
        new = {k: copy.deepcopy(v) for k, v in self.elements[origin].items() if k != "slicing"}
        new |= {"id": slice_id, "sliceName": slice_name, "min": 0}
        self.new_slices.add(slice_id)
        end = origin + 1
        while end < len(self.elements) and _within(self.elements[end]["id"], origin_id):
            end += 1
        self.elements.insert(end, new)
        return slice_id

    def _unfold(self, parent_id: str) -> None:
        """Insert the children of an element after it: those of the element it refers to
        (contentReference), of the element it is a slice of, of its single profile, or of
        its single type (http://hl7.org/fhir/R4/profiling.html#snapshot)."""
        index = self._index(parent_id)
        assert index is not None
        parent = self.elements[index]
        children = self._children_of(parent, parent_id)
        self.elements[index + 1:index + 1] = children

    def _children_of(self, parent: dict, parent_id: str) -> list[dict]:
        if "contentReference" in parent:
            target_path = parent["contentReference"].lstrip("#")
            target = self._element(target_path)
            parent.pop("contentReference")
            parent["type"] = copy.deepcopy(target.get("type", [{"code": "BackboneElement"}]))
            return self._copies(target_path, parent_id, parent["path"], rename_paths=True)
        sliced_id, _, slice_name = parent_id.rpartition(":")
        if slice_name and "." not in slice_name:
            origin_id = (f"{sliced_id}:{slice_name.rpartition('/')[0]}" if "/" in slice_name
                         else sliced_id)
            copies = self._copies(origin_id, parent_id, parent["path"], rename_paths=False)
            if copies:
                return copies
        types = parent.get("type", [])
        if not types:
            raise SnapshotError("profile.children-of-choice", parent=parent_id, codes="none")
        # Of several types, the children all of them have: Element's `id` and `extension`
        # (IPS constrains the extensions of a MedicationStatement's `effective[x]`).
        profiles = types[0].get("profile", []) if len(types) == 1 else []
        source = (profiles[0] if len(profiles) == 1 else CORE + types[0]["code"]
                  if len(types) == 1 else CORE + "Element")
        elements = self.snapshot_of(source)
        root = elements[0]["id"]
        return [_rerooted(e, root, parent_id, parent["path"]) for e in elements[1:]]

    def _copies(self, origin_id: str, parent_id: str, parent_path: str,
                rename_paths: bool) -> list[dict]:
        """Copies of the descendants of `origin_id`, re-rooted at `parent_id`."""
        origin_path = self._element(origin_id)["path"]
        copies = []
        for element in self.elements:
            if element["id"].startswith(origin_id + "."):
                new = copy.deepcopy(element)
                new["id"] = parent_id + element["id"][len(origin_id):]
                if rename_paths:
                    new["path"] = parent_path + element["path"][len(origin_path):]
                copies.append(new)
        return copies


def _rerooted(element: dict, root: str, parent_id: str, parent_path: str) -> dict:
    """A data type's element as a child of `parent_id` (Quantity.unit → X.value[x].unit)."""
    new = copy.deepcopy(element)
    new["id"] = parent_id + element["id"][len(root):]
    new["path"] = parent_path + element["path"][len(element["path"].split(".")[0]):]
    return new


def _merge(target: dict, differential: dict) -> None:
    """Constrain a snapshot element by a differential one: constraints and conditions are
    added, binding and slicing merged, everything else replaced."""
    for key, value in differential.items():
        if key in _LOCATORS:
            continue
        if key in _ADDED:
            existing = target.setdefault(key, [])
            keyed = {item.get("key") if isinstance(item, dict) else item for item in existing}
            existing += [copy.deepcopy(v) for v in value
                         if (v.get("key") if isinstance(v, dict) else v) not in keyed]
        elif key in _MERGED and isinstance(target.get(key), dict):
            target[key] = target[key] | copy.deepcopy(value)
        else:
            if key.startswith(_CHOICE_PROPERTIES):
                group = next(p for p in _CHOICE_PROPERTIES if key.startswith(p))
                for old in [k for k in target if k.startswith(group)]:
                    del target[old]
            target[key] = copy.deepcopy(value)
