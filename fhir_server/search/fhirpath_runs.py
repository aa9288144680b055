"""The runs a compiled FHIRPath expression (`search.fhirpath`) is made of, each over the
collection before it: member access, the indexer, the memo the types of a choice element
share, and the elements of primitives.

In FHIRPath a primitive has `id` and `extension` children (http://hl7.org/fhir/R4/
fhirpath.html); in JSON they are in the `_name` object beside its value, or at the same place
of the `_name` array of a repeating one, null where an item has none
(http://hl7.org/fhir/R4/json.html#primitive). A primitive's elements run yields one
(value, `_name` object) pair per element, in JSON order; either is None where the element has
none (a value of the wrong JSON class is none). So `given[1].extension` is that of the second
item of `given` and `_given`, valued or not, as a FHIRPath Patch changes it; `given[1]` itself
is the second value (search skips an item without one).
"""

from collections.abc import Callable
from itertools import zip_longest

Run = Callable[[list, dict], list]
"""A compiled step: (input collection, root resource) -> output collection of JSON values."""

# What a primitive holds beside its value (Element's children).
ELEMENT_CHILDREN = frozenset({"id", "extension"})


def identity(items: list, root: dict) -> list:
    return items


def member(prev: Run, key: str, classes: tuple[type, ...]) -> Run:
    """Member access (http://hl7.org/fhirpath/#path-selection); inputs are JSON objects, and
    outputs only values of `classes`, the JSON classes of the element's type."""

    def run(items: list, root: dict) -> list:
        out = []
        for item in prev(items, root):
            value = item.get(key)
            if value.__class__ is list:
                out.extend([v for v in value if v.__class__ in classes])
            elif value.__class__ in classes:
                out.append(value)
        return out

    return run


def indexed(prev: Run, position: int) -> Run:
    """`[n]` (http://hl7.org/fhirpath/#index-integer-collection): one item of the collection
    so far; -1, the last."""

    def run(items: list, root: dict) -> list:
        return prev(items, root)[position:][:1]

    return run


class Memo:
    """A run that the several branches of a choice element (`Extension.value` has about
    fifty) evaluate in turn on the same input: it runs once for all of them instead of once
    per type. `compile_path`'s evaluation forgets the result when it ends, so that no
    resource is kept."""

    __slots__ = ("run", "last")

    def __init__(self, run: Run):
        self.run = run
        self.last: tuple[list, dict, list] | None = None

    def __call__(self, items: list, root: dict) -> list:
        cached = self.last  # one read: another thread may evaluate the expression meanwhile
        if cached is not None and cached[0] is items and cached[1] is root:
            return cached[2]
        result = self.run(items, root)
        self.last = (items, root, result)
        return result


def primitive_elements(prev: Run, key: str, classes: tuple[type, ...]) -> Run:
    """The elements of the primitive `key` of the objects `prev` yields, as pairs."""
    shadow_key = f"_{key}"

    def run(items: list, root: dict) -> list:
        out: list[tuple[object, dict | None]] = []
        for item in prev(items, root):
            value, shadow = item.get(key), item.get(shadow_key)
            if value.__class__ is list or shadow.__class__ is list:
                values = value if value.__class__ is list else []
                shadows = shadow if shadow.__class__ is list else []
                out += [_pair(v, s, classes) for v, s in zip_longest(values, shadows)]
            elif value is not None or shadow is not None:
                out.append(_pair(value, shadow, classes))
        return out

    return run


def _pair(value: object, shadow: object, classes: tuple[type, ...]
          ) -> tuple[object, dict | None]:
    return (value if value.__class__ in classes else None,
            shadow if isinstance(shadow, dict) else None)


def element_objects(elements: Run) -> Run:
    """The `_name` objects of the elements, which their `id` and `extension` are read from."""

    def run(items: list, root: dict) -> list:
        return [shadow for _, shadow in elements(items, root) if shadow is not None]

    return run

