"""What MongoDB cannot store (issue 14): a document over its 16 MiB limit, counting the search
index, is 413 before anything is written; a decimal beyond 64 bits is 400 (MongoDB has no
larger integer); neither is a 500."""

import conftest
import httpx
import pytest
from helpers import FHIR_HEADERS, assert_outcome, new_patient, unique_cccd
from pymongo import MongoClient


def _bundle(*entries: object, kind: str = "batch") -> dict:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


# ---------------------------------------------------------------- MongoDB's 16 MiB limit

@pytest.fixture(scope="module")
def roomy(mongo_uri, request, tmp_path_factory, issuer, signing_service):
    """A server that takes bodies up to 40 MiB, so the stored document is what overflows."""
    settings = conftest.test_settings(mongo_uri, conftest.database_name(request),
                                      tmp_path_factory.mktemp("d"), issuer, signing_service,
                                      max_body_bytes=40 * 1024 * 1024)
    with conftest.RunningServer(settings) as running, httpx.Client(
        base_url=running.base, timeout=120,
        headers={"Authorization": f"Bearer {issuer.token()}", **FHIR_HEADERS},
    ) as http:
        yield http


def _large_patient(megabytes: float) -> dict:
    """A Patient whose text is `megabytes` MiB of words (indexed by `_text`/`_content`
    nowhere, but stored twice: current and history)."""
    words = "Nguyễn Văn An khám bệnh " * int(megabytes * 1024 * 1024 / 30)
    return new_patient(unique_cccd(), text={"status": "generated",
                                            "div": f'<div xmlns="http://www.w3.org/1999/xhtml">'
                                                   f"{words}</div>"})


@pytest.mark.slow
def test_a_resource_beyond_mongodbs_document_limit_is_413(roomy):
    response = roomy.post("/Patient", json=_large_patient(17))
    outcome = assert_outcome(response, 413)
    assert "MongoDB" in outcome["issue"][0]["diagnostics"], outcome
    assert roomy.get("/Patient", params={"_count": "1"}).status_code == 200


@pytest.mark.slow
def test_many_names_beyond_mongodbs_document_limit_are_413(roomy):
    """A 9 MiB body, within every request limit, whose search index (name, family, given)
    makes the stored document too large."""
    names = [{"family": f"Nguyễn{i}" * 60, "given": [f"Văn{i}" * 60]} for i in range(9500)]
    response = roomy.post("/Patient", json=new_patient(name=names))
    outcome = assert_outcome(response, 413)
    assert "MongoDB" in outcome["issue"][0]["diagnostics"], outcome


@pytest.mark.slow
def test_a_resource_just_under_the_limit_is_stored(roomy):
    response = roomy.post("/Patient", json=_large_patient(6))
    assert response.status_code == 201, response.text[:300]


@pytest.mark.slow
def test_a_large_resource_in_a_transaction_is_413(roomy):
    bundle = _bundle({"resource": _large_patient(17),
                      "request": {"method": "POST", "url": "Patient"}}, kind="transaction")
    response = roomy.post("", json=bundle)
    assert_outcome(response, 413)


@pytest.mark.slow
def test_a_raw_binary_just_over_the_limit_once_stored_is_413(client):
    """12 MiB of bytes, within the 16 MiB body limit, are 16 MiB and a few hundred bytes
    stored as base64: MongoDB's own refusal of the insert (not the driver's) is 413 too."""
    response = client.post("/Binary", content=b"\x89PNG" * (3 * 1024 * 1024),
                           headers={"Content-Type": "application/octet-stream"})
    outcome = assert_outcome(response, 413)
    assert "MongoDB" in outcome["issue"][0]["diagnostics"], outcome


def _meta_of_tags(length: int) -> dict:
    """A `$meta-add` body of 9,000 tags of `length` characters and a few."""
    tags = [{"system": "http://example.org/tags", "code": f"t{i:05d}" + "x" * length}
            for i in range(9000)]
    return {"resourceType": "Parameters", "parameter": [{"name": "meta",
                                                         "valueMeta": {"tag": tags}}]}


@pytest.mark.slow
def test_meta_add_beyond_mongodbs_document_limit_is_413_as_a_put_is(roomy):
    """8.6 MB of tags, with their search entries over 16 MiB: `$meta-add` was a 500 (the
    driver's DocumentTooLarge), a PUT of the same tags 413. Nothing is written."""
    patient = roomy.post("/Patient", json=new_patient()).json()
    path = f"/Patient/{patient['id']}"
    body = _meta_of_tags(900)
    added = roomy.post(f"{path}/$meta-add", json=body)
    put = roomy.put(path, json={**patient, "meta": body["parameter"][0]["valueMeta"]})
    assert assert_outcome(added, 413)["issue"][0]["diagnostics"] == assert_outcome(
        put, 413)["issue"][0]["diagnostics"]
    assert roomy.get(path).json()["meta"] == patient["meta"]


@pytest.mark.slow
def test_meta_add_beyond_mongodbs_document_limit_on_a_past_version_is_413(roomy):
    """A past version's history document has no search index: 18 MB of tags make it too
    large all the same (over 16 MiB, within this server's body limit)."""
    patient = roomy.post("/Patient", json=new_patient()).json()
    path = f"/Patient/{patient['id']}"
    assert roomy.put(path, json={**patient, "active": False}).status_code == 200
    added = roomy.post(f"{path}/_history/1/$meta-add", json=_meta_of_tags(2000))
    assert "MongoDB" in assert_outcome(added, 413)["issue"][0]["diagnostics"]
    assert "tag" not in roomy.get(f"{path}/_history/1").json()["meta"]


@pytest.mark.slow
def test_reindex_leaves_a_resource_whose_entries_no_longer_fit_and_goes_on(client, server):
    """Entries that make a stored document too large (written when they were fewer) were an
    error that ended the pass, at every start: the resource keeps its entries, the others
    are re-indexed."""
    large, other = (client.post("/Patient", json=new_patient()).json() for _ in range(2))
    names = [{"family": f"Nguyễn{i}" * 60, "given": [f"Văn{i}" * 60]} for i in range(9500)]
    with MongoClient(server.settings.mongodb_uri) as mongo:
        patients = mongo[server.settings.database]["Patient"]
        patients.update_one({"_id": large["id"]}, {"$set": {"resource.name": names}})
        patients.update_many({"_id": {"$in": [large["id"], other["id"]]}},
                             {"$set": {"indexVersion": "older"}})
    response = client.post("/Patient/$reindex")
    assert response.status_code == 200, response.text
    assert response.json()["parameter"] == [{"name": "Patient", "valueInteger": 1}]
    assert client.get(f"/Patient/{other['id']}").status_code == 200


# ---------------------------------------------------------------- numbers beyond 64 bits

@pytest.mark.parametrize("value, status", [(10**25, 201), (-(10**25), 201), (2**63, 201),
                                           (2**63 - 1, 201), (1e25, 201), (1e300, 201),
                                           (0.1 ** 300, 201), (10**40, 400)])
def test_decimals_beyond_64_bits_are_kept_up_to_34_digits(client, value, status):
    """A number without a fraction beyond MongoDB's 64-bit integers is a decimal (no FHIR
    integer type goes past 32 bits), kept as a Decimal128; more than 34 digits, refused."""
    observation = {"resourceType": "Observation", "status": "final",
                   "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
                   "valueQuantity": {"value": value, "unit": "kg",
                                     "system": "http://unitsofmeasure.org", "code": "kg"}}
    response = client.post("/Observation", json=observation, headers=FHIR_HEADERS)
    assert response.status_code == status, response.text
    if status == 400:
        assert "34 significant digits" in assert_outcome(response, 400)["issue"][0][
            "diagnostics"]
    else:
        assert response.json()["valueQuantity"]["value"] == value
    for search in (f"{value}", f"gt{value}", "le1e400", "99999999999999999999999999"):
        response = client.get("/Observation", params={"value-quantity": search})
        assert response.status_code < 500, (search, response.text)
