"""Primitive values in FHIR JSON: their JSON type and their format, read from the primitive
types' StructureDefinitions (http://hl7.org/fhir/R4/datatypes.html#primitive,
http://hl7.org/fhir/R4/json.html#primitive)."""

import datetime
import math
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from fhir_server.conformance.definitions import registry
from fhir_server.conformance.json_format import is_number

REGEX = "http://hl7.org/fhir/StructureDefinition/regex"
#: A FHIR id (datatypes.html#id), to build the patterns of references and URLs from; the
#: tests check it against the regex of the `id` StructureDefinition.
ID_REGEX = r"[A-Za-z0-9\-.]{1,64}"
# The JSON type of each primitive (json.html#primitive); every other primitive is a string.
_JSON_KINDS = {
    "boolean": "boolean",
    "integer": "integer",
    "positiveInt": "integer",
    "unsignedInt": "integer",
    "decimal": "number",
}
# integer is a 32-bit signed integer; positiveInt and unsignedInt share its upper bound
# (datatypes.html#integer); the StructureDefinitions give the range only on integer itself.
_INTEGER_RANGE = (-(2**31), 2**31 - 1)
_INT64_RANGE = (-(2**63), 2**63 - 1)
_NOT_BASE64 = str.maketrans("", "", string.ascii_letters + string.digits + "+/=" + " \t\n\r\f\v")
# What a value of these types looks like, for the messages.
_FORMATS = {
    "date": "YYYY, YYYY-MM or YYYY-MM-DD",
    "dateTime": "YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss+zz:zz (a time needs a zone)",
    "instant": "YYYY-MM-DDThh:mm:ss.sss+zz:zz (with a time zone)",
    "time": "hh:mm:ss",
    "id": "1 to 64 of the characters A-Z a-z 0-9 - .",
    "code": "no leading, trailing or double whitespace",
    "uri": "no whitespace",
    "url": "no whitespace",
    "canonical": "no whitespace",
    "oid": "urn:oid:1.2.3",
    "uuid": "urn:uuid: and a lower-case UUID",
    "base64Binary": "base64",
    "integer": "-2147483648 to 2147483647",
    "positiveInt": "1 to 2147483647",
    "unsignedInt": "0 to 2147483647",
}
_SHOWN_LENGTH = 60
# An absolute URI begins with its scheme (RFC 3986 §3.1: `http:`, `urn:`).
ABSOLUTE_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
# JSON's `"\ud800"` escape decodes to a lone surrogate: no Unicode character, so no FHIR
# string (datatypes.html#string), and neither UTF-8 nor BSON can encode it.
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
# datatypes.html#string: no character below U+0020 but tab, LF and CR. XML 1.0 cannot carry
# one, nor the noncharacters U+FFFE and U+FFFF: a resource holding one could not be read,
# searched or exported as XML (and every XML page it fell on would fail).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def shape_excess(document: object, max_depth: int,
                 max_elements: int | None = None) -> tuple[str, int] | None:
    """One pass over parsed JSON: ("depth", max_depth) if it nests objects and arrays more
    than `max_depth` levels deep, ("elements", n) for an array of n > `max_elements`
    elements, else None."""
    stack = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return "depth", max_depth
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            if max_elements is not None and len(node) > max_elements:
                return "elements", len(node)
            stack.extend((child, depth + 1) for child in node)
    return None


def lone_surrogate(document: object, raw: bytes) -> str | None:
    """Where the first name or string holding a lone surrogate is in `document`, parsed from
    the JSON text `raw` (`name[0].family`), or None. Text without a surrogate escape has
    none, so most bodies are not walked."""
    if not _SURROGATE_ESCAPE.search(raw):
        return None
    stack: list[tuple[object, str]] = [(document, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str) and _SURROGATE.search(node):
            return path or "(the body)"
        if isinstance(node, dict):
            for key, child in node.items():
                if _SURROGATE.search(key):  # shown with U+FFFD, which can be sent
                    key = _SURROGATE.sub("\ufffd", key)
                    return f"{path}.{key}" if path else key
                where = f"{path}.{key}" if path else key
                stack.append((child, where))
        elif isinstance(node, list):
            stack.extend((child, f"{path}[{index}]") for index, child in enumerate(node))
    return None


# The most digits of a count, offset or version number: 19 make every 64-bit integer.
_MOST_DIGITS = 19


def is_id(text: str) -> bool:
    """A FHIR id (http://hl7.org/fhir/R4/datatypes.html#id): `_history`, `_search` are none."""
    return _ID.fullmatch(text) is not None


_ID = re.compile(ID_REGEX)


def is_digits(text: str) -> bool:
    """A count-like number: ASCII digits only (`str.isdecimal` also takes `１` and `٣`, which
    `int` reads as 1 and 3), at most 19 of them (`int` refuses over 4,300, as a 500)."""
    return len(text) <= _MOST_DIGITS and text.isascii() and text.isdecimal()


def shown(value: object) -> str:
    """A value as a message shows it: its repr, cut when long; arrays and objects (of any
    depth) as [...] and {...}."""
    if isinstance(value, list | dict):
        return "[...]" if isinstance(value, list) else "{...}"
    # A JSON number as JSON writes it: decimals are read as Decimal, whose repr is Python's.
    text = str(value) if isinstance(value, Decimal) else repr(value)
    return text if len(text) <= _SHOWN_LENGTH else text[: _SHOWN_LENGTH - 4] + "...'"


@dataclass(frozen=True, slots=True)
class PrimitiveType:
    """The rules of one primitive type for a JSON value."""

    name: str
    json_kind: str
    matches: Callable[[str], object]
    max_length: int | None
    value_range: tuple[int, int]

    def has_json_kind(self, value: object) -> bool:
        """Whether `value` is of this type's JSON kind (string, number, ...), valid or not."""
        if self.json_kind == "boolean":
            return type(value) is bool
        if self.json_kind == "integer":
            return type(value) is int
        if self.json_kind == "number":
            return is_number(value)
        return type(value) is str

    def problem(self, value: object) -> str | None:
        """Why `value` is not a valid JSON value of this type, or None."""
        if self.json_kind == "boolean":
            return None if type(value) is bool else "a boolean is JSON true or false"
        if self.json_kind == "integer":
            if type(value) is not int:
                return f"{_article(self.name)} is a JSON number without a fraction"
            low, high = self.value_range
            if not low <= value <= high or not self.matches(str(value)):
                return f"expected {_FORMATS[self.name]}"
            return None
        if self.json_kind == "number":
            if not is_number(value):
                return "a decimal is a JSON number"
            if isinstance(value, int) and not _INT64_RANGE[0] <= value <= _INT64_RANGE[1]:
                # MongoDB stores integers of 64 bits at most; with an exponent it is a double.
                return "a decimal this large is stored only when written with an exponent (1e25)"
            return None if math.isfinite(value) else "a decimal is a finite number"
        if type(value) is not str:
            return f"{_article(self.name)} is a JSON string"
        if not value:
            return "a string must not be empty (leave the element out instead)"
        if (control := _CONTROL.search(value)) is not None:
            return (f"the character U+{ord(control.group()):04X} is no FHIR text: only tab, "
                    "LF and CR may come below U+0020, and U+FFFE and U+FFFF are no characters "
                    "XML can carry")
        if self.max_length is not None and len(value) > self.max_length:
            return f"longer than {self.max_length} characters"
        if not self.matches(value):
            return f"expected {_FORMATS.get(self.name, f'a valid {self.name}')}"
        if self.name in ("date", "dateTime", "instant") and not _is_calendar_date(value):
            return "not a date of the calendar"
        return None


def _article(name: str) -> str:
    return f"{'an' if name[0] in 'aeiouAEIOU' else 'a'} {name}"


def _is_calendar_date(value: str) -> bool:
    """The regexes allow 2021-02-30; a date must exist (datatypes.html#date)."""
    if len(value) < 10:
        return True
    try:
        datetime.date.fromisoformat(value[:10])
    except ValueError:
        return False
    return True


def _is_base64(value: str) -> bool:
    """The language of base64Binary's regex `(\\s*([0-9a-zA-Z\\+/=]){4}\\s*)+`, which
    backtracks exponentially on long invalid values: groups of 4 between whitespace."""
    parts = value.split()
    return not value.translate(_NOT_BASE64) and bool(parts) and all(
        len(part) % 4 == 0 for part in parts
    )


def _always(_: str) -> bool:
    return True


def _value_element(definition: dict) -> dict:
    return next(e for e in definition["snapshot"]["element"] if e["path"].endswith(".value"))


@cache
def primitive_type(name: str) -> PrimitiveType:
    """The rules of a primitive type of the registry (KeyError if `name` is not one)."""
    definition = registry().structure_definition(name)
    if definition is None or definition["kind"] != "primitive-type":
        raise KeyError(name)
    element = _value_element(definition)
    regex = next(
        (
            extension["valueString"]
            for entry in element.get("type", ())
            for extension in entry.get("extension", ())
            if extension["url"] == REGEX
        ),
        None,
    )
    matches: Callable[[str], object]
    if name == "base64Binary":
        matches = _is_base64
    elif regex:
        # Java regex semantics: \s and \S are ASCII only (no Unicode space is whitespace).
        matches = re.compile(regex, re.ASCII).fullmatch
    else:
        matches = _always
    return PrimitiveType(
        name=name,
        json_kind=_JSON_KINDS.get(name, "string"),
        matches=matches,
        max_length=element.get("maxLength"),
        value_range=(
            element.get("minValueInteger", _INTEGER_RANGE[0]),
            element.get("maxValueInteger", _INTEGER_RANGE[1]),
        ),
    )
