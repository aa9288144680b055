"""The JSON of a resource a FHIRPath Patch changes (`fhirpath_patch`), kept valid FHIR JSON
(http://hl7.org/fhir/R4/json.html): no empty object or array, and the `_name` of each
primitive in step with its value. That object holds the primitive's id and extensions; a
repeating primitive's `_name` is an array beside its values, item by item, with null where an
item has none, and a null value where an item has its id or extensions alone
(json.html#primitive)."""

from collections.abc import Callable

_EXTENSIONS = ("extension", "modifierExtension")


def element_object(holder: dict, key: str, position: int | None) -> dict:
    """The `_key` object of the primitive `holder[key]` (of its item at `position`), made if
    it has none: where an id or an extension of it goes."""
    shadow_key = f"_{key}"
    if position is None:
        if not isinstance(holder.get(shadow_key), dict):
            holder[shadow_key] = {}
        return holder[shadow_key]
    shadow = holder.get(shadow_key)
    if not isinstance(shadow, list):
        shadow = holder[shadow_key] = []
    shadow += [None] * (len(holder[key]) - len(shadow))
    if not isinstance(shadow[position], dict):
        shadow[position] = {}
    return shadow[position]


def shift_shadow(parent: dict, name: str, change: Callable[[list], None], added: int) -> None:
    """A repeating primitive's `_name` changed as its values were (`added` items more), so
    that each item's id and extensions stay with its value; one shorter than the values was
    is padded with null first."""
    shadow = parent.get(f"_{name}")
    if not isinstance(shadow, list):
        return
    shadow += [None] * (len(parent[name]) - added - len(shadow))
    change(shadow)
    del shadow[len(parent[name]):]


def _bare_extension(item: object) -> bool:
    """An extension left with its url alone: its value was deleted, and it says nothing."""
    return isinstance(item, dict) and set(item) <= {"url", "id"}


def prune(tree: dict) -> bool:
    """Drop the objects and arrays a deletion left empty (`contact[0].name` once its only
    `text` is gone: the official "Delete Nested Primitive #2"), as FHIR JSON has none;
    whether `tree` itself is left empty. An item of a `_name` array left empty is null, and
    the array goes once it holds nulls only."""
    for key in list(tree):
        value = tree[key]
        if isinstance(value, dict) and prune(value):
            tree.pop(key)
        elif isinstance(value, list):
            if key.startswith("_"):
                value[:] = [None if isinstance(item, dict) and prune(item) else item
                            for item in value]
            else:
                value[:] = [item for item in value
                            if not (isinstance(item, dict) and prune(item))
                            and not (key in _EXTENSIONS and _bare_extension(item))]
            if not value:
                tree.pop(key)
    for key in [key for key, value in tree.items() if key[:1] == "_" and isinstance(value, list)]:
        _drop_empty_items(tree, key[1:])
    return not tree


def _drop_empty_items(tree: dict, name: str) -> None:
    """The items of a repeating primitive with neither a value nor an id or extension go from
    both arrays; a `_name` array of nulls only goes."""
    values, shadow = tree.get(name), tree[f"_{name}"]
    if isinstance(values, list) and len(values) == len(shadow):
        kept = [index for index, pair in enumerate(zip(values, shadow, strict=True))
                if pair != (None, None)]
        values[:] = [values[index] for index in kept]
        shadow[:] = [shadow[index] for index in kept]
        if not values:
            tree.pop(name)
    if all(item is None for item in shadow):
        tree.pop(f"_{name}")
