"""Property: the version history of a Patient replays exactly the edits made to it over HTTP
(updates with generated content, deletes, re-creation by PUT); an update sending the content
already stored makes no version."""

import uuid
from datetime import date

from helpers import CCCD, FHIR_HEADERS, all_pages, assert_outcome, unique_cccd, without_meta
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FAMILIES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng",
            "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý"]
GIVEN = ["Văn", "Thị", "An", "Bình", "Cường", "Dũng", "Đức", "Giang", "Hà", "Hạnh", "Hương",
         "Khánh", "Linh", "Minh", "Ngọc", "Phương", "Quang", "Thảo", "Trung", "Tuấn", "Việt",
         "Yến", "Ánh", "Ưng", "Thuỷ"]

names = st.lists(
    st.fixed_dictionaries(
        {"family": st.sampled_from(FAMILIES),
         "given": st.lists(st.sampled_from(GIVEN), min_size=1, max_size=3)},
        optional={"use": st.sampled_from(["official", "usual", "nickname", "maiden"])},
    ),
    min_size=1, max_size=2,
)
phones = st.from_regex(r"0(3|5|7|8|9)[0-9]{8}", fullmatch=True)
telecoms = st.lists(
    st.fixed_dictionaries(
        {"system": st.sampled_from(["phone", "sms"]), "value": phones},
        optional={"use": st.sampled_from(["home", "work", "mobile"])},
    ),
    min_size=1, max_size=2,
)
contents = st.fixed_dictionaries(
    {"name": names},
    optional={
        "gender": st.sampled_from(["male", "female", "other", "unknown"]),
        "birthDate": st.dates(date(1900, 1, 1), date(2024, 12, 31)).map(date.isoformat),
        "active": st.booleans(),
        "telecom": telecoms,
    },
)
operations = st.lists(
    st.one_of(st.tuples(st.just("update"), contents), st.tuples(st.just("delete"), st.none())),
    min_size=1, max_size=8,
)


def _apply(client, resource_id: str, steps: list) -> list[dict | None]:
    """Perform the steps and return the versions expected in history, oldest first
    (None for a deletion)."""
    path = f"/Patient/{resource_id}"
    expected: list[dict | None] = []
    exists = False
    identifier = [{"system": CCCD, "value": unique_cccd()}]
    for kind, content in steps:
        if kind == "update":
            body = {"resourceType": "Patient", "id": resource_id, "identifier": identifier,
                    **content}
            response = client.put(path, json=body, headers=FHIR_HEADERS)
            assert response.status_code == (200 if exists else 201), response.text
            unchanged = exists and expected[-1] == body
            if not unchanged:
                expected.append(body)
            assert response.headers["etag"] == f'W/"{len(expected)}"'
            assert without_meta(response.json()) == without_meta(body)
            exists = True
        else:
            response = client.delete(path)
            assert response.status_code == 204, response.text
            if exists:
                expected.append(None)
            exists = False
    return expected


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=operations)
def test_history_replays_the_edit_sequence(client, server, steps):
    resource_id = f"vn-{uuid.uuid4().hex[:20]}"
    expected = _apply(client, resource_id, steps)
    path = f"/Patient/{resource_id}"
    if not expected:
        assert_outcome(client.get(path), 404)
        assert_outcome(client.get(f"{path}/_history"), 404)
        return

    bundle = client.get(f"{path}/_history").json()
    assert bundle["type"] == "history"
    assert bundle["total"] == len(expected)
    entries, _ = all_pages(client, f"{path}/_history", {"_count": "3"})
    assert len(entries) == len(expected)
    assert entries == bundle["entry"]
    stamps = [entry["response"]["lastModified"] for entry in entries]
    assert stamps == sorted(set(stamps), reverse=True)

    newest_first = list(enumerate(expected, start=1))[::-1]
    previous_method = None
    for entry, (vid, sent) in zip(entries, newest_first, strict=True):
        assert entry["fullUrl"] == f"{server.base}{path}"
        assert entry["response"]["etag"] == f'W/"{vid}"'
        vread = client.get(f"{path}/_history/{vid}")
        if sent is None:
            assert "resource" not in entry
            assert entry["request"]["method"] == "DELETE"
            assert_outcome(vread, 410)
        else:
            resource = entry["resource"]
            assert entry["request"]["method"] in ("PUT", "POST")
            assert without_meta(resource) == without_meta(sent)
            assert resource["id"] == resource_id
            assert resource["meta"]["versionId"] == str(vid)
            assert resource["meta"]["lastUpdated"] == entry["response"]["lastModified"]
            assert vread.status_code == 200
            assert vread.json() == resource
            assert vread.headers["etag"] == f'W/"{vid}"'
        previous_method = entry["request"]["method"]
    assert previous_method in ("PUT", "POST")

    current = client.get(path)
    if expected[-1] is None:
        assert_outcome(current, 410)
    else:
        assert current.status_code == 200
        assert current.json() == entries[0]["resource"]
