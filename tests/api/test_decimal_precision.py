"""Decimals keep the precision they were sent with (http://hl7.org/fhir/R4/datatypes.html#decimal:
0.010 is not 0.01): `13.50` is stored and answered as `13.50`, in JSON and XML, through
create, read, history, search Bundles, PATCH, transactions and bulk export, and the
signature over it still verifies."""

import base64
import re

import pytest
from helpers import FHIR_HEADERS, JSON_PATCH, assert_outcome, new_patient
from provenance.helpers import joserfc_verify, provenance_of, versioned

# Written as a client writes them: trailing zeros, more digits than a double holds, an
# exponent (R4's Observation-decimal example: 1E-22, -1.000000000000000000E+245).
DIGITS = ["13.50", "1400.00", "0.10", "-3.50", "0.123456789012345678901", "100.0000000001",
          "0.0000001", "1E-22", "-1.000000000000000000E+245"]


def _observation_text(patient_id: str, values: list[str]) -> str:
    components = ",".join(
        f'{{"code":{{"text":"c{i}"}},"valueQuantity":{{"value":{value},"unit":"mg"}}}}'
        for i, value in enumerate(values)
    )
    return (
        '{"resourceType":"Observation","status":"final","code":{"text":"precision"},'
        f'"subject":{{"reference":"Patient/{patient_id}"}},"component":[{components}]}}'
    )


def _numbers(text: str) -> list[str]:
    """The literal `value`s of a JSON body, in order."""
    return re.findall(r'"value":\s*(-?[0-9][0-9.eE+-]*)', text)


@pytest.fixture(scope="module")
def patient_id(client) -> str:
    response = client.post("/Patient", json=new_patient(), headers=FHIR_HEADERS)
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.fixture(scope="module")
def observation(client, patient_id) -> dict:
    response = client.post("/Observation", content=_observation_text(patient_id, DIGITS),
                           headers=FHIR_HEADERS)
    assert response.status_code == 201, response.text
    assert _numbers(response.text) == DIGITS
    return response.json()


def test_read_vread_and_history_answer_the_digits_sent(client, observation):
    path = f"/Observation/{observation['id']}"
    for url in (path, f"{path}/_history/1", f"{path}/_history", f"{path}?_pretty=true"):
        response = client.get(url)
        assert response.status_code == 200, response.text
        assert _numbers(response.text) == DIGITS, url


def test_search_matches_by_value_and_the_bundle_keeps_the_digits(client, observation):
    for query in ("13.5", "13.50", "1400"):
        response = client.get("/Observation", params={"component-value-quantity": query,
                                                       "_id": observation["id"]})
        assert response.status_code == 200, response.text
        assert response.json()["total"] == 1, query
        assert _numbers(response.text) == DIGITS
    response = client.get("/Observation", params={"component-value-quantity": "gt13.51",
                                                   "_id": observation["id"]})
    assert response.json()["total"] == 1  # 1400.00 and 100.0000000001
    response = client.get("/Observation", params={"component-value-quantity": "gt1400.001",
                                                   "_id": observation["id"]})
    assert response.json()["total"] == 0


@pytest.mark.parametrize("value", [*DIGITS, "66.899999999999991", "1000000000000000000",
                                   "1.000000000000000000E-245"])
def test_a_value_with_more_digits_than_a_double_is_found_by_itself(client, patient_id, value):
    """Its range of precision rounds to one double: it still holds the value (it was
    empty, and `ne` matched instead)."""
    response = client.post("/Observation", content=_observation_text(patient_id, [value]),
                           headers=FHIR_HEADERS)
    assert response.status_code == 201, response.text
    observation_id = response.json()["id"]
    for prefix, total in (("", 1), ("eq", 1), ("ne", 0), ("ge", 1), ("le", 1)):
        found = client.get("/Observation", params={"component-value-quantity": prefix + value,
                                                   "_id": observation_id}).json()
        assert found["total"] == total, (prefix, value)


def test_a_tiny_decimal_keeps_its_exponent(client, patient_id):
    """Written out in full, 1E-6000 was 6 KB of zeros in every answer holding it."""
    response = client.post("/Observation", content=_observation_text(patient_id, ["1E-6000"]),
                           headers=FHIR_HEADERS)
    assert response.status_code == 201, response.text
    read = client.get(f"/Observation/{response.json()['id']}")
    assert _numbers(read.text) == ["1E-6000"]
    assert len(read.content) < 1000


def test_a_decimal_written_as_a_large_integer_is_kept(client, patient_id):
    """20 digits without a fraction fit a Decimal128 (34 digits) but not MongoDB's 64-bit
    integer: it was refused unless written with an exponent."""
    digits = "12345678901234567890"
    response = client.post("/Observation", content=_observation_text(patient_id, [digits]),
                           headers=FHIR_HEADERS)
    assert response.status_code == 201, response.text
    read = client.get(f"/Observation/{response.json()['id']}")
    assert _numbers(read.text) == [digits]
    found = client.get("/Observation", params={"component-value-quantity": "ge1e19",
                                               "_id": response.json()["id"]}).json()
    assert found["total"] == 1


@pytest.mark.parametrize(("digits", "found_by", "not_by"), [
    ("1E-400", "gt0", "le0"), ("-1E-400", "lt0", "ge0")])
def test_a_decimal_below_the_smallest_double_is_no_zero_to_search(client, patient_id, digits,
                                                                  found_by, not_by):
    """A Decimal128 goes down to 1E-6176, a double to about 5E-324: indexed as 0, it was
    missed by gt0 and found by le0; and a search for it was a 400 ("beyond the range")."""
    response = client.post("/Observation", content=_observation_text(patient_id, [digits]),
                           headers=FHIR_HEADERS)
    assert response.status_code == 201, response.text
    observation_id = response.json()["id"]
    for prefix, total in ((found_by, 1), (not_by, 0), (digits, 1), (f"ge{digits}", 1),
                          (f"ne{digits}", 0)):
        found = client.get("/Observation", params={"component-value-quantity": prefix,
                                                   "_id": observation_id}).json()
        assert found["total"] == total, prefix


def test_a_decimal_beyond_a_double_is_refused_naming_it(client, patient_id):
    response = client.post("/Observation", content=_observation_text(patient_id, ["1E309"]),
                           headers=FHIR_HEADERS)
    assert "1E309" in assert_outcome(response, 400)["issue"][0]["diagnostics"]


def test_xml_writes_and_reads_the_digits(client, observation, patient_id):
    response = client.get(f"/Observation/{observation['id']}",
                          headers={"Accept": "application/fhir+xml"})
    assert re.findall(r'<value value="([^"]+)"/>', response.text) == DIGITS
    xml = response.text.replace(f'<id value="{observation["id"]}"/>', "")
    created = client.post("/Observation", content=xml.encode(),
                          headers={"Content-Type": "application/fhir+xml"})
    assert created.status_code == 201, created.text
    assert _numbers(client.get(f"/Observation/{created.json()['id']}").text) == DIGITS


def test_patch_and_transaction_keep_the_digits(client, patient_id, observation):
    patch = b'[{"op":"replace","path":"/component/0/valueQuantity/value","value":2.50}]'
    response = client.patch(f"/Observation/{observation['id']}", content=patch,
                            headers={"Content-Type": JSON_PATCH})
    assert response.status_code == 200, response.text
    assert _numbers(response.text) == ["2.50", *DIGITS[1:]]

    entry = _observation_text(patient_id, ["7.250", "0.0"])
    bundle = (
        '{"resourceType":"Bundle","type":"transaction","entry":[{"resource":' + entry
        + ',"request":{"method":"POST","url":"Observation"}}]}'
    )
    response = client.post("", content=bundle, headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    location = response.json()["entry"][0]["response"]["location"]
    stored = client.get(location.split("/_history")[0])
    assert _numbers(stored.text) == ["7.250", "0.0"]


def test_the_signature_over_a_decimal_verifies(client, observation):
    """The signed bytes are JCS (numbers as doubles), so the digits sent change nothing: a
    verifier that reads `13.50` as the double 13.5 checks the server's signature."""
    stored = client.get(f"/Observation/{observation['id']}").json()
    provenance = provenance_of(client, versioned(stored))
    joserfc_verify(provenance["signature"][0], stored)


@pytest.mark.parametrize("digits", ["1." + "1" * 40, "1e-7000", "1e-100000000",
                                    "123456789012345678901234567890.123456789",
                                    "0e-99999999", "0E-7000", "0e6144"])
def test_a_decimal_no_decimal128_holds_is_refused(client, patient_id, digits):
    """It was stored as the nearest double (1e-7000 as 0.0) while the 201 showed it as
    sent, and 1e-100000000 made a 100 MB response; a zero's exponent was clamped (0E-7000
    stored as 0E-6176, another precision): 400, nothing stored."""
    before = client.get("/Observation", params={"subject": f"Patient/{patient_id}",
                                                "_summary": "count"}).json()["total"]
    response = client.post("/Observation", content=_observation_text(patient_id, [digits]),
                           headers=FHIR_HEADERS)
    assert_outcome(response, 400)
    assert "cannot be kept exactly" in response.text
    assert client.get("/Observation", params={"subject": f"Patient/{patient_id}",
                                              "_summary": "count"}).json()["total"] == before


def test_base64_of_a_patch_in_a_bundle_keeps_the_digits(client, observation):
    patch = base64.b64encode(
        b'[{"op":"replace","path":"/component/1/valueQuantity/value","value":9.90}]').decode()
    bundle = {
        "resourceType": "Bundle", "type": "transaction",
        "entry": [{
            "resource": {"resourceType": "Binary", "contentType": JSON_PATCH, "data": patch},
            "request": {"method": "PATCH", "url": f"Observation/{observation['id']}"},
        }],
    }
    response = client.post("", json=bundle, headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    stored = client.get(f"/Observation/{observation['id']}")
    assert _numbers(stored.text)[1] == "9.90"


ZERO_BEYOND_DECIMAL128 = "0e-99999999"


@pytest.mark.parametrize("write", ["put", "json-patch", "fhirpath-patch", "transaction", "xml"])
def test_a_zero_no_decimal128_holds_is_refused_by_every_write(client, patient_id, observation,
                                                               write):
    """Each identical PUT of `0e-99999999` made a new version (the value sent was compared
    with the `0E-6176` stored), and a PATCH answered it as sent: 400, no version made."""
    path = f"/Observation/{observation['id']}"
    version = client.get(path).json()["meta"]["versionId"]
    response = _write_zero(client, patient_id, path, write)
    assert "cannot be kept exactly" in assert_outcome(response, 400)["issue"][0]["diagnostics"]
    assert client.get(path).json()["meta"]["versionId"] == version


def _write_zero(client, patient_id: str, path: str, write: str):
    """`ZERO_BEYOND_DECIMAL128` as a quantity's value, written by `write` to `path`."""
    observation_id = path.rsplit("/", 1)[1]
    resource = _observation_text(patient_id, [ZERO_BEYOND_DECIMAL128]).replace(
        '"Observation",', f'"Observation","id":"{observation_id}",', 1)
    if write == "put":
        return client.put(path, content=resource, headers=FHIR_HEADERS)
    if write == "json-patch":
        patch = ('[{"op":"replace","path":"/component/0/valueQuantity/value","value":'
                 f"{ZERO_BEYOND_DECIMAL128}}}]")
        return client.patch(path, content=patch, headers={"Content-Type": JSON_PATCH})
    if write == "fhirpath-patch":
        patch = ('{"resourceType":"Parameters","parameter":[{"name":"operation","part":['
                 '{"name":"type","valueCode":"replace"},{"name":"path","valueString":'
                 '"Observation.component[0].value.value"},{"name":"value","valueDecimal":'
                 f"{ZERO_BEYOND_DECIMAL128}}}]}}]}}")
        return client.patch(path, content=patch, headers=FHIR_HEADERS)
    if write == "transaction":
        bundle = ('{"resourceType":"Bundle","type":"transaction","entry":[{"resource":'
                  f'{resource},"request":{{"method":"PUT","url":"{path[1:]}"}}}}]}}')
        return client.post("", content=bundle, headers=FHIR_HEADERS)
    xml = client.get(path, headers={"Accept": "application/fhir+xml"}).text
    xml = re.sub(r'<value value="[^"]+"/>', f'<value value="{ZERO_BEYOND_DECIMAL128}"/>', xml,
                 count=1)
    return client.put(path, content=xml.encode(),
                      headers={"Content-Type": "application/fhir+xml"})
