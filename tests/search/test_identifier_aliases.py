"""Identifier search across the aliases of a Vietnamese identifier system
(http://hl7.org/fhir/R4/search.html#token): a resource written with the Ministry of Health's
system URI is found with the community guide's, and the reverse, in every token form
(`system|value`, `system|`, `:of-type`, `:not`), through references (`:identifier`) and in
conditional creates."""

import pytest
from api.helpers import FHIR_HEADERS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from search.helpers import V2_0203, expected, found, load, ref

from fhir_server.conformance.identifier_systems import IDENTIFIER_SYSTEMS

MOH = "http://fhir.ehealth.gov.vn/core/sid/"
COMMUNITY = "http://fhir.hl7.org.vn/core/sid/"
MOH_CCCD, CCCD = MOH + "national_id", COMMUNITY + "cccd"
MOH_BHYT, BHYT = MOH + "insurance_number", COMMUNITY + "bhyt"
MOH_FACILITY, FACILITY = MOH + "provider-code", COMMUNITY + "ma-cskcb"
HOSPITAL_MRN = "http://benhvien-choray.vn/fhir/sid/mrn"


def _identifier(system: str, value: str, type_code: str | None = None) -> dict:
    identifier = {"system": system, "value": value}
    if type_code:
        identifier["type"] = {"coding": [{"system": V2_0203, "code": type_code}]}
    return identifier


RESOURCES = {
    "moh": {"resourceType": "Patient", "identifier": [
        _identifier(MOH_CCCD, "079193000011", "NI"),
        _identifier(MOH_BHYT, "HC4790123456789", "SB"),
        _identifier(MOH + "driver_license_number", "790123456789")]},
    "community": {"resourceType": "Patient", "identifier": [
        _identifier(CCCD, "001085000021", "NI"),
        # Another holder's BHXH code than the MoH patient's card holds (the same digits
        # would be the same person: a card is found by its holder's code).
        _identifier(BHYT, "0198765432", "SB")]},
    # The same value under a hospital's own system: not a CCCD.
    "mrn": {"resourceType": "Patient", "identifier": [
        _identifier(HOSPITAL_MRN, "079193000011", "MR")]},
    "hospital": {"resourceType": "Organization", "name": "Bệnh viện Chợ Rẫy",
                 "identifier": [_identifier(MOH_FACILITY, "79002")]},
    "coverage": {"resourceType": "Coverage", "status": "active",
                 "identifier": [_identifier(BHYT, "HC4790123456789")],
                 "beneficiary": {"reference": ref("moh")["reference"],
                                 "identifier": _identifier(MOH_CCCD, "079193000011")},
                 "payor": [{"identifier": _identifier(FACILITY, "79002")}]},
}


@pytest.fixture(scope="module")
def ids(client) -> dict[str, str]:
    return load(client, RESOURCES)


@pytest.mark.parametrize(("path", "params", "keys"), [
    # Written with the Ministry's systems, found with the community's, and the reverse.
    ("/Patient", {"identifier": f"{CCCD}|079193000011"}, {"moh"}),
    ("/Patient", {"identifier": f"{MOH_CCCD}|079193000011"}, {"moh"}),
    ("/Patient", {"identifier": f"{MOH_CCCD}|001085000021"}, {"community"}),
    ("/Patient", {"identifier": f"{BHYT}|HC4790123456789"}, {"moh"}),
    ("/Patient", {"identifier": f"{MOH_BHYT}|0198765432"}, {"community"}),
    ("/Patient", {"identifier": f"{MOH}driver-license-number|790123456789"}, {"moh"}),
    ("/Organization", {"identifier": f"{FACILITY}|79002"}, {"hospital"}),
    ("/Coverage", {"identifier": f"{MOH_BHYT}|HC4790123456789"}, {"coverage"}),
    # The other forms of a token.
    ("/Patient", {"identifier": f"{CCCD}|"}, {"moh", "community"}),
    ("/Patient", {"identifier": f"{MOH_CCCD}|"}, {"moh", "community"}),
    ("/Patient", {"identifier": "079193000011"}, {"moh", "mrn"}),
    ("/Patient", {"identifier": "|079193000011"}, set()),
    ("/Patient", {"identifier": f"{CCCD}|079193000011,{MOH_BHYT}|0198765432"},
     {"moh", "community"}),
    ("/Patient", {"identifier:of-type": f"{V2_0203}|NI|079193000011"}, {"moh"}),
    ("/Patient", {"identifier:not": f"{CCCD}|079193000011"}, {"community", "mrn"}),
    # An identifier in a reference.
    ("/Coverage", {"beneficiary:identifier": f"{CCCD}|079193000011"}, {"coverage"}),
    ("/Coverage", {"payor:identifier": f"{MOH_FACILITY}|79002"}, {"coverage"}),
])
def test_search_across_aliases(client, ids, path, params, keys):
    assert found(client, path, params) == expected(ids, keys)


def test_conditional_create_finds_the_record_written_with_the_other_system(client, ids):
    patient = {"resourceType": "Patient", "identifier": [_identifier(CCCD, "079193000011")]}
    response = client.post("/Patient", json=patient, headers={
        **FHIR_HEADERS, "If-None-Exist": f"identifier={CCCD}|079193000011"})
    assert response.status_code == 200, response.text
    assert response.json()["id"] == ids["moh"]


def _value(index: int, entry) -> str:
    """A value of its own for each kind, one that follows the kind's rule."""
    candidates = [f"0791930000{index:02d}", f"01234567{index:02d}", f"1234567{index:02d}",
                  f"C12345{index:02d}"]
    return next(c for c in candidates if entry.rule is None or entry.rule.problem(c) is None)


# One Patient per URI of the table.
VALUES = {entry.canonical: _value(index, entry) for index, entry in enumerate(IDENTIFIER_SYSTEMS)}
WRITTEN = {f"{entry.canonical} as {uri}": {"resourceType": "Patient", "identifier": [
    _identifier(uri, VALUES[entry.canonical])]}
    for entry in IDENTIFIER_SYSTEMS for uri in (entry.canonical, *entry.aliases)}


@pytest.fixture(scope="module")
def every_uri(client) -> dict[str, str]:
    return load(client, WRITTEN)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(IDENTIFIER_SYSTEMS), st.data())
def test_any_alias_finds_every_spelling(client, every_uri, entry, data):
    uri = data.draw(st.sampled_from((entry.canonical, *entry.aliases)))
    spellings = _spellings(every_uri, entry.canonical)
    # A BHXH code is a BHYT number of 10 digits (test_every_form_of_one_bhxh_code_...).
    others = (set(every_uri.values()) - spellings
              - _spellings(every_uri, LINKED_SYSTEMS.get(entry.canonical, "")))
    assert found(client, "/Patient", {"identifier": f"{uri}|{VALUES[entry.canonical]}"}) == (
        spellings)
    with_system = found(client, "/Patient", {"identifier": f"{uri}|"})
    assert spellings <= with_system and not with_system & others


LINKED_SYSTEMS = {COMMUNITY + "bhyt": COMMUNITY + "bhxh", COMMUNITY + "bhxh": COMMUNITY + "bhyt"}


def _spellings(every_uri: dict[str, str], canonical: str) -> set[str]:
    """The Patients written with any URI of the system `canonical`."""
    return {resource_id for key, resource_id in every_uri.items()
            if key.startswith(f"{canonical} as ")}


BHXH = LINKED_SYSTEMS[BHYT]
# One BHXH code written in each of its three forms since 2025 (Decision 1666/QĐ-BHXH):
# a 10-digit BHYT number, the BHXH code, and a card that holds it.
ONE_CODE = {
    "bhyt number": {"resourceType": "Patient",
                    "identifier": [_identifier(MOH_BHYT, "0311223344", "HC")]},
    "bhxh code": {"resourceType": "Patient", "identifier": [_identifier(BHXH, "0311223344")]},
    "card": {"resourceType": "Patient",
             "identifier": [_identifier(BHYT, "DN4790311223344", "HC")]},
}


@pytest.fixture(scope="module")
def one_code(client) -> dict[str, str]:
    return load(client, ONE_CODE)


@pytest.mark.parametrize(("params", "keys"), [
    ({"identifier": f"{BHYT}|0311223344"}, {"bhyt number", "bhxh code", "card"}),
    ({"identifier": f"{BHXH}|0311223344"}, {"bhyt number", "bhxh code", "card"}),
    ({"identifier": f"{MOH_BHYT}|DN4790311223344"}, {"bhyt number", "bhxh code", "card"}),
    ({"identifier:of-type": f"{V2_0203}|HC|0311223344"}, {"bhyt number", "card"}),
    ({"identifier:of-type": f"{V2_0203}|HC|DN4790311223344"}, {"card"}),
])
def test_every_form_of_one_bhxh_code_finds_the_others(client, one_code, params, keys):
    assert found(client, "/Patient", params) == expected(one_code, keys)
