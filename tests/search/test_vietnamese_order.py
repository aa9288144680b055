"""`_sort` on strings follows the Vietnamese alphabet (CLDR's `vi` collation): letters first
(a < ă < â ... d < đ ... o < ô < ơ ... u < ư), then tones (none < huyền < hỏi < ngã < sắc <
nặng), then case; other scripts after Latin letters."""

import uuid

from api.helpers import FHIR_HEADERS
from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_server.search.collation import vietnamese_sort_key

ALPHABET = "aăâbcdđeêfghijklmnoôơpqrstuưvwxyz"
TONES = ["", "\u0300", "\u0309", "\u0303", "\u0301", "\u0323"]
DICTIONARY = ["123", "an", "An", "Anh", "Ánh", "Ăn", "Ân", "Ba", "Bà", "Bả", "Bã", "Bá", "Bạ",
              "Binh", "Bình", "Bùi", "Do", "Dô", "Dơ", "Dương", "Đặng", "Đỗ", "Lê", "Lê An",
              "Lê Anh", "Ngô", "Nguyễn", "Ông", "Ơn", "Uyên", "Ưng", "Zoe", "Иван", "李"]


def test_a_vietnamese_dictionarys_order():
    shuffled = sorted(DICTIONARY, key=lambda word: uuid.uuid5(uuid.NAMESPACE_OID, word).hex)
    assert sorted(shuffled, key=vietnamese_sort_key) == DICTIONARY


def test_latin_letters_of_other_languages_sort_by_the_letters_they_show():
    assert sorted(["Zoe", "Søren", "Straße", "Ａn", "Ærø", "Łukasz", "Anh", "Soren"],
                  key=vietnamese_sort_key) == [
        "Ærø", "Ａn", "Anh", "Łukasz", "Soren", "Søren", "Straße", "Zoe"]


WORDS = st.lists(st.tuples(st.sampled_from(ALPHABET), st.sampled_from(TONES), st.booleans()),
                 min_size=1, max_size=6)


def _text(word: list[tuple[str, str, bool]]) -> str:
    return "".join((letter.upper() if upper else letter) + tone for letter, tone, upper in word)


@settings(max_examples=300)
@given(WORDS, WORDS)
def test_letters_decide_before_tones_and_tones_before_case(first, second):
    def levels(word):
        return ([ALPHABET.index(letter) for letter, _, _ in word],
                [TONES.index(tone) for _, tone, _ in word], [upper for _, _, upper in word])

    expected = (levels(first) > levels(second)) - (levels(first) < levels(second))
    one, other = vietnamese_sort_key(_text(first)), vietnamese_sort_key(_text(second))
    assert (one > other) - (one < other) == expected


def test_sort_by_family_in_vietnamese_order(client):
    marker = uuid.uuid4().hex[:12]
    families = ["Đặng", "Dương", "Ăn", "Anh", "Ân", "Bạ", "Ba", "Ánh", "Đỗ"]
    for family in families:
        created = client.post("/Patient", headers=FHIR_HEADERS, json={
            "resourceType": "Patient", "name": [{"family": family, "given": [marker]}]})
        assert created.status_code == 201, created.text
    expected = ["Anh", "Ánh", "Ăn", "Ân", "Ba", "Bạ", "Dương", "Đặng", "Đỗ"]
    for sort, order in (("family", expected), ("-family", expected[::-1])):
        found = client.get("/Patient", params={"given": marker, "_sort": sort},
                           headers=FHIR_HEADERS).json()
        assert [e["resource"]["name"][0]["family"] for e in found["entry"]] == order


def test_a_name_of_a_million_characters_is_stored_and_sorted(client):
    """The sort key is made of the first 256 characters: a key of the whole text (three
    times its length, for each string parameter) made the resource too large to store."""
    marker = uuid.uuid4().hex[:12]
    ids = []
    for family in ("b" * 1_000_000, "a" * 1_000_000):
        created = client.post("/Patient", headers=FHIR_HEADERS, json={
            "resourceType": "Patient", "name": [{"family": family, "given": [marker]}]})
        assert created.status_code == 201, created.text[:500]
        ids.append(created.json()["id"])
    found = client.get("/Patient", params={"given": marker, "_sort": "family",
                                           "_elements": "id"}, headers=FHIR_HEADERS).json()
    assert [entry["resource"]["id"] for entry in found["entry"]] == ids[::-1]
