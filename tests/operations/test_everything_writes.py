"""`Patient/[id]/$everything` on patients of each test's own, written by the test: `_since`
(also for the resources referenced, whether or not what names them changed),
`includeProvenance` (the Provenance of each served version), and paging while others write
(no row repeated or skipped)."""

import threading
from collections import Counter

from api.helpers import FHIR_HEADERS, assert_outcome, next_link
from search.helpers import LOINC, load, ref
from security.helpers import fhir_client

from operations.everything_helpers import everything_pages, observation, page_entries


def test_since_keeps_what_changed_after_it(client):
    keys = load(client, {"chi": {"resourceType": "Patient", "name": [{"family": "Đỗ"}]},
                         "old": observation("chi", "8867-4", {"effectiveDateTime": "2024-01-02"}),
                         "kept": observation("chi", "8310-5",
                                              {"effectiveDateTime": "2024-01-02"})})
    changed = client.get(f"/Observation/{keys['old']}").json()
    changed["valueQuantity"] = {"value": 80, "unit": "/min"}
    response = client.put(f"/Observation/{keys['old']}", json=changed, headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    since = response.json()["meta"]["lastUpdated"]
    fresh = {k: v for k, v in changed.items() if k not in ("id", "meta")}
    new = client.post("/Observation", json=fresh, headers=FHIR_HEADERS)
    assert new.status_code == 201, new.text
    entries = page_entries(everything_pages(client, f"/Patient/{keys['chi']}/$everything",
                              {"_since": since}))
    assert {e["resource"]["id"] for e in entries} == {keys["old"], new.json()["id"]}
    everything = page_entries(everything_pages(client, f"/Patient/{keys['chi']}/$everything",
                                 {"_since": "2000-01-01T00:00:00Z"}))
    assert {e["resource"]["id"] for e in everything} == {
        keys["chi"], keys["old"], keys["kept"], new.json()["id"]}


def test_since_holds_for_the_referenced_resources_too(client):
    # Before, `_since` filtered the compartment only: the practitioner an updated reading
    # names came along although unchanged since, and a page could end empty.
    keys = load(client, {"dung": {"resourceType": "Patient", "name": [{"family": "Vũ"}]},
                         "lan": {"resourceType": "Practitioner", "name": [{"family": "Lan"}]},
                         "pulse": observation("dung", "8867-4", performer=[ref("lan")])})
    pulse = client.get(f"/Observation/{keys['pulse']}").json()
    pulse["valueQuantity"] = {"value": 72, "unit": "/min"}
    response = client.put(f"/Observation/{keys['pulse']}", json=pulse, headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    since = response.json()["meta"]["lastUpdated"]
    for count in ("1", "50"):
        entries = page_entries(everything_pages(client, f"/Patient/{keys['dung']}/$everything",
                                  {"_since": since, "_count": count}))
        assert [e["resource"]["id"] for e in entries] == [keys["pulse"]]
    everything = page_entries(everything_pages(client, f"/Patient/{keys['dung']}/$everything"))
    assert keys["lan"] in {e["resource"]["id"] for e in everything}


def test_since_brings_a_referenced_resource_changed_since_though_nothing_naming_it_did(client):
    """Patient-everything `_since`: "Resources that have been updated since this time will
    be included": the practitioner corrected after the last sync comes, though neither the
    patient nor the reading that names them changed (probe CH: nothing came)."""
    keys = load(client, {"lan": {"resourceType": "Practitioner", "name": [{"family": "Lan"}]}})
    keys |= load(client, {
        "dung": {"resourceType": "Patient", "name": [{"family": "Vũ"}],
                 "generalPractitioner": [{"reference": f"Practitioner/{keys['lan']}"}]},
        "pulse": observation("dung", "8867-4",
                             performer=[{"reference": f"Practitioner/{keys['lan']}"}])})
    corrected = client.get(f"/Practitioner/{keys['lan']}").json()
    corrected["name"] = [{"family": "Lan", "given": ["Thị"]}]
    response = client.put(f"/Practitioner/{keys['lan']}", json=corrected, headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    since = response.json()["meta"]["lastUpdated"]
    for params in ({"_since": since}, {"_since": since, "_type": "Practitioner"},
                   {"_since": since, "_count": "1"}):
        entries = page_entries(everything_pages(client, f"/Patient/{keys['dung']}/$everything",
                                                params))
        assert [(e["resource"]["id"], e["search"]["mode"]) for e in entries] == [
            (keys["lan"], "include")], params


def _signed_versions(entries: list[dict]) -> Counter:
    """How many Provenances of the page target each `Type/id/_history/n`."""
    return Counter(target["reference"] for e in entries
                   if e["resource"]["resourceType"] == "Provenance"
                   for target in e["resource"].get("target", []))


def test_include_provenance_brings_the_provenance_of_each_served_version(client):
    keys = load(client, {"giang": {"resourceType": "Patient", "name": [{"family": "Hồ"}]},
                         "doctor": {"resourceType": "Practitioner", "name": [{"family": "Đinh"}]},
                         "reading": observation("giang", "8867-4",
                                                 {"effectiveDateTime": "2024-02-02"},
                                                 performer=[ref("doctor")])})
    for beats in (71, 73):  # versions 2 and 3, each with its own Provenance
        reading = client.get(f"/Observation/{keys['reading']}").json()
        reading["valueQuantity"] = {"value": beats, "unit": "/min"}
        response = client.put(f"/Observation/{keys['reading']}", json=reading,
                              headers=FHIR_HEADERS)
        assert response.status_code == 200, response.text
    for count in ("100", "1"):
        pages = everything_pages(client, f"/Patient/{keys['giang']}/$everything",
                       {"includeProvenance": "true", "_count": count})
        entries = page_entries(pages)
        served = [e for e in entries if e["resource"]["resourceType"] != "Provenance"]
        assert len(served) == 3
        versions = {f"{e['resource']['resourceType']}/{e['resource']['id']}/_history/"
                    f"{e['resource']['meta']['versionId']}" for e in served}
        assert f"Observation/{keys['reading']}/_history/3" in versions
        assert _signed_versions(entries) == dict.fromkeys(versions, 1)
        for page in pages:  # each page carries the Provenances of its own resources
            page_served = [e for e in page["entry"]
                           if e["resource"]["resourceType"] != "Provenance"]
            assert len(page["entry"]) == 2 * len(page_served)
            assert all(e["search"]["mode"] == "include" for e in page["entry"]
                       if e["resource"]["resourceType"] == "Provenance")
    assert_outcome(client.get(f"/Patient/{keys['giang']}/$everything",
                              params={"includeProvenance": "ja"}), 400)


def test_paging_while_observations_are_written(server, client, issuer):
    """A writer adds readings to the record while a reader pages through it: every reading
    that existed before the first page comes exactly once, none twice, no page is empty.
    The reader waits for a new write after pages 1, 4 and 7, so writes fall between pages."""
    data = {"dung": {"resourceType": "Patient", "name": [{"family": "Bùi"}]}}
    data |= {f"r{i}": observation("dung", "8867-4", {"effectiveDateTime": f"2024-04-{i:02d}"},
                                   valueQuantity={"value": 60 + i, "unit": "/min"})
             for i in range(1, 29)}
    keys = load(client, data)
    before = set(keys.values())
    written: list[str] = []
    failures: list[str] = []
    each_write = threading.Semaphore(0)
    stop = threading.Event()

    def write() -> None:
        with fhir_client(server.base, issuer.token()) as http:
            while not stop.is_set() and len(written) < 200:
                response = http.post("/Observation", json={
                    "resourceType": "Observation", "status": "final",
                    "code": {"coding": [{"system": LOINC, "code": "8867-4"}]},
                    "subject": {"reference": f"Patient/{keys['dung']}"},
                    "valueQuantity": {"value": 90, "unit": "/min"}}, headers=FHIR_HEADERS)
                if response.status_code != 201:
                    failures.append(response.text)
                    return
                written.append(response.json()["id"])
                each_write.release()

    seen: list[str] = []
    url, params, pages = f"/Patient/{keys['dung']}/$everything", {"_count": "3"}, 0
    writer = threading.Thread(target=write)
    try:
        while url is not None:
            response = client.get(url, params=params)
            assert response.status_code == 200, response.text
            bundle = response.json()
            assert bundle.get("entry"), f"an empty page: {bundle}"
            seen += [e["resource"]["id"] for e in bundle["entry"]]
            url, params, pages = next_link(bundle), None, pages + 1
            if pages == 1:
                writer.start()
            if pages in (1, 4, 7):
                while each_write.acquire(blocking=False):
                    pass  # writes before now do not count
                assert each_write.acquire(timeout=60), failures
    finally:
        stop.set()
        if writer.is_alive():
            writer.join(120)
    assert not failures, failures
    assert len(seen) == len(set(seen)), Counter(seen).most_common(3)
    assert before <= set(seen)
    assert set(seen) <= before | set(written)
    assert pages >= 10
