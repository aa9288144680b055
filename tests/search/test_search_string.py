"""String search on real Vietnamese names and addresses
(http://hl7.org/fhir/R4/search.html#string): the default is a case- and accent-insensitive
"starts with" on any part of a HumanName or Address, `:exact` is the whole value with its
case and accents, `:contains` matches anywhere (folded).

Every name part and address part here is chosen so that matching whole parts and matching
each word of a part ("servers should search the parts of a family name independently")
give the same expected sets.
"""

import unicodedata

import pytest
from api.helpers import search_ids
from search.helpers import expected, found, load, query_of, search, self_link

NFD = "NFD"


def _name(family: str, *given: str, **extra) -> list[dict]:
    return [{"use": "official", "family": family, "given": list(given), **extra}]


def _patient(name: list[dict], **extra) -> dict:
    return {"resourceType": "Patient", "name": name, **extra}


def _nfd(text: str) -> str:
    return unicodedata.normalize(NFD, text)


PATIENTS = {
    "nguyen_anh": _patient(
        _name("Nguyễn", "Thị", "Ánh", text="Nguyễn Thị Ánh"),
        address=[{"use": "home", "line": ["15 Hàng Bài"], "district": "Hoàn Kiếm",
                  "city": "Hà Nội", "postalCode": "100000", "country": "Việt Nam"}]),
    "nguyen_an": _patient(_name("Nguyễn", "Văn", "An")),
    "nguyen_upper": _patient(_name("NGUYỄN", "Hoàng")),
    "nguyen_plain": _patient(_name("Nguyen", "Peter")),
    "dang": _patient(
        _name("Đặng", "Văn", "Hùng"),
        address=[{"line": ["20 Bạch Đằng"], "district": "Hải Châu", "city": "Đà Nẵng",
                  "postalCode": "550000", "country": "Việt Nam"}]),
    "truong": _patient(
        _name("Trương", "Minh", "Đức"),
        address=[{"line": ["201B Nguyễn Chí Thanh"], "district": "Quận 5",
                  "city": "Hồ Chí Minh", "postalCode": "700000", "country": "VN"}]),
    # Sent decomposed (NFD), as some keyboards and OCR pipelines produce it.
    "huynh_nfd": _patient(
        _name(_nfd("Huỳnh"), _nfd("Ngọc"), _nfd("Lan")),
        address=[{"district": _nfd("Ninh Kiều"), "city": _nfd("Cần Thơ")}]),
    "pham": _patient(
        _name("Phạm", "Quốc", "Bảo", prefix=["Ông"], suffix=["Thạc sĩ"]),
        address=[{"line": ["Thôn Đông"], "district": "Đông Anh", "city": "Hà Nội"}]),
    "le": _patient(_name("Lê", "Thu", "Hà"), address=[{"text": "Số 1 Đại Cồ Việt"}]),
    "vo": _patient(_name("Võ", "Thị", "Sáu"),
                   address=[{"city": "Hội An", "state": "Quảng Nam"}]),
    "bui": _patient(_name("Bùi", "Xuân", "Phái")),
    "do": _patient(_name("Đỗ", "Mười")),
    "ngo": _patient(_name("Ngô", "Bảo", "Châu")),
    "duong": _patient(_name("Dương", "Quá")),
    "ly": _patient(_name("Lý", "Công", "Uẩn")),
    "alias": _patient(_name("Trần", "Thanh", "Tâm") + [{"use": "nickname", "text": "Bé Na"}]),
    "no_name": {"resourceType": "Patient", "gender": "unknown"},
}
OTHERS = {
    "bach_mai": {"resourceType": "Organization", "name": "Bệnh viện Bạch Mai",
                 "alias": ["Bạch Mai"], "address": [{"city": "Hà Nội"}]},
    "cho_ray": {"resourceType": "Organization", "name": "Bệnh viện Chợ Rẫy",
                "alias": ["Chợ Rẫy"], "address": [{"city": "Hồ Chí Minh"}]},
    "bac_si": {"resourceType": "Practitioner", "name": _name("Trần", "Văn", "Bác", prefix=["BS"]),
               "address": [{"city": "Huế", "country": "Việt Nam"}]},
}
NGUYEN = {"nguyen_anh", "nguyen_an", "nguyen_upper", "nguyen_plain"}


@pytest.fixture(scope="module")
def ids(client) -> dict[str, str]:
    return load(client, {**PATIENTS, **OTHERS})


@pytest.mark.parametrize(
    ("params", "keys"),
    [
        # Case and accents are ignored, in the query as in the data.
        ({"family": "nguyen"}, NGUYEN),
        ({"family": "NGUYỄN"}, NGUYEN),
        ({"family": "Nguyen"}, NGUYEN),
        ({"family": "nguyễn"}, NGUYEN),
        ({"family": "nGuYeN"}, NGUYEN),
        ({"family": "nguy"}, NGUYEN),
        ({"family": "guyen"}, set()),
        ({"family": "nguyenx"}, set()),
        ({"given": "anh"}, {"nguyen_anh"}),
        ({"given": "an"}, {"nguyen_anh", "nguyen_an"}),
        ({"given": "thi"}, {"nguyen_anh", "vo"}),
        ({"given": "THỊ"}, {"nguyen_anh", "vo"}),
        ({"given": "van"}, {"nguyen_an", "dang"}),
        ({"given": "hoang"}, {"nguyen_upper"}),
        # đ/Đ do not decompose in Unicode, yet fold to d.
        ({"name": "dang"}, {"dang"}),
        ({"family": "dang"}, {"dang"}),
        ({"family": "d"}, {"dang", "do", "duong"}),
        ({"family": "đ"}, {"dang", "do", "duong"}),
        ({"family": "Đ"}, {"dang", "do", "duong"}),
        ({"family": "do"}, {"do"}),
        ({"name": "d"}, {"dang", "do", "duong", "truong"}),
        ({"given": "duc"}, {"truong"}),
        ({"given": "ĐỨC"}, {"truong"}),
        ({"family": "truong"}, {"truong"}),
        ({"family": "huynh"}, {"huynh_nfd"}),
        ({"family": "Huỳnh"}, {"huynh_nfd"}),
        ({"given": "ngoc"}, {"huynh_nfd"}),
        ({"family": "pham"}, {"pham"}),
        ({"family": "le"}, {"le"}),
        ({"family": "vo"}, {"vo"}),
        ({"family": "bui"}, {"bui"}),
        ({"family": "ngo"}, {"ngo"}),
        ({"family": "duong"}, {"duong"}),
        ({"family": "ly"}, {"ly"}),
        ({"given": "uan"}, {"ly"}),
        ({"given": "muoi"}, {"do"}),
        ({"family": "tran"}, {"alias"}),
        # `name` covers family, given, prefix, suffix and text.
        ({"name": "nguyen"}, NGUYEN),
        ({"name": "ong"}, {"pham"}),
        ({"name": "thac si"}, {"pham"}),
        ({"name": "nguyen thi"}, {"nguyen_anh"}),
        # Repeated spaces and tabs are not significant.
        ({"name": "nguyen  thi"}, {"nguyen_anh"}),
        ({"name": "nguyen\tthi"}, {"nguyen_anh"}),
        ({"name": "be na"}, {"alias"}),
        ({"name": "bao"}, {"pham", "ngo"}),
        ({"name": "chau"}, {"ngo"}),
        # Several values are OR, repeated parameters are AND.
        ({"family": "le,vo"}, {"le", "vo"}),
        ({"family": "dang,ngo,nope"}, {"dang", "ngo"}),
        ([("family", "nguyen"), ("given", "an")], {"nguyen_anh", "nguyen_an"}),
        ([("family", "nguyen"), ("given", "van")], {"nguyen_an"}),
        ([("given", "van"), ("given", "hung")], {"dang"}),
        ([("family", "le"), ("family", "vo")], set()),
    ],
)
def test_default_string_search_is_a_folded_starts_with_on_any_name_part(
        client, ids, params, keys):
    assert found(client, "/Patient", params) == expected(ids, keys)


@pytest.mark.parametrize(
    ("params", "keys"),
    [
        ({"family:exact": "Nguyễn"}, {"nguyen_anh", "nguyen_an"}),
        ({"family:exact": "NGUYỄN"}, {"nguyen_upper"}),
        ({"family:exact": "Nguyen"}, {"nguyen_plain"}),
        ({"family:exact": "nguyễn"}, set()),
        ({"family:exact": "Nguyễ"}, set()),
        ({"family:exact": "Nguyễn "}, set()),
        ({"family:exact": "Đặng"}, {"dang"}),
        ({"family:exact": "Dặng"}, set()),
        ({"family:exact": "Đăng"}, set()),
        ({"given:exact": "Ánh"}, {"nguyen_anh"}),
        ({"given:exact": "Anh"}, set()),
        ({"given:exact": "Thị"}, {"nguyen_anh", "vo"}),
        ({"name:exact": "Bé Na"}, {"alias"}),
        ({"name:exact": "Nguyễn Thị Ánh"}, {"nguyen_anh"}),
        ({"name:exact": "Thạc sĩ"}, {"pham"}),
        ({"family:exact": "Nguyễn,Lê"}, {"nguyen_anh", "nguyen_an", "le"}),
    ],
)
def test_exact_matches_the_whole_value_with_its_case_and_accents(client, ids, params, keys):
    assert found(client, "/Patient", params) == expected(ids, keys)


@pytest.mark.parametrize(
    ("params", "keys"),
    [
        ({"family:contains": "guyen"}, NGUYEN),
        ({"family:contains": "UYỄ"}, NGUYEN),
        ({"family:contains": "ương"}, {"truong", "duong"}),
        ({"family:contains": "uong"}, {"truong", "duong"}),
        ({"family:contains": "ng"}, NGUYEN | {"dang", "truong", "ngo", "duong"}),
        ({"given:contains": "uc"}, {"truong"}),
        ({"given:contains": "oc"}, {"pham", "huynh_nfd"}),
        ({"given:contains": "AO"}, {"pham", "ngo"}),
        ({"name:contains": "si"}, {"pham"}),
        ({"name:contains": "na"}, {"alias"}),
        ({"family:contains": "xyz"}, set()),
    ],
)
def test_contains_matches_anywhere_in_the_folded_value(client, ids, params, keys):
    assert found(client, "/Patient", params) == expected(ids, keys)


@pytest.mark.parametrize(
    ("params", "keys"),
    [
        ({"address": "ha noi"}, {"nguyen_anh", "pham"}),
        ({"address": "HÀ NỘI"}, {"nguyen_anh", "pham"}),
        ({"address": "15 hang"}, {"nguyen_anh"}),
        ({"address": "hoan kiem"}, {"nguyen_anh"}),
        ({"address": "hai chau"}, {"dang"}),
        ({"address": "dong"}, {"pham"}),
        ({"address": "so 1"}, {"le"}),
        ({"address": "can tho"}, {"huynh_nfd"}),
        ({"address": "quang nam"}, {"vo"}),
        ({"address": "5500"}, {"dang"}),
        ({"address-city": "ha"}, {"nguyen_anh", "pham"}),
        ({"address-city": "ho"}, {"truong", "vo"}),
        ({"address-city": "đa nang"}, {"dang"}),
        ({"address-city:exact": "Hà Nội"}, {"nguyen_anh", "pham"}),
        ({"address-city:exact": "Ha Noi"}, set()),
        ({"address-city:exact": "hà nội"}, set()),
        ({"address-state": "quang"}, {"vo"}),
        ({"address-postalcode": "55"}, {"dang"}),
        ({"address-postalcode": "700000"}, {"truong"}),
        ({"address-country": "viet nam"}, {"nguyen_anh", "dang"}),
        ({"address-country": "vn"}, {"truong"}),
        ({"address-country:exact": "VN"}, {"truong"}),
        ({"address:contains": "kiem"}, {"nguyen_anh"}),
        ({"address:contains": "kieu"}, {"huynh_nfd"}),
        ({"address-city:contains": "nang"}, {"dang"}),
    ],
)
def test_address_search_covers_every_string_part_of_the_address(client, ids, params, keys):
    assert found(client, "/Patient", params) == expected(ids, keys)


@pytest.mark.parametrize(
    ("path", "params", "keys"),
    [
        ("/Organization", {"name": "benh vien"}, {"bach_mai", "cho_ray"}),
        ("/Organization", {"name": "bach mai"}, {"bach_mai"}),
        ("/Organization", {"name": "CHO RAY"}, {"cho_ray"}),
        ("/Organization", {"name:exact": "Bệnh viện Chợ Rẫy"}, {"cho_ray"}),
        ("/Organization", {"name:exact": "Bệnh viện Cho Ray"}, set()),
        ("/Organization", {"name:contains": "vien bach"}, {"bach_mai"}),
        ("/Organization", {"address-city": "ho chi minh"}, {"cho_ray"}),
        ("/Practitioner", {"family": "tran"}, {"bac_si"}),
        ("/Practitioner", {"name": "bs"}, {"bac_si"}),
        ("/Practitioner", {"given": "bac"}, {"bac_si"}),
        ("/Practitioner", {"address-city": "hue"}, {"bac_si"}),
        ("/Practitioner", {"address-country": "viet nam"}, {"bac_si"}),
        ("/Patient", {"given": "bac"}, set()),
    ],
)
def test_organization_and_practitioner_strings(client, ids, path, params, keys):
    assert found(client, path, params) == expected(ids, keys)


@pytest.mark.parametrize(
    ("params", "keys"),
    [
        # A decomposed (NFD) query finds composed data, and the other way round.
        ({"family": _nfd("Nguyễn")}, NGUYEN),
        ({"family": _nfd("Trương")}, {"truong"}),
        ({"family": _nfd("Huỳnh")}, {"huynh_nfd"}),
        ({"family": "Huỳnh"}, {"huynh_nfd"}),
        ({"given": _nfd("Ánh")}, {"nguyen_anh"}),
        ({"address-city": _nfd("Hà Nội")}, {"nguyen_anh", "pham"}),
        ({"address-city": "Cần Thơ"}, {"huynh_nfd"}),
        ({"family:contains": _nfd("ỳn")}, {"huynh_nfd"}),
    ],
)
def test_composed_and_decomposed_unicode_are_the_same_text(client, ids, params, keys):
    assert found(client, "/Patient", params) == expected(ids, keys)


@pytest.mark.parametrize("value", ["nguyen", "Nguyễn Thị", "dang van", "hung", "Huỳnh"])
def test_phonetic_is_matched_as_name_is(client, ids, value):
    assert found(client, "/Patient", {"phonetic": value}) == found(
        client, "/Patient", {"name": value})


def test_the_capability_statement_says_phonetic_is_not_phonetic(client):
    """R4 leaves the algorithm to the server ("some kind of phonetic matching algorithm"):
    English phonetic codes would give most Vietnamese names one another's code, so clients
    are told where they look that it is the name search."""
    notes = {resource["type"]: param["documentation"]
             for resource in client.get("/metadata").json()["rest"][0]["resource"]
             for param in resource.get("searchParam", []) if param["name"] == "phonetic"}
    assert set(notes) == {"Patient", "Person", "Practitioner", "RelatedPerson",
                          "Organization", "InsurancePlan"}
    assert all("not phonetically" in note for note in notes.values()), notes


def test_a_missing_name_is_found_with_missing(client, ids):
    assert found(client, "/Patient", {"name:missing": "true"}) == expected(ids, {"no_name"})
    assert found(client, "/Patient", {"family:missing": "true"}) == expected(ids, {"no_name"})
    assert found(client, "/Patient", {"address:missing": "false"}) == expected(
        ids, {"nguyen_anh", "dang", "truong", "huynh_nfd", "pham", "le", "vo"})


@pytest.mark.parametrize("blank", [" ", "  ,", "\t"])
def test_a_blank_value_is_no_value_and_is_ignored(client, ids, blank):
    """`name=%20` names no text: ignored as `name=` is, not a prefix every name has."""
    everyone = found(client, "/Patient", {"_id:missing": "false"})
    assert found(client, "/Patient", {"name": blank}) == everyone
    assert found(client, "/Patient", {"name": f"{blank},đặng"}) == found(
        client, "/Patient", {"name": "đặng"})


COMBINING_MARKS = ["\u0301", "\u0300\u0323", " \u0303 "]


@pytest.mark.parametrize("marks", COMBINING_MARKS)
@pytest.mark.parametrize("name", ["family", "name", "name:contains", "address",
                                  "general-practitioner.name", "phonetic"])
def test_a_value_folding_to_nothing_is_no_value_and_is_ignored(client, ids, name, marks):
    """Combining marks alone fold away (`Đặng` is matched as `dang`): such a value names no
    text, and is ignored as a blank one is, also at the end of a chain, and left out of the
    self link. As the prefix '' it matched every name (or every patient whose practitioner
    has one)."""
    everyone = found(client, "/Patient", {"_id:missing": "false"})
    bundle = search(client, "/Patient", {name: marks})
    assert name not in dict(query_of(self_link(bundle)))
    assert found(client, "/Patient", {name: marks}) == everyone
    assert found(client, "/Patient", {"family": f"{marks},đặng"}) == expected(ids, {"dang"})


def test_a_value_set_author_is_searched_by_its_name(client):
    """The extensions pack's ValueSet `author` is a string parameter over the
    `valueset-author` extension, whose value is a ContactDetail: it indexed nothing, so
    `author=` found no value set, whatever its author."""
    author = {"name": "Nguyễn Thị Mai", "telecom": [{"system": "email", "value": "mai@byt.vn"}]}
    value_set = {"resourceType": "ValueSet", "status": "draft", "extension": [
        {"url": "http://hl7.org/fhir/StructureDefinition/valueset-author",
         "valueContactDetail": author}]}
    response = client.post("/ValueSet", json=value_set)
    assert response.status_code == 201, response.text
    value_set_id = response.json()["id"]
    for criteria, expected_ids in [({"author": "nguyen thi"}, [value_set_id]),
                                   ({"author:exact": "Nguyễn Thị Mai"}, [value_set_id]),
                                   ({"author:contains": "mai"}, [value_set_id]),
                                   ({"author": "mai@byt"}, []),
                                   ({"author:missing": "false"}, [value_set_id])]:
        assert search_ids(client, "ValueSet", **criteria, _id=value_set_id) == expected_ids, (
            criteria)
