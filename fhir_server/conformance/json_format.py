"""FHIR JSON as the server reads and writes it (http://hl7.org/fhir/R4/json.html).

Decimals keep the precision they were written with: `0.010` is not `0.01`
(http://hl7.org/fhir/R4/datatypes.html#decimal), so `13.50` is answered as `13.50`.

A JSON number that a float writes back the same way stays a float (`7.2`, `6.0`); any other
(`13.50`, `1400.00`, more digits than a double holds) is parsed as a `Decimal`, which
MongoDB stores as a Decimal128 and the JSON writers write as it came.

An object that names a property twice is refused: readers differ on which value counts.
"""

import json
import math
from collections import Counter
from decimal import (
    Clamped,
    Context,
    Decimal,
    DecimalException,
    Inexact,
    InvalidOperation,
    Overflow,
    Rounded,
)
from typing import Any, TypeGuard

import orjson

from fhir_server.conformance.messages import Phrase, PhrasedError, phrase
from fhir_server.conformance.reading_messages import JSON_SYNTAX_PROBLEMS

# What a BSON Decimal128 holds (IEEE 754-2008 decimal128), the context bson itself uses: a
# number it would have to round (even a trailing zero away), or whose exponent is out of
# range, raises; so does a zero whose exponent it would clamp (`0E-7000` became `0E-6176`,
# another precision, while the response showed it as sent).
_DECIMAL128 = Context(prec=34, Emin=-6143, Emax=6144, clamp=1,
                      traps=[InvalidOperation, Overflow, Inexact, Rounded, Clamped])


def parse_number(text: str) -> float | Decimal:
    """`parse_float` for `json.loads`: the float when it reads back as `text`, else the
    exact Decimal; beyond a double's range (`1E309`) refused with ValueError.
    A number that no Decimal128 holds exactly (more than 34 significant digits, or an
    exponent beyond its range, e.g. `1e-7000` or `0e-7000`) is refused with ValueError:
    stored, it would silently become another number (FHIR asks for 18 digits)."""
    value = float(text)
    if not math.isfinite(value):
        # A Decimal128 would hold 1E309, but search compares doubles: refused, named.
        raise PhrasedError("json.beyond-double", number=text[:40])
    if orjson.dumps(value) == text.encode():
        return value
    exact = Decimal(text)
    if not decimal128_holds(exact):
        raise PhrasedError("json.decimal-too-precise", number=text[:40])
    return exact


def decimal128_holds(number: Decimal) -> bool:
    """Whether a Decimal128 (what MongoDB stores a decimal as) holds `number` exactly: its
    digits and its exponent as written."""
    try:
        _DECIMAL128.create_decimal(number)
    except DecimalException:
        return False
    return True


def parse_integer(text: str) -> int | Decimal:
    """`parse_int` for `json.loads`: a number without fraction of more than 34 digits is
    refused as a decimal of them is (and before Python's own limit of 4,300 digits answers
    with advice on its interpreter's settings); one beyond the 64 bits MongoDB stores an
    integer in is read as the decimal it can only be in FHIR (no integer type goes beyond
    32 bits), kept exactly as a Decimal128."""
    digits = len(text) - text.startswith("-")
    if digits > _DECIMAL128.prec:
        raise PhrasedError("json.integer-too-long", number=text[:40], digits=digits)
    value = int(text)
    return value if -(2**63) <= value < 2**63 else Decimal(text)


def unique_members(members: list[tuple[str, Any]]) -> dict[str, Any]:
    """`object_pairs_hook`: an object naming a property twice is refused (ValueError), not
    read as its last value, which a signer or another reader may not have taken."""
    document = dict(members)
    if len(document) != len(members):
        counts = Counter(name for name, _ in members)
        twice = next(name for name, count in counts.items() if count > 1)
        raise PhrasedError("json.property-twice", name=repr(twice))
    return document


def _no_constant(name: str) -> Any:
    """`parse_constant`: Python's json reads NaN and Infinity, which JSON has not (RFC 8259
    §6: "Numeric values that cannot be represented ... such as Infinity and NaN are not
    permitted")."""
    raise PhrasedError("json.not-a-value", name=name)


def loads(text: str | bytes) -> Any:
    """JSON, its decimals as `parse_number` reads them, a repeated property refused. Bytes
    are UTF-8 (json.html; a leading byte order mark is skipped), strictly: `json.loads`
    reads bytes as UTF-16 or UTF-32 too, and with `surrogatepass`, so an encoded surrogate
    (ED A0 80) became a lone surrogate that no later check expected (a 500 at signing).
    UnicodeDecodeError is a ValueError."""
    if isinstance(text, bytes):
        text = text.decode("utf-8-sig")
    return json.loads(text, parse_float=parse_number, parse_int=parse_integer,
                      object_pairs_hook=unique_members, parse_constant=_no_constant)


# What Python's JSON reader says is wrong (by its English words) → the message id.
_SYNTAX_PROBLEM_IDS = {english: message_id
                       for message_id, (english, _) in JSON_SYNTAX_PROBLEMS.items()}


def json_problem(error: ValueError) -> Phrase:
    """Why `loads` refused a text (what it raised), as the catalog words it: the syntax
    Python's reader found wrong and where, a byte that is no UTF-8, or what FHIR JSON
    refuses (a property twice, a number not kept exactly)."""
    if isinstance(error, PhrasedError):
        return error.phrase
    if isinstance(error, json.JSONDecodeError):
        problem = (phrase(_SYNTAX_PROBLEM_IDS[error.msg]) if error.msg in _SYNTAX_PROBLEM_IDS
                   else phrase("json.other-syntax", problem=error.msg))
        return phrase("json.syntax", problem=problem, line=error.lineno, column=error.colno,
                      position=error.pos)
    if isinstance(error, UnicodeDecodeError):
        return phrase("json.not-utf8", position=error.start)
    return phrase("json.unreadable", problem=str(error))


#: The smallest power of ten written out in full (`0.000...`); one below it keeps its
#: exponent (`1E-22`): `1E-6000` written out would be 6 KB of zeros.
_SMALLEST_WRITTEN_OUT = -20


def decimal_text(value: Decimal) -> str:
    """The JSON number of a Decimal, its digits as they came: `13.50`, `0.0000001`; with an
    exponent for one that had a positive one (`1E+3`) or whose leading digit is below
    10^-20 (`1E-22`, `1.000E-245`)."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and (exponent > 0 or value.adjusted() < _SMALLEST_WRITTEN_OUT):
        return str(value)
    return format(value, "f")


def is_number(value: object) -> TypeGuard[int | float | Decimal]:
    """A JSON number as the readers give it (a boolean is none)."""
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def as_decimal(value: int | float | Decimal) -> Decimal:
    """A JSON number as the decimal it was written as (a float by its shortest text), for
    comparing numbers read from different places: `0.10` equals a profile's `0.1`."""
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def json_equal(first: object, second: object) -> bool:
    """Equality of two JSON values as RFC 6902 §4.6 defines it: numbers "if their values are
    numerically equal", whatever digits wrote them and whichever reader kept them (`0.10`, a
    Decimal, is the float `0.1`: Python compares a Decimal with the float's binary value);
    strings and literals only with their like (`true` is no `1`); objects member by member,
    arrays item by item."""
    if is_number(first) and is_number(second):
        return as_decimal(first) == as_decimal(second)
    if isinstance(first, dict) and isinstance(second, dict):
        return first.keys() == second.keys() and all(
            json_equal(value, second[name]) for name, value in first.items())
    if isinstance(first, list) and isinstance(second, list):
        return len(first) == len(second) and all(map(json_equal, first, second))
    return type(first) is type(second) and first == second


def orjson_default(value: object) -> orjson.Fragment:
    """`default` for `orjson.dumps`: a Decimal written with its digits."""
    if isinstance(value, Decimal):
        return orjson.Fragment(decimal_text(value))
    raise TypeError(f"{type(value).__name__} is not JSON")


def canonical_json(value: dict | list) -> bytes:
    """JSON with sorted keys, the same text for equal values (FHIRPath's equality of objects,
    a set of matches without duplicates): by orjson, or the standard library for what orjson
    refuses (integers beyond 64 bits)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=float)
    except orjson.JSONEncodeError:
        return json.dumps(value, sort_keys=True, default=float).encode()


def dumps(value: Any, pretty: bool = False) -> bytes:
    """UTF-8 JSON, compact or indented by two spaces, decimals as they came. By orjson,
    several times faster than the standard library, which writes what orjson refuses:
    integers beyond 64 bits (the decimals of such a document then as floats)."""
    try:
        return orjson.dumps(value, default=orjson_default,
                            option=orjson.OPT_INDENT_2 if pretty else None)
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=False, indent=2 if pretty else None,
                          separators=None if pretty else (",", ":"), default=float).encode()
