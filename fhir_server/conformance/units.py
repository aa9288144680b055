"""UCUM quantities in their base units, so that quantity search compares values across
commensurable units (http://hl7.org/fhir/R4/search.html#quantity: "if a system of units is
used, the server SHOULD compare in canonical units"): `1 g` is found by `ge900|UCUM|mg`.

Whether a code is UCUM is read by `ucumvert` (its grammar of UCUM, with `pint`); its base
form comes from UCUM's own definitions (`ucum_essence.py`): pint's differ for about twenty
units. A unit converts as an affine map (Celsius has an offset); logarithmic units (pH,
decibels) and unknown codes have no base form and are compared by their code only.
"""

import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from fhir_server.conformance.ucum_essence import Canonical, NotConvertible, canonical
from fhir_server.conformance.unit_reading import (
    MOST_NEW_CODES_PER_REQUEST,
    MOST_NEW_CODES_PER_SEARCH,
    may_read_new,
)

UCUM = "http://unitsofmeasure.org"


@dataclass(frozen=True)
class BaseForm:
    """How values in one UCUM unit are written in base units."""

    key: str  # the base units, with any arbitrary units ([IU]) the code holds
    to_base: Callable[[float], float]


# ucumvert and pint are not thread-safe: threads making the registry or reading codes at
# once (the event loop and the threads large resources are indexed in) made each other's
# codes fail, and the failures were cached for the life of the process (`mg` no UCUM).
# Reading a code with them (`is_ucum`) holds this lock; base forms need neither.
_PINT = threading.RLock()


@cache
def _registry() -> Any:
    from ucumvert import PintUcumRegistry  # half a second to load: only when first needed

    with _PINT:
        return PintUcumRegistry()


# Quantity and the types that are Quantities (http://hl7.org/fhir/R4/datatypes.html#quantity).
QUANTITY_TYPES = frozenset({"Quantity", "Age", "Count", "Distance", "Duration", "MoneyQuantity",
                            "SimpleQuantity"})
_ANNOTATION = re.compile(r"\{[^{}]*\}")
# A number of four digits or more in a code (`10*1000000000`, `kg99999`): pint would compute
# its power exactly, an integer of up to a billion digits, for seconds to hours on the event
# loop. No unit of care needs one; such a code is compared by its code only.
_HUGE_NUMBER = re.compile(r"[0-9]{4,}")


# Longer than any unit of care, once its annotations are left out: such a code is no UCUM
# unit here. Reading one costs about 0.2 ms a character, on the event loop for searches.
_LONGEST_CODE = 128


def _bare(code: str) -> str:
    """The code with each annotation's text left out: annotations mean nothing to the unit
    (`{# of fetuses}` is 1), so codes that differ only in them are read once, not once for
    each annotation a client makes up."""
    return _ANNOTATION.sub("{a}", code)


def is_ucum(code: str) -> bool | None:
    """Whether a code is a UCUM expression; None where the grammar read it but the units
    could not be made (special units such as [pH]), or where it may not be read now (see
    `unit_reading.may_read_new`). Annotations are taken with any text (HL7's UCUM value set has
    `{# of fetuses}`, with spaces UCUM's grammar leaves out)."""
    bare = _bare(code)
    if len(bare) > _LONGEST_CODE:
        return False
    if bare in _CHECKED:
        return _CHECKED[bare]
    if not may_read_new():
        return None
    valid = _is_ucum(bare)
    _remember(_CHECKED, bare, valid)
    return valid


def _is_ucum(bare: str) -> bool | None:
    from ucumvert import InvalidUcumError

    with _PINT:
        try:
            _registry().from_ucum(bare)
        except InvalidUcumError:
            return False
        except Exception:  # ucumvert's and pint's errors beyond the grammar
            return None
    return True


def base_form(code: str, most: int = MOST_NEW_CODES_PER_REQUEST) -> BaseForm | None:
    """The base form of a UCUM code; None when it has none here (or may not be read now:
    past `most` codes not read before in this request)."""
    bare = _bare(code)
    if len(bare) > _LONGEST_CODE or _HUGE_NUMBER.search(_ANNOTATION.sub("", code)):
        return None
    if bare in _READ:
        return _READ[bare]
    if not may_read_new(most):
        return None
    found = _base_form(bare)
    _remember(_READ, bare, found)
    return found


# What each code read so far is (reading one takes 1 to 50 ms of CPU), and whether each
# code checked so far is UCUM; each of at most _MOST_REMEMBERED codes, so that made-up codes
# sent without end cost bounded memory (the others are read again when met).
_READ: dict[str, BaseForm | None] = {}
_CHECKED: dict[str, bool | None] = {}
_MOST_REMEMBERED = 100_000


def _remember(cache: dict, bare: str, value: object) -> None:
    if len(cache) < _MOST_REMEMBERED:
        cache[bare] = value


def searched_base_form(code: str) -> BaseForm | None:
    """`base_form` of a searched value, of the codes read so far only: the search's codes
    not read before were read, as many as it may, off the event loop (`read_searched`);
    the others are compared as written."""
    bare = _bare(code)
    return _READ.get(bare) if len(bare) <= _LONGEST_CODE else None


def unread(codes: list[str]) -> list[str]:
    """The codes not read before (nor too long to be units)."""
    return [code for code in codes
            if (bare := _bare(code)) not in _READ and len(bare) <= _LONGEST_CODE]


def read_searched(codes: list[str]) -> None:
    """Read the searched codes not read before, as many as the request may
    (MOST_NEW_CODES_PER_SEARCH): in the units thread (`unit_reading.in_units_thread`)."""
    for code in unread(codes):
        base_form(code, MOST_NEW_CODES_PER_SEARCH)


def _base_form(code: str) -> BaseForm | None:
    try:
        found = canonical(code)
    except NotConvertible:
        return None
    return BaseForm(found.key(), lambda value: _in_base(found, value))


def _in_base(found: Canonical, value: float) -> float:
    """`value` in the base units, to 12 significant digits: 5.4 mg and 0.0054 g must be the
    same number in g. One too small for a double there (1e-320 ug is 1e-329 g) is the
    smallest double of its sign, as such numbers are indexed (search/types/number.py), not
    0, which `gt0` would miss."""
    scaled = found.factor * value
    if scaled == 0 and value != 0:
        scaled = math.copysign(math.ulp(0.0), scaled)
    return float(f"{scaled + found.offset:.12g}")
