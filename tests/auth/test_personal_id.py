"""The Vietnamese 12-digit personal identification number (Circular 07/2016/TT-BCA)."""

import re
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fhir_server.auth.personal_id import mask_personal_ids, validate_personal_id
from fhir_server.conformance.identifier_formats import PROVINCE_CODES, birth_year, is_female

TODAY = date(2025, 6, 1)
TWELVE_DIGITS = re.compile(r"(?<![0-9])[0-9]{12}(?![0-9])")


@st.composite
def personal_ids(draw) -> str:
    """Valid numbers: a province, a birth year up to TODAY, a sex, a random serial."""
    province = draw(st.sampled_from(sorted(PROVINCE_CODES)))
    year = draw(st.integers(1900, TODAY.year))
    female = draw(st.booleans())
    century_code = 2 * ((year - 1900) // 100) + int(female)
    serial = draw(st.integers(0, 999_999))
    return f"{province}{century_code}{year % 100:02d}{serial:06d}"


def test_the_63_province_codes_in_use():
    assert len(PROVINCE_CODES) == 63
    assert all(re.fullmatch(r"0[0-9]{2}", code) for code in PROVINCE_CODES)
    assert "001" in PROVINCE_CODES and "079" in PROVINCE_CODES and "096" in PROVINCE_CODES
    assert "003" not in PROVINCE_CODES and "097" not in PROVINCE_CODES


@pytest.mark.parametrize(
    ("value", "year", "female"),
    [
        ("001085012345", 1985, False),
        ("079193000001", 1993, True),
        ("048200123456", 2000, False),
        ("096325999999", 2025, True),
    ],
)
def test_valid_numbers_and_what_they_encode(value, year, female):
    assert validate_personal_id(value, today=TODAY) == value
    assert birth_year(value) == year
    assert is_female(value) is female


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("00108501234", "12 ASCII digits"),
        ("0010850123456", "12 ASCII digits"),
        ("00108501234a", "12 ASCII digits"),
        ("００１０８５０１２３４５", "12 ASCII digits"),  # full-width digits
        (" 001085012345", "12 ASCII digits"),
        ("", "12 ASCII digits"),
        ("000085012345", "not a province code"),
        ("003085012345", "not a province code"),
        ("097085012345", "not a province code"),
        ("001226012345", "in the future"),  # 2026
        ("001485012345", "in the future"),  # 2185
        ("001985012345", "in the future"),  # 2385
    ],
)
def test_invalid_numbers_say_why(value, reason):
    with pytest.raises(ValueError, match=reason):
        validate_personal_id(value, today=TODAY)


def test_not_a_string_is_refused():
    with pytest.raises(ValueError):
        validate_personal_id(1085012345, today=TODAY)  # type: ignore[arg-type]


def test_today_defaults_to_now():
    assert validate_personal_id("001099012345") == "001099012345"
    with pytest.raises(ValueError, match="future"):
        validate_personal_id("001899012345")


@given(personal_ids())
def test_every_generated_number_validates(value):
    assert validate_personal_id(value, today=TODAY) == value


@given(personal_ids(), st.integers(3, 5), st.integers(0, 9))
def test_a_changed_century_or_year_digit_validates_only_if_not_in_the_future(value, index, digit):
    changed = value[:index] + str(digit) + value[index + 1 :]
    if birth_year(changed) > TODAY.year:
        with pytest.raises(ValueError, match="future"):
            validate_personal_id(changed, today=TODAY)
    else:
        assert validate_personal_id(changed, today=TODAY) == changed


@given(personal_ids(), st.integers(0, 2), st.integers(0, 9))
def test_a_changed_province_digit_validates_only_if_still_a_province(value, index, digit):
    changed = value[:index] + str(digit) + value[index + 1 :]
    if changed[:3] in PROVINCE_CODES:
        assert validate_personal_id(changed, today=TODAY) == changed
    else:
        with pytest.raises(ValueError, match="province"):
            validate_personal_id(changed, today=TODAY)


def test_masking_keeps_the_first_three_and_last_two_digits():
    assert mask_personal_ids("001085012345") == "001*******45"
    assert mask_personal_ids("CCCD 001085012345, 079193000001.") == (
        "CCCD 001*******45, 079*******01."
    )


def test_masking_leaves_longer_and_shorter_digit_runs_alone():
    assert mask_personal_ids("0010850123456 00108501234") == "0010850123456 00108501234"


@given(st.text(alphabet=st.sampled_from("0123456789 -/*aZ\n")))
def test_masking_leaves_no_twelve_digit_run(text):
    masked = mask_personal_ids(text)
    assert TWELVE_DIGITS.search(masked) is None
    assert len(masked) == len(text)


@given(st.text(), personal_ids(), st.text())
def test_masking_hides_an_embedded_number(before, value, after):
    text = f"{before} {value} {after}"
    assert value not in mask_personal_ids(text) or value in f"{before}{after}"
