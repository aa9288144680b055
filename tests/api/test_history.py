"""history at instance, type and system level (http://hl7.org/fhir/R4/http.html#history)."""

import time
import uuid
from datetime import timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from bundle_helpers import batch, get_entry, response_bundle, submit, transaction
from helpers import (
    FHIR_HEADERS,
    all_pages,
    assert_outcome,
    created,
    new_organization,
    new_patient,
    next_link,
    parse_instant,
    patch,
    put,
    without_meta,
)


def _patient_with_versions(client) -> tuple[str, list[dict]]:
    """A Patient with 4 versions: create, update, patch, delete. Returns its id and the
    versions as the server returned them (None for the deletion)."""
    first = created(client, new_patient())
    path = f"/Patient/{first['id']}"
    second = put(client, {**first, "gender": "female"})
    assert second.status_code == 200
    third = patch(client, path, [{"op": "replace", "path": "/active", "value": False}])
    assert third.status_code == 200
    assert client.delete(path).status_code == 204
    return first["id"], [first, second.json(), third.json(), None]


def test_instance_history_lists_every_version_newest_first(client, server):
    resource_id, versions = _patient_with_versions(client)
    response = client.get(f"/Patient/{resource_id}/_history")
    assert response.status_code == 200
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "history"
    assert bundle["total"] == 4
    entries = bundle["entry"]
    assert [e["response"]["etag"] for e in entries] == ['W/"4"', 'W/"3"', 'W/"2"', 'W/"1"']
    assert [e["request"]["method"] for e in entries] == ["DELETE", "PATCH", "PUT", "POST"]
    assert entries[0]["request"]["url"] == f"Patient/{resource_id}"
    assert entries[1]["request"]["url"] == f"Patient/{resource_id}"
    assert entries[2]["request"]["url"] == f"Patient/{resource_id}"
    assert entries[3]["request"]["url"] in ("Patient", f"Patient/{resource_id}")
    assert [e["response"]["status"][:3] for e in entries] == ["204", "200", "200", "201"]
    assert "resource" not in entries[0]
    assert [e.get("resource") for e in entries[1:]] == versions[2::-1]
    for entry in entries:
        assert entry["fullUrl"] == f"{server.base}/Patient/{resource_id}"
        parse_instant(entry["response"]["lastModified"])
    stamps = [parse_instant(e["response"]["lastModified"]) for e in entries]
    assert stamps == sorted(stamps, reverse=True)
    assert len(set(stamps)) == 4
    for entry in entries[1:]:
        assert entry["response"]["lastModified"] == entry["resource"]["meta"]["lastUpdated"]


def test_instance_history_pages_with_count(client):
    resource_id, _ = _patient_with_versions(client)
    path = f"/Patient/{resource_id}/_history"
    first_page = client.get(path, params={"_count": "2"}).json()
    assert first_page["total"] == 4
    assert len(first_page["entry"]) == 2
    assert next_link(first_page) is not None
    entries, pages = all_pages(client, path, {"_count": "2"})
    assert pages == 2
    assert [e["response"]["etag"] for e in entries] == ['W/"4"', 'W/"3"', 'W/"2"', 'W/"1"']


@pytest.mark.parametrize("level", ["instance", "type", "system"])
def test_count_zero_gives_the_total_and_no_versions_nor_next_link(client, level):
    """search.html#count: `_count=0` is `_summary=count`, in a history too (HAPI counts and
    links no page). It gave an empty page whose `next` link moved one version on, so that
    following them cost an empty request per version stored."""
    resource_id, _ = _patient_with_versions(client)
    path = {"instance": f"/Patient/{resource_id}/_history", "type": "/Patient/_history",
            "system": "/_history"}[level]
    every, _ = all_pages(client, path, {"_count": "1000"})
    counted = client.get(path, params={"_count": "0"})
    assert counted.status_code == 200, counted.text
    assert "entry" not in counted.json()
    assert next_link(counted.json()) is None
    assert counted.json()["total"] == len(every)
    since = every[1]["response"]["lastModified"]  # the second newest version on
    newer = client.get(path, params={"_count": "0", "_since": since}).json()
    assert newer["total"] == len(all_pages(client, path, {"_since": since})[0])


def test_the_self_link_of_a_later_history_page_is_that_page(client):
    """Each page names itself: following its self link again gives that page, not the
    first (it was the first page's URL on every page)."""
    resource_id, _ = _patient_with_versions(client)
    first = client.get(f"/Patient/{resource_id}/_history", params={"_count": "2"}).json()
    second = client.get(next_link(first)).json()
    [self_url] = [link["url"] for link in second["link"] if link["relation"] == "self"]
    assert self_url == next_link(first)
    again = client.get(self_url).json()
    assert [e["response"]["etag"] for e in again["entry"]] == ['W/"2"', 'W/"1"']


def test_history_pages_keep_the_format_asked_for(client):
    """A client that asked for XML by `_format` gets every page it follows in XML."""
    resource_id, _ = _patient_with_versions(client)
    first = client.get(f"/Patient/{resource_id}/_history",
                       params={"_count": "2", "_format": "json", "_pretty": "true"}).json()
    for relation in ("self", "next"):
        [url] = [link["url"] for link in first["link"] if link["relation"] == relation]
        assert parse_qs(urlsplit(url).query)["_format"] == ["json"], url
        assert parse_qs(urlsplit(url).query)["_pretty"] == ["true"], url
    second = client.get(next_link(first).replace("_format=json", "_format=xml"))
    assert second.status_code == 200 and second.text.startswith("<Bundle"), second.text[:80]


def test_history_links_state_the_page_size_used(client):
    """search.html#count: a `_count` beyond the server's largest page is that page, and the
    links say so (they repeated `_count=5000`)."""
    page = client.get("/Patient/_history", params={"_count": "5000"}).json()
    [self_url] = [link["url"] for link in page["link"] if link["relation"] == "self"]
    assert parse_qs(urlsplit(self_url).query)["_count"] == ["1000"], self_url


def test_instance_history_count_of_one_pages_through_all_versions(client):
    resource_id, _ = _patient_with_versions(client)
    entries, pages = all_pages(client, f"/Patient/{resource_id}/_history", {"_count": "1"})
    assert pages == 4
    assert [e["response"]["etag"] for e in entries] == ['W/"4"', 'W/"3"', 'W/"2"', 'W/"1"']


def test_since_keeps_only_versions_at_or_after_the_instant(client):
    first = created(client, new_patient())
    time.sleep(0.05)
    second = put(client, {**first, "gender": "female"}).json()
    time.sleep(0.05)
    third = put(client, {**second, "gender": "other"}).json()
    path = f"/Patient/{first['id']}/_history"
    since = second["meta"]["lastUpdated"]
    bundle = client.get(path, params={"_since": since}).json()
    assert [e["resource"]["meta"]["versionId"] for e in bundle["entry"]] == ["3", "2"]
    assert bundle["entry"][0]["resource"] == third
    later = client.get(path, params={"_since": "2999-01-01T00:00:00Z"}).json()
    assert later.get("entry", []) == []
    everything = client.get(path, params={"_since": "2000-01-01T00:00:00+07:00"}).json()
    assert len(everything["entry"]) == 3
    assert (bundle["total"], later["total"], everything["total"]) == (2, 0, 3)


def _three_versions(client) -> list[dict]:
    first = created(client, new_patient())
    time.sleep(0.05)
    second = put(client, {**first, "gender": "female"}).json()
    time.sleep(0.05)
    return [first, second, put(client, {**second, "gender": "other"}).json()]


def _version_ids(bundle: dict) -> list[str]:
    return [e["resource"]["meta"]["versionId"] for e in bundle.get("entry", [])]


def test_at_keeps_the_versions_current_during_the_period(client):
    """`_at` (http.html#history): the versions current at some time in the period given."""
    versions = _three_versions(client)
    path = f"/Patient/{versions[0]['id']}/_history"
    stored = [parse_instant(v["meta"]["lastUpdated"]) for v in versions]

    def at(moment) -> dict:
        text = moment if isinstance(moment, str) else moment.isoformat(timespec="milliseconds")
        response = client.get(path, params={"_at": text})
        assert response.status_code == 200, response.text
        return response.json()

    assert _version_ids(at(stored[1])) == ["2"]
    between = stored[1] + (stored[2] - stored[1]) / 2
    assert _version_ids(at(between)) == ["2"]
    assert _version_ids(at(stored[2] + timedelta(days=1))) == ["3"]
    assert _version_ids(at(stored[0] - timedelta(days=1))) == []
    year = at(str(stored[0].year))  # every version of the year, the first included
    assert _version_ids(year) == ["3", "2", "1"] and year["total"] == 3
    assert "_at=" in year["link"][0]["url"]
    # Prefixed as a date search is: from then on, or up to then (ge was a 400).
    instant = between.isoformat(timespec="milliseconds")
    assert _version_ids(at(f"ge{instant}")) == ["3", "2"]
    assert _version_ids(at(f"le{instant}")) == ["2", "1"]
    assert _version_ids(at(f"lt{stored[1].isoformat(timespec='milliseconds')}")) == ["1"]
    assert client.get(path, params={"_at": f"ne{instant}"}).status_code == 400
    # At the calendar's ends: what is current then, and nothing before year 1 (no 500).
    assert _version_ids(at("gt9999-12-31")) == ["3"] and _version_ids(at("lt0001-01-01")) == []
    # A time without a timezone is in the server's, as in search (FHIR_TIMEZONE, +07:00).
    local = (stored[1] + (stored[2] - stored[1]) / 2).astimezone(timezone(timedelta(hours=7)))
    assert _version_ids(at(local.replace(tzinfo=None).isoformat(timespec="milliseconds"))) == [
        "2"]


def test_an_update_as_create_is_201_in_history(client):
    patient = {**new_patient(), "id": str(uuid.uuid4())}
    assert put(client, patient).status_code == 201
    entries = client.get(f"/Patient/{patient['id']}/_history").json()["entry"]
    assert [(e["request"]["method"], e["response"]["status"]) for e in entries] == [
        ("PUT", "201 Created")]


def test_a_resource_made_again_after_its_deletion_is_201_and_a_creation(client):
    """A PUT on a deleted resource creates it again: its history entry says 201, as the PUT
    answered, and its Provenance records a creation, not a revision."""
    patient = {**new_patient(), "id": str(uuid.uuid4())}
    assert put(client, patient).status_code == 201
    assert client.delete(f"/Patient/{patient['id']}").status_code == 204
    assert put(client, patient).status_code == 201
    assert put(client, {**patient, "gender": "other"}).status_code == 200
    entries = client.get(f"/Patient/{patient['id']}/_history").json()["entry"]
    assert [(e["request"]["method"], e["response"]["status"]) for e in entries] == [
        ("PUT", "200 OK"), ("PUT", "201 Created"), ("DELETE", "204 No Content"),
        ("PUT", "201 Created")]
    provenances = client.get("/Provenance", params={"target": f"Patient/{patient['id']}"})
    activities = {p["resource"]["target"][0]["reference"].rpartition("/")[2]:
                  p["resource"]["activity"]["coding"][0]["code"]
                  for p in provenances.json()["entry"]}
    assert activities == {"1": "CREATE", "2": "DELETE", "3": "CREATE", "4": "UPDATE"}


def test_at_for_a_type_and_the_system_keeps_what_was_current_then(client):
    """`_at` at type and system level: per resource, the versions current at some time in
    the period; a resource deleted before it or created after it is not there."""
    gone = created(client, new_organization("Deleted before"))
    assert client.delete(f"/Organization/{gone['id']}").status_code == 204
    time.sleep(0.05)
    first = created(client, new_organization("Renamed"))
    time.sleep(0.05)
    second = put(client, {**first, "name": "Renamed again"}).json()
    time.sleep(0.05)
    later = created(client, new_organization("Created after"))
    ours = {gone["id"], first["id"], later["id"]}
    stored = [parse_instant(v["meta"]["lastUpdated"]) for v in (first, second, later)]
    before_update = stored[0] + (stored[1] - stored[0]) / 2

    def current(path: str, moment, count: int = 1000) -> list[tuple[str, str]]:
        at = moment.isoformat(timespec="milliseconds")
        entries, _ = all_pages(client, path, {"_at": at, "_count": str(count)})
        return sorted((e["resource"]["id"], e["resource"]["meta"]["versionId"])
                      for e in entries if e["resource"]["id"] in ours)

    assert current("/Organization/_history", before_update) == [(first["id"], "1")]
    assert current("/_history", before_update) == [(first["id"], "1")]
    # Paged one entry at a time, every version current then comes exactly once.
    assert current("/Organization/_history", stored[2], count=1) == sorted(
        [(first["id"], "2"), (later["id"], "1")])
    assert current("/Organization/_history", stored[0] - timedelta(days=1)) == []


def test_a_search_cursor_given_to_history_is_400(client):
    for _ in range(2):
        created(client, new_patient())
    page = client.get("/Patient", params={"_count": "1"}).json()
    cursor = parse_qs(urlsplit(next_link(page)).query)["_cursor"][0]
    for path in ("/Patient/_history", "/_history"):
        response = client.get(path, params={"_cursor": cursor})
        assert "_cursor" in str(assert_outcome(response, 400))


def test_a_history_cursor_pages_only_the_history_it_came_from(client):
    """Pasted into another instance's, the type's or the system's history, or one of
    another `_since`, it answered a wrong page (another instance's: none of its versions)."""
    patient_id, _ = _patient_with_versions(client)
    other_id, _ = _patient_with_versions(client)
    page = client.get(f"/Patient/{patient_id}/_history", params={"_count": "1"}).json()
    cursor = parse_qs(urlsplit(next_link(page)).query)["_cursor"][0]
    assert client.get(f"/Patient/{patient_id}/_history",
                      params={"_count": "2", "_cursor": cursor}).status_code == 200
    for path, params in [(f"/Patient/{other_id}/_history", {}), ("/Patient/_history", {}),
                         ("/_history", {}),
                         (f"/Patient/{patient_id}/_history", {"_since": "2020-01-01"})]:
        response = client.get(path, params={**params, "_cursor": cursor})
        assert "_cursor" in str(assert_outcome(response, 400)), path


def test_malformed_since_is_400(client):
    first = created(client, new_patient())
    response = client.get(f"/Patient/{first['id']}/_history", params={"_since": "hôm qua"})
    assert "_since" in str(assert_outcome(response, 400))


def test_history_of_an_unknown_id_is_404(client):
    assert_outcome(client.get(f"/Patient/{uuid.uuid4()}/_history"), 404, "not-found")


def test_history_of_a_deleted_resource_is_still_available(client):
    resource_id, _ = _patient_with_versions(client)
    response = client.get(f"/Patient/{resource_id}/_history")
    assert response.status_code == 200
    assert response.json()["total"] == 4


def test_type_history_includes_new_versions_newest_first(client):
    patient = created(client, new_patient())
    updated = put(client, {**patient, "active": False}).json()
    other = created(client, new_organization())
    bundle = client.get("/Patient/_history").json()
    assert bundle["type"] == "history"
    entries = bundle["entry"]
    assert all(e["fullUrl"].split("/")[-2] == "Patient" for e in entries)
    assert entries[0]["resource"] == updated
    assert entries[1]["resource"] == patient
    assert other["id"] not in {e["fullUrl"].split("/")[-1] for e in entries}
    stamps = [parse_instant(e["response"]["lastModified"]) for e in entries]
    assert stamps == sorted(stamps, reverse=True)


def test_type_history_pages_without_repeats(client):
    for _ in range(3):
        created(client, new_patient())
    every, _ = all_pages(client, "/Patient/_history", {"_count": "1000"})
    paged, pages = all_pages(client, "/Patient/_history", {"_count": "4"})
    assert pages in (-(-len(every) // 4), -(-len(every) // 4) + 1)
    key = [(e["fullUrl"], e["response"]["etag"]) for e in paged]
    assert key == [(e["fullUrl"], e["response"]["etag"]) for e in every]
    assert len(set(key)) == len(key)


def test_system_history_includes_several_types_newest_first(client, server):
    organization = created(client, new_organization("Bệnh viện Chợ Rẫy"))
    patient = created(client, new_patient(managingOrganization={
        "reference": f"Organization/{organization['id']}"}))
    response = client.get("/_history")
    assert response.status_code == 200
    bundle = response.json()
    assert bundle["type"] == "history"
    # Each write's signed Provenance is written with it, just after it.
    kinds = [e["fullUrl"].split("/")[-2] for e in bundle["entry"]]
    assert kinds[:4] == ["Provenance", "Patient", "Provenance", "Organization"]
    entries = [e for e, kind in zip(bundle["entry"], kinds, strict=True) if kind != "Provenance"]
    assert entries[0]["fullUrl"] == f"{server.base}/Patient/{patient['id']}"
    assert entries[0]["resource"] == patient
    assert entries[1]["fullUrl"] == f"{server.base}/Organization/{organization['id']}"
    assert entries[1]["resource"] == organization
    stamps = [parse_instant(e["response"]["lastModified"]) for e in entries]
    assert stamps == sorted(stamps, reverse=True)
    paged, _ = all_pages(client, "/_history", {"_count": "3"})
    assert {e["fullUrl"].split("/")[-2] for e in paged} >= {"Patient", "Organization",
                                                           "Provenance"}
    every, _ = all_pages(client, "/_history", {"_count": "1000"})
    assert [(e["fullUrl"], e["response"]["etag"]) for e in paged] == [
        (e["fullUrl"], e["response"]["etag"]) for e in every]


def test_system_history_since(client):
    before = created(client, new_organization("Bệnh viện Từ Dũ"))
    time.sleep(0.05)
    after = created(client, new_patient())
    bundle = client.get("/_history", params={"_since": after["meta"]["lastUpdated"]}).json()
    provenance, *resources = [e["resource"] for e in bundle["entry"]]
    assert provenance["target"] == [{"reference": f"Patient/{after['id']}/_history/1"}]
    assert resources == [after]
    assert before not in resources
    assert without_meta(resources[0])["name"][0]["family"] == "Nguyễn"


@pytest.mark.parametrize("path", ["/Patient/_history", "/_history", "/Patient/x/_history"])
def test_an_unknown_parameter_is_400_in_strict_handling_and_ignored_else(client, path):
    """A client that asks for strictness is told what filters nothing (search.html#errors)."""
    strict = client.get(path, params={"_sort": "abc"}, headers={"Prefer": "handling=strict"})
    assert_outcome(strict, 400, expression="_sort")
    known = client.get("/Patient/_history", params={"_count": "1", "_since": "2020-01-01"},
                       headers={"Prefer": "handling=strict"})
    assert known.status_code == 200, known.text
    assert client.get("/Patient/_history", params={"_sort": "abc"}).status_code == 200


def test_history_by_list_is_400_not_supported_whatever_the_handling(client):
    """R4's `_list` history parameter is not supported: ignored, it answered every version
    where the client asked for those a List names; in a batch entry too."""
    patient = created(client, new_patient())
    path = f"/Patient/{patient['id']}/_history"
    for response in (client.get(path, params={"_list": "abc"}),
                     client.get("/_history", params={"_list": "abc"})):
        assert assert_outcome(response, 400, expression="_list")["issue"][0]["code"] == (
            "not-supported")
    batch = client.post("/", json={"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": f"{path.lstrip('/')}?_list=abc"}}]},
        headers=FHIR_HEADERS)
    assert batch.json()["entry"][0]["response"]["status"].startswith("400")


@pytest.mark.parametrize("name,values", [("_since", ("2020-01-01", "2021-01-01")),
                                         ("_count", ("2", "3")),
                                         ("_at", ("2024", "2025"))])
def test_a_history_parameter_given_twice_is_400(client, name, values):
    """http.html#history: _count, _since, _at "SHALL NOT appear more than once"; which one
    the client meant would be a guess."""
    params = [(name, value) for value in values]
    assert_outcome(client.get("/Patient/_history", params=params), 400, expression=name)


def _as_entries(client, url: str, prefer: str | None) -> tuple[dict, dict]:
    """The entry of a batch holding `GET url`, and the answer of a transaction holding it
    (a Bundle, or an OperationOutcome), under the `Prefer` of the request alone."""
    headers = {"Prefer": prefer} if prefer else {}
    entry = get_entry(url.lstrip("/"))
    (in_batch,) = response_bundle(submit(client, batch(entry), **headers), "batch-response", 1)
    return in_batch, submit(client, transaction(entry), **headers).json()


@pytest.mark.parametrize("query,prefer", [
    ("_count=1&_count=2", None),
    ("_since=2020-01-01T00:00:00Z&_since=2099-01-01T00:00:00Z", None),
    ("_at=2020&_at=2099", None),
    ("foo=bar", "handling=strict"),
    ("foo=bar&_count=1", "handling=strict"),
])
@pytest.mark.parametrize("level", ["instance", "type"])
def test_a_history_entry_is_refused_as_the_history_alone(client, query, prefer, level):
    """A batch or transaction entry's history is held to the checks of the request alone,
    `Prefer: handling=strict` taken from the Bundle's request as for search entries: they
    answered 200, of the last of two `_count`s or `_since`s, or ignoring what strict
    handling refuses."""
    patient = created(client, new_patient())
    put(client, {**patient, "gender": "female"})
    target = f"Patient/{patient['id']}" if level == "instance" else "Patient"
    url = f"/{target}/_history?{query}"
    direct = client.get(url, headers={"Prefer": prefer} if prefer else {})
    message = assert_outcome(direct, 400)["issue"][0]["diagnostics"]
    in_batch, in_transaction = _as_entries(client, url, prefer)
    assert in_batch["response"]["status"] == "400 Bad Request", in_batch
    assert in_batch["response"]["outcome"]["issue"][0]["diagnostics"] == message
    assert in_transaction["resourceType"] == "OperationOutcome", in_transaction
    assert in_transaction["issue"][0]["diagnostics"] == (
        f"Bundle.entry[0] (GET {target}): {message}")


def test_a_history_entry_links_itself_as_the_history_alone(client):
    """The self link of an entry's history names the parameters used, as the request
    alone's does."""
    patient = created(client, new_patient())
    put(client, {**patient, "gender": "female"})
    url = f"/Patient/{patient['id']}/_history?_count=1&foo=bar"
    direct = client.get(url)
    assert direct.status_code == 200, direct.text
    in_batch, in_transaction = _as_entries(client, url, None)
    (self_link,) = [link for link in direct.json()["link"] if link["relation"] == "self"]
    assert self_link["url"].endswith("/_history?_count=1"), self_link
    for bundle in (in_batch["resource"], in_transaction["entry"][0]["resource"]):
        assert bundle["link"][0] == self_link, bundle
        assert [e["response"]["etag"] for e in bundle["entry"]] == ['W/"2"']
