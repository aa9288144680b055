"""JSON numbers keep the digits they were written with (conformance/json_format.py), also
through BSON (storage/decimals.py): `13.50` is answered as `13.50`, `7.2` as `7.2`."""

import json
from decimal import Decimal

import bson
import pytest
from bson.codec_options import CodecOptions
from hypothesis import given
from hypothesis import strategies as st

from fhir_server.conformance import json_format
from fhir_server.storage.decimals import DECIMALS

# FHIR's decimal (http://hl7.org/fhir/R4/datatypes.html#decimal) without an exponent, of
# at most 34 digits (what a Decimal128 holds; more are refused, below).
PLAIN_DECIMALS = st.from_regex(r"-?(0|[1-9][0-9]{0,16})\.[0-9]{1,17}", fullmatch=True)
TOO_PRECISE = st.from_regex(r"-?[1-9][0-9]{17,30}\.[0-9]{17,30}", fullmatch=True)
# ... and with one, within the range of a double.
EXPONENT_DECIMALS = st.from_regex(r"-?[1-9][0-9]{0,15}(\.[0-9]{1,15})?[eE][+-]?[0-9]{1,2}",
                                  fullmatch=True)
_WITH_DECIMALS = CodecOptions(type_registry=DECIMALS)


def _through_bson(value: object) -> object:
    document = bson.decode(bson.encode({"v": value}, codec_options=_WITH_DECIMALS),
                           codec_options=_WITH_DECIMALS)
    return document["v"]


@given(PLAIN_DECIMALS)
def test_a_decimal_is_written_back_as_it_came(text):
    assert json_format.dumps(json_format.loads(text)).decode() == text
    assert json_format.dumps({"value": json_format.loads(text)}, pretty=True).decode() == (
        '{\n  "value": ' + text + "\n}")


@given(PLAIN_DECIMALS)
def test_mongodb_keeps_the_digits_of_up_to_34(text):
    assert json_format.dumps(_through_bson(json_format.loads(text))).decode() == text


@given(TOO_PRECISE)
def test_a_decimal_no_decimal128_holds_is_refused_not_rounded(text):
    """Stored, it became the nearest double (or 0.0 for 1e-7000) while the response showed
    it as sent: refused instead, as FHIR asks for 18 digits only."""
    with pytest.raises(ValueError, match="cannot be kept exactly"):
        json_format.loads(text)
    with pytest.raises(ValueError, match="cannot be kept exactly"):
        json_format.loads('{"value": 1e-7000}')


# The exponents a Decimal128 holds a zero with (IEEE 754 decimal128: -6176 to +6111).
_ZERO_EXPONENTS = range(-6176, 6112)


@given(st.integers(min_value=-7000, max_value=7000) | st.integers(min_value=-10**9,
                                                                   max_value=10**9),
       st.sampled_from(["", "-"]), st.sampled_from(["e", "E"]))
def test_a_zero_keeps_its_exponent_or_is_refused(exponent, sign, e):
    """A zero's exponent is its precision (`0.000`): one a Decimal128 has not was clamped
    into its range (`0E-7000` stored as `0E-6176`) while the response showed it as sent."""
    text = f"{sign}0{e}{exponent}"
    if exponent not in _ZERO_EXPONENTS:
        with pytest.raises(ValueError, match="cannot be kept exactly"):
            json_format.loads(text)
        return
    value = json_format.loads(text)
    assert Decimal(json_format.dumps(value).decode()).as_tuple() == Decimal(text).as_tuple()
    assert _through_bson(value).as_tuple() == Decimal(text).as_tuple()


@given(st.integers(min_value=35, max_value=20_000), st.booleans())
def test_an_integer_of_more_than_34_digits_is_refused_saying_why(digits, negative):
    """Not with Python's advice on `sys.set_int_max_str_digits()` past 4,300 digits."""
    number = "-" * negative + "9" * digits
    with pytest.raises(ValueError, match=f"has {digits} digits, more than the 34") as refused:
        json_format.loads(f'{{"value": {number}}}')
    assert "sys." not in str(refused.value)
    assert json_format.loads('{"value": ' + "-" * negative + "9" * 34 + "}")["value"]


@given(EXPONENT_DECIMALS)
def test_a_decimal_with_an_exponent_keeps_its_value_and_digits(text):
    value = json_format.loads(text)
    written = json_format.dumps(value).decode()
    assert Decimal(written) == Decimal(text) or float(written) == float(text)
    assert json_format.dumps(_through_bson(value)).decode() == written


def test_beyond_decimal128_mongodb_keeps_the_nearest_double():
    """The reader refuses such a number; one that reaches storage by another way is kept as
    its nearest double, never an error."""
    text = "1." + "3" * 40
    assert _through_bson(Decimal(text)) == float(text)


def test_numbers_equal_in_value_compare_equal_whatever_their_digits():
    assert json_format.as_decimal(json_format.loads("0.10")) == json_format.as_decimal(0.1)
    assert json_format.as_decimal(json_format.loads("1400.00")) == json_format.as_decimal(1400)
    assert json_format.as_decimal(0.1) != json_format.as_decimal(0.1000001)


def test_json_values_are_equal_as_rfc_6902_compares_them():
    """Numbers by value (a Decimal `0.10` is the float `0.1`, which Python's `==` denies),
    literals only to themselves, objects and arrays member by member."""
    stored, sent = json_format.loads('{"v":[0.1,{"n":1400}]}'), json_format.loads(
        '{"v":[0.10,{"n":1.4E3}]}')
    assert json_format.json_equal(stored, sent)
    assert not json_format.json_equal(stored, json_format.loads('{"v":[0.1,{"n":1401}]}'))
    assert not json_format.json_equal(True, 1) and not json_format.json_equal(0, False)
    assert not json_format.json_equal(None, 0) and not json_format.json_equal("1", 1)
    assert not json_format.json_equal([0.1], [0.1, 0.1])
    assert not json_format.json_equal({"a": 1}, {"a": 1, "b": 1})


def test_integers_and_short_floats_stay_python_numbers():
    assert json_format.loads('[100, 7.2, 6.0, -0.0, 1e+25]') == [100, 7.2, 6.0, -0.0, 1e25]
    assert all(type(v) is not Decimal for v in json_format.loads('[100, 7.2, 6.0, 1e+25]'))
    with pytest.raises(ValueError, match="beyond"):  # search compares doubles
        json_format.loads("1e400")


@given(st.lists(st.text(max_size=3), min_size=1, max_size=8), st.data())
def test_an_object_naming_a_property_twice_is_refused_wherever_it_is(names, data):
    twice = data.draw(st.sampled_from(names))
    members = ",".join(f"{json.dumps(name)}:{index}" for index, name in enumerate(names))
    text = '{"a":[{"b":{' + members + "," + json.dumps(twice) + ":0}}]}"
    with pytest.raises(ValueError, match="twice"):
        json_format.loads(text)
    unique = '{"a":[{"b":{' + ",".join(
        f"{json.dumps(name)}:0" for name in dict.fromkeys(names)) + "}}]}"
    assert json_format.loads(unique) == json.loads(unique)
