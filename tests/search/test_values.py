"""Parsing of search values: escaping, Vietnamese folding, token forms."""

import re
import unicodedata
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from fhir_server.conformance import json_format
from fhir_server.search.types.number import bounds, compile_number, numeric, parse_number
from fhir_server.search.types.string import fold
from fhir_server.search.types.token import value_keys
from fhir_server.search.values import split_escaped, unescape

VIETNAMESE_LOWER = "aáàảãạăắằẳẵặâấầẩẫậeéèẻẽẹêếềểễệiíìỉĩịoóòỏõọôốồổỗộơớờởỡợuúùủũụưứừửữựyýỳỷỹỵđ"
BASE = "a" * 18 + "e" * 12 + "i" * 6 + "o" * 18 + "u" * 12 + "y" * 6 + "d"


def _escape(part: str, separator: str) -> str:
    return part.replace("\\", "\\\\").replace(separator, "\\" + separator)


@given(st.lists(st.text(), min_size=1, max_size=5), st.sampled_from([",", "|", "$"]))
def test_escaped_separators_survive_splitting(parts, separator):
    joined = separator.join(_escape(p, separator) for p in parts)
    assert split_escaped(joined, separator) == parts


def _escape_all(text: str) -> str:
    return "".join("\\" + c if c in ",|$\\" else c for c in text)


@given(st.lists(st.tuples(st.text(), st.text(min_size=1)), min_size=1, max_size=4))
def test_escapes_survive_the_comma_split_for_the_system_code_split(pairs):
    """Split at commas keeping the escapes, then at `|`: every system and code comes back."""
    value = ",".join(f"{_escape_all(s)}|{_escape_all(c)}" for s, c in pairs)
    items = split_escaped(value, ",", keep_escapes=True)
    assert [tuple(split_escaped(item, "|", 1)) for item in items] == pairs
    assert [unescape(item) for item in items] == [f"{s}|{c}" for s, c in pairs]


@pytest.mark.parametrize("text", [VIETNAMESE_LOWER, VIETNAMESE_LOWER.upper()])
def test_every_vietnamese_letter_folds_to_its_latin_base(text):
    assert len(text) == len(BASE) == 73
    assert fold(text) == BASE
    assert fold(unicodedata.normalize("NFD", text)) == BASE


@given(st.text())
def test_folding_is_idempotent_and_case_free(text):
    assert fold(fold(text)) == fold(text)
    assert fold(text.upper()) == fold(text.lower()) or not text.isascii()


@pytest.mark.parametrize(
    ("value", "keys"),
    [
        ("male", ["c:male"]),
        ("http://loinc.org|11506-3", ["sc:http://loinc.org|11506-3"]),
        ("|11506-3", ["n:11506-3"]),
        ("http://loinc.org|", ["s:http://loinc.org", re.compile(r"^sc:http://loinc\.org\|")]),
        (r"http://x|a\|b", ["sc:http://x|a|b"]),
    ],
)
def test_token_forms(value, keys):
    assert value_keys(value) == keys


def test_a_lone_bar_is_refused():
    with pytest.raises(ValueError):
        value_keys("|")


@given(st.text(alphabet=st.sampled_from("ab,|$\\")), st.sampled_from([",", "|", "$", ""]),
       st.integers(-1, 3), st.booleans())
def test_values_without_escapes_split_as_those_with_them_do(text, separator, limit, keep):
    """A value with no `\\` splits as str.split; one with `\\` is read character by
    character: both ways agree on what they share (the same value, then an escaped `\\`)."""
    plain = text.replace("\\", "")
    parts = split_escaped(plain, separator, limit, keep)
    with_escape = split_escaped(plain + "\\\\", separator, limit, keep)
    assert with_escape[:-1] == parts[:-1]
    assert with_escape[-1] == parts[-1] + ("\\\\" if keep else "\\")


# R4's decimal (datatypes.html#decimal), its exponent within a double's range.
FHIR_DECIMAL = r"-?(0|[1-9][0-9]{0,20})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,2})?"


@given(st.from_regex(FHIR_DECIMAL, fullmatch=True))
@example("100000000000000000.00000000000000000")
def test_every_fhir_decimal_is_searched_as_the_number_it_writes(text):
    """Its digits, and so the precision its range has (search.html#number), as before
    search numbers were held to ASCII digits; one of more digits than a write keeps (35
    significant digits, beyond a Decimal128's 34) is refused as the write refuses it."""
    if not json_format.decimal128_holds(Decimal(text)):
        with pytest.raises(ValueError):
            json_format.loads(text)
        with pytest.raises(ValueError, match="beyond the range of numbers"):
            parse_number(text)
        return
    assert parse_number(text).as_tuple() == Decimal(text).as_tuple()


# Numbers at and beyond what a resource may hold: a double's range (±1.8E308, 5E-324), a
# Decimal128's exponents (-6176 to +6111, a zero's precision too) and far past them.
EXTREME_NUMBERS = st.builds(
    "{}{}e{}".format, st.sampled_from(["", "-"]),
    st.sampled_from(["0", "0.000", "1", "5.5", "1.7976931348623157", "1" * 34]),
    st.sampled_from([-6177, -6176, -400, -325, -324, 307, 308, 6111, 6112])
    | st.integers(-7000, 7000) | st.integers(-10**9, 10**9))
PREFIXES = ["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"]


@given(EXTREME_NUMBERS)
def test_a_searched_number_is_one_a_write_keeps_and_finds_it_or_a_400(text):
    """`0e-99999999` passed the parser and failed the arithmetic of its range (a 500), and
    `1E-400`, which a resource holds, was refused: a search value is refused as a write of
    it is, and one a write keeps has a range that holds the double it is indexed as."""
    try:
        stored = json_format.loads(text)
    except ValueError:
        with pytest.raises(ValueError, match="beyond the range of numbers"):
            parse_number(text)
        return
    number = parse_number(text)
    low, high, near_low, near_high, value = bounds(number)
    assert low <= numeric(stored) == value < high
    assert near_low <= value <= near_high
    assert all(compile_number(prefix, number) for prefix in PREFIXES)


@given(st.text(st.characters(categories=["Nd"]), min_size=1, max_size=8))
def test_only_a_number_in_ascii_digits_is_one(text):
    if text.isascii():
        assert parse_number(text) == Decimal(text)
    else:
        with pytest.raises(ValueError, match="is not a number"):
            parse_number(text)
