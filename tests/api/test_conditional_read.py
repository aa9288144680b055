"""read and vread shaped by `_summary` and `_elements`
(http://hl7.org/fhir/R4/search.html#summary), and conditional read with If-None-Match and
If-Modified-Since (http://hl7.org/fhir/R4/http.html#cread)."""

import time
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime

from bundle_helpers import batch, get_entry, response_bundle, submit
from helpers import assert_outcome, created, new_patient, patch
from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_server.api.dates import http_date

SUBSETTED = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"


def _subsetted(resource: dict) -> bool:
    return any(tag.get("system") == SUBSETTED and tag.get("code") == "SUBSETTED"
               for tag in resource.get("meta", {}).get("tag", []))


def test_read_and_vread_with_elements_and_summary(client):
    patient = created(client, new_patient(text={
        "status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">An</div>'}))
    for path in (f"/Patient/{patient['id']}", f"/Patient/{patient['id']}/_history/1"):
        shaped = client.get(path, params={"_elements": "gender"}).json()
        assert set(shaped) == {"resourceType", "id", "meta", "gender"}, shaped
        assert _subsetted(shaped)
        summary = client.get(path, params={"_summary": "true"}).json()
        assert "text" not in summary and summary["name"] == patient["name"], summary
        assert _subsetted(summary)
        text = client.get(path, params={"_summary": "text"}).json()
        assert set(text) == {"resourceType", "id", "meta", "text"}, text
        assert client.get(path, params={"_summary": "false"}).json() == patient
    assert client.get(f"/Patient/{patient['id']}").json() == patient
    assert_outcome(client.get(f"/Patient/{patient['id']}", params={"_summary": "yes"}), 400)


def test_if_none_match_with_the_current_etag_is_304(client):
    patient = created(client, new_patient())
    path = f"/Patient/{patient['id']}"
    for tag in ('W/"1"', '"1"', 'W/"7", W/"1"', "*", "1"):  # a bare version, as If-Match
        response = client.get(path, headers={"If-None-Match": tag})
        assert response.status_code == 304, (tag, response.text)
        assert response.content == b""
        assert response.headers["ETag"] == 'W/"1"'
        assert "Last-Modified" in response.headers
    # Two If-None-Match lines are one list (RFC 9110 §5.3).
    two_lines = client.get(path, headers=[("If-None-Match", 'W/"7"'), ("If-None-Match", 'W/"1"')])
    assert two_lines.status_code == 304, two_lines.text
    changed = client.put(path, json={**patient, "gender": "female"},
                         headers={"Content-Type": "application/fhir+json"})
    assert changed.status_code == 200, changed.text
    response = client.get(path, headers={"If-None-Match": 'W/"1"'})
    assert response.status_code == 200
    assert response.json() == changed.json()


def test_a_read_whose_if_match_names_another_version_is_412(client):
    """RFC 9110 §13.1.1: a method whose If-Match does not hold is not performed, a GET and
    a HEAD too; the version read is the one compared, the current one or a vread's."""
    patient = created(client, new_patient())
    path = f"/Patient/{patient['id']}"
    assert client.put(path, json={**patient, "gender": "female"}).status_code == 200
    for url, stale in ((path, 'W/"1"'), (f"{path}/_history/1", 'W/"2"')):
        assert_outcome(client.get(url, headers={"If-Match": stale}), 412, "conflict")
        assert client.head(url, headers={"If-Match": stale}).status_code == 412
        assert_outcome(client.get(url, headers={"If-Match": "W/1"}), 400)
    for url, held in ((path, 'W/"1", W/"2"'), (path, "*"), (f"{path}/_history/1", '"1"')):
        response = client.get(url, headers={"If-Match": held})
        assert response.status_code == 200, (url, held, response.text)
    # If-Match is evaluated before If-None-Match (RFC 9110 §13.2.2).
    both = client.get(path, headers={"If-Match": 'W/"2"', "If-None-Match": 'W/"2"'})
    assert both.status_code == 304, both.text


def test_if_modified_since_the_last_modified_is_304_and_before_it_is_200(client):
    patient = created(client, new_patient())
    path = f"/Patient/{patient['id']}"
    last_modified = client.get(path).headers["Last-Modified"]
    response = client.get(path, headers={"If-Modified-Since": last_modified})
    assert response.status_code == 304, response.text
    assert response.content == b""
    response = client.get(path, headers={"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"})
    assert response.status_code == 200
    assert response.json() == patient
    assert client.get(path, headers={"If-Modified-Since": "not a date"}).status_code == 200
    # A date later than now is invalid (RFC 9110 §13.1.3): ignored.
    future = {"If-Modified-Since": "Fri, 04 Dec 2099 00:00:00 GMT"}
    assert client.get(path, headers=future).status_code == 200
    # If-None-Match decides when both are sent.
    both = {"If-None-Match": 'W/"9"', "If-Modified-Since": last_modified}
    assert client.get(path, headers=both).status_code == 200


def test_the_capability_statement_claims_conditional_read(client):
    statement = client.get("/metadata").json()
    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    assert patient["conditionalRead"] == "full-support"


def test_the_capability_statement_has_an_etag_for_conditional_reads(client):
    """http.html#capabilities: "An ETag header SHOULD be returned", changing with the
    statement; each rendering (JSON, XML, a part) has its own."""
    full = client.get("/metadata")
    etag = full.headers["ETag"]
    assert client.get("/metadata").headers["ETag"] == etag
    again = client.get("/metadata", headers={"If-None-Match": f'"x", {etag}'})
    assert (again.status_code, again.content, again.headers["ETag"]) == (304, b"", etag)
    xml = client.get("/metadata", params={"_format": "xml"})
    part = client.get("/metadata", params={"_elements": "fhirVersion"})
    assert len({etag, xml.headers["ETag"], part.headers["ETag"]}) == 3
    assert client.get("/metadata", headers={"If-None-Match": xml.headers["ETag"]}).json() == (
        full.json())
    # If-None-Match compares weakly, `*` names any, two lines are one list (RFC 9110
    # §13.1.2, §5.3): each was 200 with the whole statement.
    for sent in ([("If-None-Match", f"W/{etag}")], [("If-None-Match", "*")],
                 [("If-None-Match", '"x"'), ("If-None-Match", etag)]):
        response = client.get("/metadata", headers=sent)
        assert (response.status_code, response.content) == (304, b""), sent


def test_head_answers_the_headers_of_a_read_without_a_body(client):
    patient = created(client, new_patient())
    for path in (f"/Patient/{patient['id']}", f"/Patient/{patient['id']}/_history/1"):
        got, head = client.get(path), client.head(path)
        assert head.status_code == 200, head.text
        assert head.content == b""
        for name in ("ETag", "Last-Modified", "Content-Type"):
            assert head.headers[name] == got.headers[name], name
    assert client.head("/Patient/no-such-patient").status_code == 404
    for path in ("/metadata", "/Patient", f"/Patient/{patient['id']}/_history",
                 "/Patient/_history", "/_history", f"/Patient/{patient['id']}/Encounter"):
        head = client.head(path)
        assert head.status_code == 200 and head.content == b"", path


def test_a_subsetted_read_put_back_is_422_and_changes_nothing(client):
    """search.html#summary: the SUBSETTED tag keeps a part from overwriting the whole."""
    patient = created(client, new_patient())
    path = f"/Patient/{patient['id']}"
    part = client.get(path, params={"_elements": "gender"}).json()
    response = client.put(path, json={**part, "gender": "female"},
                          headers={"Content-Type": "application/fhir+json"})
    assert_outcome(response, 422)
    assert client.get(path).json() == patient


def test_a_patch_that_adds_the_subsetted_tag_is_422_and_changes_nothing(client):
    """Nor may a patch mark the whole as a part: its next reader would take it for one."""
    patient = created(client, new_patient())
    path = f"/Patient/{patient['id']}"
    tag = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
           "code": "SUBSETTED"}
    operations = [{"op": "add", "path": "/meta/tag", "value": [tag]}]
    response = client.patch(path, json=operations,
                            headers={"Content-Type": "application/json-patch+json"})
    assert_outcome(response, 422, expression="Patient.meta.tag")
    assert client.get(path).json() == patient


def test_a_subsetted_resource_is_never_created_and_validate_says_so(client):
    """HAPI refuses the tag at create as at update: a part stored as a resource could never
    be updated (a PUT of what a read returns is refused), and $validate with a mode says
    what the write would answer."""
    tagged = {**new_patient(), "meta": {"tag": [{"system": SUBSETTED, "code": "SUBSETTED"}]}}
    json_headers = {"Content-Type": "application/fhir+json"}
    before = client.get("/Patient", params={"_summary": "count"}).json()["total"]
    outcome = assert_outcome(client.post("/Patient", json=tagged, headers=json_headers), 422,
                             expression="Patient.meta.tag")
    assert "$meta-delete" in outcome["issue"][0]["diagnostics"]
    assert client.get("/Patient", params={"_summary": "count"}).json()["total"] == before
    patient = created(client, new_patient())
    for path, body in (("/Patient/$validate?mode=create", tagged),
                       (f"/Patient/{patient['id']}/$validate?mode=update",
                        {**tagged, "id": patient["id"]})):
        issues = client.post(path, json=body, headers=json_headers).json()["issue"]
        assert [(i["severity"], i["expression"]) for i in issues] == [
            ("error", ["Meta.tag"])], issues
    plain = client.post("/Patient/$validate", json=tagged, headers=json_headers).json()
    assert plain["issue"][0]["severity"] == "information", plain


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=st.sampled_from([UTC, timezone(timedelta(hours=7)),
                                               timezone(timedelta(hours=-13, minutes=-30))])))
def test_last_modified_is_an_imf_fixdate_of_the_instant_in_gmt(moment):
    """`Last-Modified` and `Expires` as RFC 9110 writes them (English names in any locale),
    which clients parse back to the same second."""
    written = http_date(moment)
    assert written == format_datetime(moment.astimezone(UTC), usegmt=True)
    if moment.astimezone(UTC).year >= 1000:  # parsers read `0099` as 1999, as RFC 5322 asks
        assert parsedate_to_datetime(written) == moment.replace(microsecond=0)


def _two_versions_in_one_second(client) -> tuple[str, str]:
    """A Patient created and patched within one second: its path and that Last-Modified."""
    for _ in range(20):
        created_now = client.post("/Patient", json=new_patient(),
                                  headers={"Content-Type": "application/fhir+json"})
        path = f"/Patient/{created_now.json()['id']}"
        patched = patch(client, path, [{"op": "add", "path": "/active", "value": False}])
        assert patched.status_code == 200, patched.text
        if patched.headers["Last-Modified"] == created_now.headers["Last-Modified"]:
            return path, patched.headers["Last-Modified"]
    raise AssertionError("no two versions in one second")


def test_a_date_shared_by_two_versions_is_no_validator_of_the_later(client):
    """Versions 1 and 2 made in one second have one Last-Modified: If-Modified-Since of it
    was 304 with ETag W/"2", for a client that may hold version 1 (probe CQ), and
    If-Unmodified-Since of it let a write over version 2 through. A date a version alone
    has in its second still validates it; a vread's URL names one version."""
    path, second = _two_versions_in_one_second(client)
    read = client.get(path, headers={"If-Modified-Since": second})
    assert read.status_code == 200 and read.headers["ETag"] == 'W/"2"', read.text
    assert client.get(f"{path}/_history/2", headers={"If-Modified-Since": second}
                      ).status_code == 304
    assert_outcome(patch(client, path, [{"op": "add", "path": "/active", "value": True}],
                         **{"If-Unmodified-Since": second}), 412)
    time.sleep(1.0)  # version 3 alone in its second
    third = patch(client, path, [{"op": "add", "path": "/active", "value": True}])
    assert third.headers["Last-Modified"] != second, third.headers
    since = {"If-Modified-Since": third.headers["Last-Modified"]}
    assert client.get(path, headers=since).status_code == 304
    assert patch(client, path, [{"op": "add", "path": "/gender", "value": "female"}],
                 **{"If-Unmodified-Since": third.headers["Last-Modified"]}).status_code == 200


def test_a_read_entry_if_modified_since_a_leap_second(client):
    """Bundle.entry.request.ifModifiedSince is an instant, whose grammar takes a leap second
    (`23:59:60`): the read it makes conditional answers, as search reads such an instant
    (the last millisecond of its minute); it was 400 'not an instant'."""
    patient = created(client, new_patient())
    entry = get_entry(f"Patient/{patient['id']}")
    entry["request"]["ifModifiedSince"] = "2016-12-31T23:59:60Z"
    (answer,) = response_bundle(submit(client, batch(entry)), "batch-response", 1)
    assert answer["response"]["status"] == "200 OK"
    assert answer["resource"] == patient


def test_a_failed_if_unmodified_since_names_fhir_instants(client):
    """The 412 of If-Unmodified-Since says when the resource changed as its
    meta.lastUpdated does (a FHIR instant in UTC, to the millisecond), not as Python renders
    a datetime (`2026-12-07T23:51:51.509000+00:00`)."""
    patient = created(client, new_patient())
    path = f"/Patient/{patient['id']}"
    outcome = assert_outcome(patch(client, path, [{"op": "add", "path": "/active", "value": True}],
                                   **{"If-Unmodified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}),
                             412)
    diagnostics = outcome["issue"][0]["diagnostics"]
    assert "If-Unmodified-Since 2000-01-01T00:00:00.000Z" in diagnostics, diagnostics
    assert f"at {patient['meta']['lastUpdated']} (version 1)" in diagnostics, diagnostics


def test_a_date_header_of_more_than_one_member_is_ignored(client):
    """RFC 9110 §13.1.3-4: a recipient MUST ignore If-Modified-Since or If-Unmodified-Since
    whose value has more than one member; the first date of such a list was read alone, so
    a read was 304 and a write 412 on a date the client did not send by itself."""
    patient = created(client, new_patient())
    path = f"/Patient/{patient['id']}"
    last_modified = client.get(path).headers["Last-Modified"]
    listed = f"{last_modified}, {last_modified}"
    assert client.get(path, headers={"If-Modified-Since": last_modified}).status_code == 304
    read = client.get(path, headers={"If-Modified-Since": listed})
    assert read.status_code == 200 and read.json() == patient, read.text
    long_ago = "Sat, 01 Jan 2000 00:00:00 GMT"
    assert patch(client, path, [{"op": "add", "path": "/active", "value": True}],
                 **{"If-Unmodified-Since": f"{long_ago}, {long_ago}"}).status_code == 200
