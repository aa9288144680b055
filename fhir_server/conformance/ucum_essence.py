"""UCUM units in UCUM's own base units, from UCUM's definitions (`ucum-essence.xml`, the file
ucumvert ships): each unit is a number of others down to the seven base units (m, s, g,
rad, K, C, cd), so that commensurable codes convert exactly as UCUM defines them. pint's
definitions, which ucumvert maps codes onto, differ for about twenty units of HL7's
`ucum-common` (`[Cal]` taken as 4.184 J, `'` a minute of time, `g%` a mass, `Bq` not `/s`).

The grammar (http://unitsofmeasure.org/ucum.html §2-§5): a term is components joined by
`.` and `/` (left to right, `/` first allowed), a component a unit symbol with an optional
signed exponent, a whole number, an annotation `{...}` (unity) or a parenthesised term; a
symbol is an atom or, of a metric atom, a prefix and the atom. Arbitrary units (`[IU]`)
are commensurable with themselves only: each is a dimension of its own. Special units are
affine for temperatures (Cel, [degF], [degRe]); the others (logarithms, [pH]) have no
base form here. Which codes are UCUM at all is the grammar's business (`units.is_ucum`).
"""

import math
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib.resources import files

_NS = "{http://unitsofmeasure.org/ucum-essence}"
# Kelvin = scale × value + offset, for the special units that are temperatures.
_TEMPERATURES = {"Cel": (1.0, 273.15), "[degF]": (5 / 9, 459.67 * 5 / 9),
                 "[degRe]": (1.25, 273.15)}
_EXPONENT = re.compile(r"(.+?)([+-]?[0-9]+)?")
_MOST_DEPTH = 64  # of definitions and parentheses: UCUM's own go a dozen deep
# A unit's factor in base units: a mole is 6e23; 10*308 would make any value in it infinite.
_MOST_FACTOR = 1e200


class NotConvertible(Exception):
    """The code has no base form here: malformed, unknown, or a special unit that is no
    affine map."""


@dataclass(frozen=True)
class Canonical:
    """A value in a unit is `factor` × value (+ `offset`) in the base units `dimensions`."""

    factor: float
    dimensions: tuple[tuple[str, int], ...]  # (base unit or arbitrary unit, exponent), sorted
    offset: float = 0.0

    def times(self, other: "Canonical", power: int = 1) -> "Canonical":
        if self.offset or other.offset:
            raise NotConvertible("a temperature with an offset is no factor of a term")
        exponents = dict(self.dimensions)
        for name, exponent in other.dimensions:
            exponents[name] = exponents.get(name, 0) + exponent * power
        try:
            factor = self.factor * other.factor ** power
        except OverflowError:
            factor = math.inf
        if not _MOST_FACTOR ** -1 <= factor <= _MOST_FACTOR:
            raise NotConvertible("a factor beyond what values in it may be multiplied by")
        return Canonical(factor, tuple(sorted((n, e) for n, e in exponents.items() if e)))

    def key(self) -> str:
        return ".".join(f"{name}{exponent if exponent != 1 else ''}"
                        for name, exponent in self.dimensions) or "1"


_UNITY = Canonical(1.0, ())


@dataclass(frozen=True)
class _Unit:
    metric: bool
    arbitrary: bool
    special: bool
    value: float
    unit: str  # the expression the unit is `value` of


@cache
def _essence() -> tuple[dict[str, float], frozenset[str], dict[str, _Unit]]:
    root = ElementTree.fromstring(
        files("ucumvert").joinpath("vendor/ucum-essence.xml").read_bytes())
    prefixes = {prefix.get("Code", ""): float(value.get("value", "1"))
                for prefix in root.iterfind(f"{_NS}prefix")
                if (value := prefix.find(f"{_NS}value")) is not None}
    bases = frozenset(b.get("Code", "") for b in root.iterfind(f"{_NS}base-unit"))
    units = {}
    for unit in root.iterfind(f"{_NS}unit"):
        value = unit.find(f"{_NS}value")
        if value is None:
            continue
        function = value.find(f"{_NS}function")
        definition = function if function is not None else value
        units[unit.get("Code", "")] = _Unit(
            unit.get("isMetric") == "yes", unit.get("isArbitrary") == "yes",
            unit.get("isSpecial") == "yes", float(definition.get("value", "1") or 1),
            definition.get("Unit", "1"))
    return prefixes, bases, units


def canonical(code: str) -> Canonical:
    """The base form of a UCUM code; NotConvertible when it has none here."""
    return _canonical(code, 0)


# Codes read, bounded: searches may name any number of made-up codes (units.py remembers
# 100,000 base forms; this cache holds what they are made of).
@lru_cache(maxsize=10_000)
def _canonical(code: str, depth: int) -> Canonical:
    if depth > _MOST_DEPTH:
        raise NotConvertible("defined too deep")
    parser = _Parser(_tokens(code), depth)
    found = parser.main_term()
    if parser.position != len(parser.tokens):
        raise NotConvertible(f"unexpected {parser.tokens[parser.position]!r}")
    return found


def _tokens(code: str) -> list[str]:
    """Operators, parentheses, annotations and symbols; `.` and `/` inside brackets belong
    to the symbol (`B[10.nV]`)."""
    tokens: list[str] = []
    current, depth = "", 0
    index = 0
    while index < len(code):
        char = code[index]
        if char == "{" and depth == 0:
            end = code.find("}", index)
            if end < 0:
                raise NotConvertible("an annotation is not closed")
            if current:
                tokens.append(current)
                current = ""
            tokens.append(code[index:end + 1])
            index = end + 1
            continue
        if char in "./()" and depth == 0:
            if current:
                tokens.append(current)
            tokens.append(char)
            current = ""
        else:
            depth += (char == "[") - (char == "]")
            current += char
        index += 1
    if current:
        tokens.append(current)
    return tokens


class _Parser:
    def __init__(self, tokens: list[str], depth: int):
        self.tokens, self.position, self.depth = tokens, 0, depth

    def peek(self) -> str:
        return self.tokens[self.position] if self.position < len(self.tokens) else ""

    def take(self) -> str:
        token = self.peek()
        self.position += 1
        return token

    def main_term(self) -> Canonical:
        """A term, or `/` and one: the slash divides its first component only, as a binary
        `/` with nothing before it (`/[pi].A/m` is A/m over pi)."""
        if self.peek() == "/":
            self.take()
            return self.term(_UNITY.times(self.component(), -1))
        return self.term()

    def term(self, found: Canonical | None = None) -> Canonical:
        found = self.component() if found is None else found
        while self.peek() in (".", "/"):
            power = 1 if self.take() == "." else -1
            found = found.times(self.component(), power)
        return found

    def component(self) -> Canonical:
        token = self.take()
        if token == "(":
            self.depth += 1
            if self.depth > _MOST_DEPTH:
                raise NotConvertible("parentheses nested too deep")
            found = self.term()
            if self.take() != ")":
                raise NotConvertible("a parenthesis is not closed")
            self.depth -= 1
        elif token.startswith("{"):
            return _UNITY
        elif token.isdigit() and token.isascii():
            if not int(token):
                raise NotConvertible("0 is no unit: every value in it would be 0")
            found = Canonical(float(token), ())
        elif token and token not in "./()":
            found = self._annotatable(token)
        else:
            raise NotConvertible(f"unexpected {token or 'end'}")
        if self.peek().startswith("{"):  # an annotation on a unit means nothing to it
            self.take()
        return found

    def _annotatable(self, token: str) -> Canonical:
        match = _EXPONENT.fullmatch(token)
        assert match is not None, "the pattern matches any non-empty text"
        symbol, exponent = match[1], int(match[2]) if match[2] else 1
        unit = _symbol(symbol, self.depth)
        if unit.offset and exponent != 1:
            raise NotConvertible("a temperature with an offset takes no exponent")
        return unit if exponent == 1 else _UNITY.times(unit, exponent)


def _symbol(symbol: str, depth: int) -> Canonical:
    """An atom, or a prefix and a metric atom (the atom first: `cd` is candela)."""
    prefixes, bases, units = _essence()
    if symbol in bases:
        return Canonical(1.0, ((symbol, 1),))
    if symbol in units:
        return _atom(symbol, depth)
    for prefix in sorted(prefixes, key=len, reverse=True):
        atom = symbol[len(prefix):]
        if symbol.startswith(prefix) and (atom in bases or atom in units and units[atom].metric):
            unit = Canonical(1.0, ((atom, 1),)) if atom in bases else _atom(atom, depth)
            if unit.offset:
                raise NotConvertible("a prefixed temperature with an offset")
            return Canonical(prefixes[prefix] * unit.factor, unit.dimensions)
    raise NotConvertible(f"{symbol} is no UCUM unit")


def _atom(code: str, depth: int) -> Canonical:
    unit = _essence()[2][code]
    if unit.arbitrary and unit.unit == "1":  # [iU] is one [IU]: the same dimension
        return Canonical(1.0, ((code, 1),))
    defined = _canonical(unit.unit, depth + 1)
    if unit.special:
        if code not in _TEMPERATURES:
            raise NotConvertible(f"{code} is a special unit that is no affine map")
        scale, offset = _TEMPERATURES[code]  # its definition gives the dimension only
        return Canonical(scale, defined.dimensions, offset)
    return Canonical(unit.value * defined.factor, defined.dimensions)
