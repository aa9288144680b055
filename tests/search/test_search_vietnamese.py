"""Every Vietnamese letter with diacritics, lower and upper case, folds to its plain Latin
base letter in string search (http://hl7.org/fhir/R4/search.html#string: "insensitive to
casing and included combining characters"), including đ/Đ → d, which has no Unicode
decomposition. `:exact` still tells all 134 apart.

Data set: one Patient per letter, family "Thử" + letter, and one Patient whose given name
is the whole alphabet of 134 letters.
"""

import unicodedata

import pytest
from search.helpers import expected, found, load

# The accented letters by base letter: 67 lower case, 67 upper case.
LOWER = {
    "a": "áàảãạăắằẳẵặâấầẩẫậ",
    "e": "éèẻẽẹêếềểễệ",
    "i": "íìỉĩị",
    "o": "óòỏõọôốồổỗộơớờởỡợ",
    "u": "úùủũụưứừửữự",
    "y": "ýỳỷỹỵ",
    "d": "đ",
}
BASE = {letter: base for base, letters in LOWER.items() for letter in letters}
BASE |= {letter.upper(): base for letter, base in BASE.items()}
LETTERS = sorted(BASE)
ALPHABET = "".join(LOWER.values()) + "".join(LOWER.values()).upper()
FOLDED_ALPHABET = "".join(BASE[letter] for letter in ALPHABET)


def test_the_alphabet_is_complete():
    assert len(LETTERS) == len(ALPHABET) == 134
    assert all(unicodedata.is_normalized("NFC", letter) for letter in LETTERS)


def _key(letter: str) -> str:
    return f"letter-{ord(letter):04x}"


@pytest.fixture(scope="module")
def ids(client) -> dict[str, str]:
    letters = {_key(letter): {"resourceType": "Patient",
                              "name": [{"family": f"Thử{letter}", "given": ["Mẫu"]}]}
               for letter in LETTERS}
    alphabet = {"alphabet": {"resourceType": "Patient",
                             "name": [{"family": "Bảng", "given": [ALPHABET]}]}}
    return load(client, letters | alphabet)


def _same_base(letter: str) -> set[str]:
    return {_key(other) for other in LETTERS if BASE[other] == BASE[letter]}


@pytest.mark.parametrize("letter", LETTERS)
def test_each_letter_folds_to_its_base_letter(client, ids, letter):
    assert found(client, "/Patient", {"family": f"thu{BASE[letter]}"}) == expected(
        ids, _same_base(letter))


@pytest.mark.parametrize("letter", LETTERS)
def test_each_letter_is_found_by_itself_in_either_case(client, ids, letter):
    group = expected(ids, _same_base(letter))
    assert found(client, "/Patient", {"family": f"Thử{letter}"}) == group
    assert found(client, "/Patient", {"family": f"THỬ{letter.swapcase()}"}) == group
    assert found(client, "/Patient", {"family:contains": f"HU{BASE[letter].upper()}"}) == group


@pytest.mark.parametrize("letter", LETTERS)
def test_exact_tells_every_letter_apart(client, ids, letter):
    assert found(client, "/Patient", {"family:exact": f"Thử{letter}"}) == expected(
        ids, {_key(letter)})
    plain = f"Thử{BASE[letter]}"
    assert found(client, "/Patient", {"family:exact": plain}) == set()


@pytest.mark.parametrize("letter", LETTERS)
def test_a_decomposed_query_finds_the_composed_letter(client, ids, letter):
    decomposed = unicodedata.normalize("NFD", f"Thử{letter}")
    assert found(client, "/Patient", {"family": decomposed}) == expected(
        ids, _same_base(letter))


@pytest.mark.parametrize("query", [FOLDED_ALPHABET, FOLDED_ALPHABET.upper(), ALPHABET,
                                   unicodedata.normalize("NFD", ALPHABET),
                                   FOLDED_ALPHABET[:67]])
def test_the_whole_alphabet_is_found_by_its_plain_latin_fold(client, ids, query):
    assert found(client, "/Patient", {"given": query}) == expected(ids, {"alphabet"})


def test_the_whole_alphabet_by_exact_and_contains(client, ids):
    assert found(client, "/Patient", {"given:exact": ALPHABET}) == expected(ids, {"alphabet"})
    assert found(client, "/Patient", {"given:exact": FOLDED_ALPHABET}) == set()
    assert found(client, "/Patient", {"given:contains": FOLDED_ALPHABET[60:90]}) == expected(
        ids, {"alphabet"})


def test_the_folded_letters_of_the_alphabet():
    assert FOLDED_ALPHABET[:18] == "a" * 17 + "e"
    assert FOLDED_ALPHABET.count("d") == 2
    assert set(FOLDED_ALPHABET) == set("aeiouyd")
