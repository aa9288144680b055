"""What a batch or transaction entry's `request.url` names: read as the same request over
HTTP would be (http://hl7.org/fhir/R4/bundle.html, Bundle.entry.request.url), relative to
this server."""

from bundle_helpers import (
    batch,
    get_entry,
    history_snapshot,
    identifier_query,
    post_entry,
    response_bundle,
    submit,
    transaction,
)
from helpers import CCCD, assert_outcome, created, new_patient, search_ids, unique_cccd


def test_an_entry_path_is_percent_decoded_as_a_request_path_is(client, server):
    """`Patient/%63...` names `Patient/c...` over HTTP, and so in an entry; a non-UTF-8
    escape is the entry's 400, and an escaped `/` no separator."""
    patient = created(client, new_patient())
    escaped = "".join(f"%{ord(c):02X}" for c in patient["id"][:3]) + patient["id"][3:]
    assert client.get(f"/Patient/{escaped}").status_code == 200
    response = submit(client, batch(get_entry(f"Patient/{escaped}"), get_entry("Patient/%FF"),
                                    get_entry(f"Patient/{patient['id']}%2F_history")))
    found, not_utf8, slash = response_bundle(response, "batch-response", 3)
    assert found["response"]["status"] == "200 OK", found
    assert found["resource"]["id"] == patient["id"]
    assert not_utf8["response"]["status"].startswith("400"), not_utf8
    assert slash["response"]["status"][:1] == "4", slash
    elsewhere = submit(client, batch(*(get_entry(url) for url in (
        "http://other.example/fhir/Patient/1", f"ftp://other.example/Patient/{patient['id']}",
        f"//other.example/Patient/{patient['id']}", "urn:uuid:1234"))))
    for other in response_bundle(elsewhere, "batch-response", 4):
        assert "is not on this server" in str(other["response"]["outcome"]), other
    upper = server.base.replace("http://", "HTTP://", 1) + f"/Patient/{patient['id']}"
    [here] = response_bundle(submit(client, batch(get_entry(upper))), "batch-response", 1)
    assert here["response"]["status"] == "200 OK", here


def test_a_system_search_is_an_entry_as_it_is_a_request(client):
    """`?_type=...` and `_search?...` are search-system relative to the base, as the
    CapabilityStatement's `batch` and `search-system` together promise."""
    patient = created(client, new_patient())
    query = f"_type=Patient,Practitioner&_id={patient['id']}"
    alone = client.get(f"?{query}").json()
    answers = response_bundle(submit(client, batch(get_entry(f"?{query}"),
                                                   get_entry(f"_search?{query}"))),
                              "batch-response", 2)
    for answer in answers:
        assert answer["response"]["status"] == "200 OK", answer
        found = answer["resource"]
        assert found["type"] == "searchset" and found["total"] == alone["total"] == 1
        assert found["entry"][0]["resource"]["id"] == patient["id"]


def test_criteria_in_a_create_entry_url_are_refused_as_over_http(client):
    """`POST Patient?identifier=...` is 400 over HTTP; in an entry the criteria were ignored
    and each Bundle made another patient. 400 pointing at request.ifNoneExist: the whole
    transaction, a batch's entry alone; `_format` and `_pretty` are no criteria."""
    value = unique_cccd()
    criteria = {"method": "POST", "url": f"Patient?{identifier_query(value)}"}
    entry = post_entry(new_patient(value)) | {"request": criteria}
    before = history_snapshot(client)
    issue = assert_outcome(submit(client, transaction(entry)), 400)["issue"][0]
    assert issue["expression"] == ["Bundle.entry[0].request.url"], issue
    assert "Bundle.entry[0].request.ifNoneExist" in issue["diagnostics"], issue
    assert history_snapshot(client) == before
    shaped = post_entry(new_patient(value)) | {"request": {"method": "POST",
                                                           "url": "Patient?_pretty=true"}}
    refused, made = response_bundle(submit(client, batch(entry, shaped)), "batch-response", 2)
    assert refused["response"]["status"] == "400 Bad Request", refused
    assert "ifNoneExist" in str(refused["response"]["outcome"]), refused
    assert made["response"]["status"] == "201 Created", made
    assert len(search_ids(client, "Patient", identifier=f"{CCCD}|{value}")) == 1
