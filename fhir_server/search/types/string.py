"""String search parameters (http://hl7.org/fhir/R4/search.html#string).

Each part of a value (HumanName family, given..., Address city, line...) is indexed twice:
`f:` + its folded form, for the default starts-with and `:contains`, and `e:` + the exact
text, for `:exact`. Both live in the one `search.<code>` array, so one index serves all.
"""

import functools
import re
import unicodedata

from fhir_server.search.collation import vietnamese_sort_key
from fhir_server.search.fhirpath import Node
from fhir_server.search.types import Criterion
from fhir_server.search.values import unescape

# Letters that NFD does not decompose into a base letter plus marks.
_UNDECOMPOSED = str.maketrans(
    {
        "đ": "d",
        "Đ": "d",
        "ð": "d",
        "ø": "o",
        "Ø": "o",
        "ł": "l",
        "Ł": "l",
        "ħ": "h",
        "ı": "i",
        "æ": "ae",
        "Æ": "ae",
        "œ": "oe",
    }
)
_SPACES = re.compile(r"\s+")

# Parts of the complex types searched as strings. ContactDetail by its name: the value of
# the extensions pack's `valueset-author`, which its ValueSet `author` string parameter
# searches.
_PARTS = {
    "HumanName": ("text", "family", "given", "prefix", "suffix"),
    "Address": ("text", "line", "city", "district", "state", "postalCode", "country"),
    "ContactDetail": ("name",),
}
MODIFIERS = ("exact", "contains", "missing")


# Texts up to this long are folded once and remembered: codes' displays, names and
# addresses repeat across resources (every AuditEvent has the same few displays).
_REMEMBERED_LENGTH = 200


def fold(text: str) -> str:
    """Case- and accent-insensitive form: Vietnamese `Nguyễn Thị Ánh` → `nguyen thi anh`."""
    return _remembered_fold(text) if len(text) <= _REMEMBERED_LENGTH else _fold(text)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.casefold().translate(_UNDECOMPOSED))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPACES.sub(" ", bare.casefold()).strip()


_remembered_fold = functools.lru_cache(maxsize=16384)(_fold)


def _texts(node: Node) -> list[str]:
    value = node.value
    if isinstance(value, str):
        return [value]
    if not isinstance(value, dict):
        return []
    texts = []
    for part in _PARTS.get(node.type or "", ()):
        item = value.get(part)
        items = item if isinstance(item, list) else [item]
        texts += [i for i in items if isinstance(i, str)]
    if node.type == "HumanName":
        family, given = value.get("family"), value.get("given")
        if isinstance(family, str) and isinstance(given, list) and given:
            # Vietnamese order (family first) and Western order, so a whole name matches.
            words = [g for g in given if isinstance(g, str)]
            texts += [" ".join([family, *words]), " ".join([*words, family])]
    return texts


def index(nodes: list[Node]) -> list[str]:
    entries: set[str] = set()
    for node in nodes:
        for text in _texts(node):
            entries.add("e:" + unicodedata.normalize("NFC", text))
            if folded := fold(text):
                entries.add("f:" + folded)
    return sorted(entries)


def sort_range(entries: list[str]) -> tuple[str, str] | None:
    """The values `_sort` orders by, ascending and descending: of the exact texts (spaces
    collapsed), in Vietnamese alphabetical order (`collation.py`)."""
    values = [vietnamese_sort_key(words) for entry in entries if entry.startswith("e:")
              if (words := " ".join(entry[2:].split()))]
    return (min(values), max(values)) if values else None


def names_no_text(value: str) -> bool:
    """Whether a search value (its escapes kept) folds to nothing: blank, or combining marks
    alone (`%CC%81`), which fold away. As a prefix of the folded texts it would match every
    one, so the compiler leaves it out as it leaves out `name=`."""
    return not fold(unescape(value))


def folded_search_text(value: str) -> str:
    """A search value's folded form, matched against the folded entries (`f:`, token `t:`);
    ValueError for one that `names_no_text` (a composite's string part)."""
    folded = fold(unescape(value))
    if not folded:
        raise ValueError(f"'{value}' names no text: it folds to nothing")
    return folded


def compile_value(criterion: Criterion, value: str) -> dict:
    field = criterion.field
    if criterion.modifier == "exact":
        return {field: "e:" + unicodedata.normalize("NFC", unescape(value))}
    folded = re.escape(folded_search_text(value))
    if criterion.modifier == "contains":
        return {field: {"$regex": f"^f:.*{folded}"}}
    return {field: {"$regex": f"^f:{folded}"}}
