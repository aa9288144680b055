"""Where the elements a FHIRPath Patch path (`fhirpath_patch`) names are in the resource's
JSON. A path ending in a member (`name`, `name[n]`, `name.first()`, `name.last()`) is walked
member by member, so that a primitive is found where it is, not by its value: an item of a
repeating primitive with an id or extensions and no value (`"given": [null, "B"]` beside
`"_given": [{"extension": [...]}, null]`, json.html#primitive) is an element of the
collection (fhirpath.html), counted by `given[n]` as by insert and move; and a member of a
collection of several (`Patient.name.given[1]`) is indexed over all of them, as FHIRPath
flattens collections. The steps before the last are found alike, or, where one is a function
or an operator (`where()`, `extension('url')`, `as`), by the FHIRPath evaluator: objects.
"""

import re
from collections.abc import Callable

from fhir_server.conformance.primitives import is_digits

# Where a primitive is: (the object holding it, its JSON name, its place in the array or
# None); an object is itself.
Location = tuple[dict, str, int | None]
Element = dict | Location

_SELECTORS = {"first()": 0, "last()": -1}
# A step of a chain of invocations, with what its parentheses hold left out (`_skeleton`).
_CHAIN_STEP = re.compile(r"(%?\w+|\w*\(\))(\[\d+\])?")


def steps(path: str) -> list[str]:
    """The top-level steps of a path, split at dots outside parentheses and quotes."""
    found, current, depth, quoted = [], "", 0, False
    for char in path:
        if char == "'":
            quoted = not quoted
        elif not quoted and char in "()":
            depth += 1 if char == "(" else -1
        if char == "." and depth == 0 and not quoted:
            found.append(current.strip())
            current = ""
        else:
            current += char
    return [*found, current.strip()]


def _skeleton(step: str) -> str:
    """`step` without what its parentheses and quotes hold: `where()` for `where(a = 'b')`."""
    kept, depth, quoted = [], 0, False
    for char in step:
        if char == "'":
            quoted = not quoted
        elif not quoted:
            depth -= char == ")"
            if depth == 0:
                kept.append(char)
            depth += char == "("
    return "".join(kept)


def last_step(path: str, resource_type: str) -> tuple[str, str, int | None] | None:
    """(parent path, element name, index: -1 the last) of a chain of steps ending in `name`,
    `name[n]`, `name.first()` or `name.last()`; None for another path (the resource itself,
    a function or an operator at the end, a union)."""
    parts = steps(path)
    if not all(_CHAIN_STEP.fullmatch(_skeleton(part)) for part in parts):
        return None
    selected = _SELECTORS.get(parts.pop()) if len(parts) > 1 and parts[-1] in _SELECTORS else None
    if len(parts) == 1:  # `gender`: an element of the resource itself
        parts = [resource_type, *parts]
    name, _, index = parts[-1].partition("[")
    if not name.isidentifier() or not name[0].islower():
        return None
    if index and (selected is not None or not is_digits(index[:-1])):
        return None
    return ".".join(parts[:-1]), name, int(index[:-1]) if index else selected


def holders(elements: list[Element]) -> list[dict]:
    """What holds the children of each element: an object itself, a primitive its `_name`
    object (json.html#primitive), which it may not have."""
    found = []
    for element in elements:
        if isinstance(element, dict):
            found.append(element)
            continue
        holder, key, position = element
        shadow = holder.get(f"_{key}")
        if position is not None:
            shadows = shadow if isinstance(shadow, list) else []
            shadow = shadows[position] if position < len(shadows) else None
        if isinstance(shadow, dict):
            found.append(shadow)
    return found


def members(holders_: list[dict], json_name: Callable[[dict], str],
            selected: int | None) -> list[Element]:
    """The elements the holders have by the JSON name `json_name` gives for each, in order,
    valued or not; `selected`, the one at that index (-1 the last) of them all."""
    found: list[Element] = []
    for holder in holders_:
        key = json_name(holder)
        value, shadow = holder.get(key), holder.get(f"_{key}")
        if isinstance(value, list):
            shadows = shadow if isinstance(shadow, list) else []
            found += [item if isinstance(item, dict) else (holder, key, position)
                      for position, item in enumerate(value)
                      if item is not None
                      or (position < len(shadows) and isinstance(shadows[position], dict))]
        elif value is not None or isinstance(shadow, dict):
            found.append(value if isinstance(value, dict) else (holder, key, None))
    return found if selected is None else found[selected:][:1]


def holder_of(tree: object, target: dict) -> Location | None:
    """Where the object `target` (by identity) sits in `tree`."""
    stack = [tree]
    while stack:
        current = stack.pop()
        items = current.items() if isinstance(current, dict) else ()
        for key, value in items:
            if value is target:
                return current, key, None  # type: ignore[return-value]
            if isinstance(value, list):
                for position, item in enumerate(value):
                    if item is target:
                        return current, key, position  # type: ignore[return-value]
                    stack.append(item)
            else:
                stack.append(value)
    return None
