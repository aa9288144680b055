"""Known answers for the signed bytes: RFC 8785 (JCS) vectors and the id/meta/text rule.

Vectors: RFC 8785 §3.2.2 and §3.2.3, Appendix B (numbers), and the test data of the RFC
authors' reference implementation (github.com/cyberphone/json-canonicalization, testdata/).
"""

import json
import struct
import unicodedata
from decimal import Decimal

import pytest

from signing.canonical import NotCanonicalisable, signed_content


def jcs(value) -> bytes:
    """Canonical bytes of any JSON value, through the signed-content function."""
    return signed_content({"v": value})[len(b'{"v":') : -1]


def test_rfc8785_section_3_2_2_example():
    source = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert signed_content(json.loads(source)) == expected.encode("utf-8")


def test_rfc8785_section_3_2_3_sorting_by_utf16_code_units():
    source = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    keys = list(json.loads(signed_content(source)))
    # U+1F600 is the surrogate pair D83D DE00 in UTF-16, so it sorts before U+FB33,
    # although its code point is larger.
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]
    assert sorted(source) != keys  # code point order differs


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # cyberphone/json-canonicalization testdata: arrays, structures, french, unicode, weird
        ('[56, {"d": true, "10": null, "1": [ ]}]', '[56,{"1":[],"10":null,"d":true}]'),
        (
            '{"1": {"f": {"f": "hi","F": 5} ,"\\n": 56.0}, "10": { }, "": "empty", "a": { },'
            ' "111": [ { } ], "A": { }}',
            '{"":"empty","1":{"\\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{}],"A":{},"a":{}}',
        ),
        (
            '{"peach": "This sorting order", "péché": "is wrong according to French",'
            ' "pêche": "but canonicalization MUST", "sin": "ingnore locale"}',
            '{"peach":"This sorting order","péché":"is wrong according to French",'
            '"pêche":"but canonicalization MUST","sin":"ingnore locale"}',
        ),
        ('{"Unnormalized Unicode":"\\u1e0d\\u0307"}', '{"Unnormalized Unicode":"\u1e0d\u0307"}'),
        (
            '{"\\u20ac": "Euro Sign", "1": "One", "\\u0080": "Control\\u007f",'
            ' "\\ud83d\\ude02": "Smiley", "\\u00f6": "Latin Small Letter O With Diaeresis",'
            ' "\\ufb33": "Hebrew Letter Dalet With Dagesh", "</script>": "Browser Challenge"}',
            '{"1":"One","</script>":"Browser Challenge","\u0080":"Control\u007f",'
            '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
            '"\U0001f602":"Smiley","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
        ),
    ],
    ids=["arrays", "structures", "french", "unicode", "weird"],
)
def test_reference_implementation_testdata(source, expected):
    assert jcs(json.loads(source)) == expected.encode("utf-8")


@pytest.mark.parametrize(
    ("ieee754", "expected"),
    [
        ("0000000000000000", "0"),
        ("8000000000000000", "0"),
        ("0000000000000001", "5e-324"),
        ("8000000000000001", "-5e-324"),
        ("7fefffffffffffff", "1.7976931348623157e+308"),
        ("ffefffffffffffff", "-1.7976931348623157e+308"),
        ("4340000000000000", "9007199254740992"),
        ("c340000000000000", "-9007199254740992"),
        ("4430000000000000", "295147905179352830000"),
        ("44b52d02c7e14af5", "9.999999999999997e+22"),
        ("44b52d02c7e14af6", "1e+23"),
        ("44b52d02c7e14af7", "1.0000000000000001e+23"),
        ("444b1ae4d6e2ef4e", "999999999999999700000"),
        ("444b1ae4d6e2ef4f", "999999999999999900000"),
        ("444b1ae4d6e2ef50", "1e+21"),
        ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
        ("3eb0c6f7a0b5ed8d", "0.000001"),
        ("41b3de4355555553", "333333333.3333332"),
        ("41b3de4355555554", "333333333.33333325"),
        ("41b3de4355555555", "333333333.3333333"),
        ("41b3de4355555556", "333333333.3333334"),
        ("41b3de4355555557", "333333333.33333343"),
        ("becbf647612f3696", "-0.0000033333333333333333"),
        ("43143ff3c1cb0959", "1424953923781206.2"),
    ],
)
def test_rfc8785_appendix_b_numbers(ieee754, expected):
    (value,) = struct.unpack(">d", bytes.fromhex(ieee754))
    assert jcs(value) == expected.encode("ascii")


@pytest.mark.parametrize("ieee754", ["7fffffffffffffff", "7ff0000000000000", "fff0000000000000"])
def test_nan_and_infinity_are_not_json(ieee754):
    (value,) = struct.unpack(">d", bytes.fromhex(ieee754))
    with pytest.raises(NotCanonicalisable):
        jcs(value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1e30", "1e+30"),
        ("1E30", "1e+30"),
        ("4.50", "4.5"),
        ("2e-3", "0.002"),
        ("0.000001", "0.000001"),
        ("1e-7", "1e-7"),
        ("1e21", "1e+21"),
        ("1e20", "100000000000000000000"),
        ("-0", "0"),
        ("-0.0", "0"),
        ("56.0", "56"),
        ("100", "100"),
        ("9007199254740991", "9007199254740991"),
    ],
)
def test_json_numbers_as_parsed_from_text(text, expected):
    assert jcs(json.loads(text)) == expected.encode("ascii")


def test_decimals_are_the_doubles_they_denote():
    assert jcs(Decimal("4.50")) == jcs(4.5) == b"4.5"
    assert jcs(json.loads('{"x": 1e-7}', parse_float=Decimal)["x"]) == b"1e-7"


def test_integers_beyond_53_bits_are_the_doubles_they_denote():
    assert jcs(2**53) == b"9007199254740992"
    assert jcs(10**18) == b"1000000000000000000"  # the official Observation-decimal example
    assert jcs(-(10**21)) == b"-1e+21"
    assert jcs(2**53 + 1) == b"9007199254740992"  # as ECMAScript reads it: the nearest double


def test_integers_beyond_the_double_range_are_refused():
    with pytest.raises(NotCanonicalisable):
        jcs(10**400)


def test_string_escaping():
    controls = "".join(chr(c) for c in range(0x20))
    expected = (
        '"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r'
        "\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019"
        '\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f"'
    )
    assert jcs(controls) == expected.encode("ascii")
    # Only ", \ and controls are escaped: not /, DEL, U+2028/U+2029 or any other character.
    assert jcs('"\\/\x7f\u2028\u2029é') == '"\\"\\\\/\x7f\u2028\u2029é"'.encode()
    assert jcs("\u2028") == b'"\xe2\x80\xa8"'


def test_lone_surrogates_are_refused():
    with pytest.raises(NotCanonicalisable):
        jcs("\ud800")


def test_only_top_level_id_meta_text_are_left_out():
    resource = {
        "resourceType": "Patient",
        "id": "a",
        "meta": {"versionId": "1"},
        "text": {"status": "generated"},
        "contained": [{"resourceType": "Organization", "id": "org", "meta": {"tag": []}}],
        "extension": [{"id": "ext-1", "url": "http://example.org/x", "valueString": "text"}],
    }
    assert signed_content(resource) == (
        b'{"contained":[{"id":"org","meta":{"tag":[]},"resourceType":"Organization"}],'
        b'"extension":[{"id":"ext-1","url":"http://example.org/x","valueString":"text"}],'
        b'"resourceType":"Patient"}'
    )


def test_vietnamese_nfc_and_nfd_are_different_bytes():
    nfc = unicodedata.normalize("NFC", "Nguyễn")
    nfd = unicodedata.normalize("NFD", "Nguyễn")
    assert nfc != nfd
    nfc_bytes = signed_content({"resourceType": "Patient", "name": [{"family": nfc}]})
    nfd_bytes = signed_content({"resourceType": "Patient", "name": [{"family": nfd}]})
    assert nfc_bytes != nfd_bytes
    assert "Nguyễn".encode() in nfc_bytes  # UTF-8 as is, no \u escapes
    assert b"Nguye\xcc\x82\xcc\x83n" in nfd_bytes  # e + combining circumflex + combining tilde


def test_not_an_object():
    with pytest.raises(NotCanonicalisable):
        signed_content(["resourceType", "Patient"])
