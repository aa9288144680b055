"""A Binary with SMART `patient/` scopes: in no compartment itself, it is judged by its
`securityContext`, which "stands in as a proxy equivalent" (binary.html). A token that may
read Binary in its patient's compartment reads, vreads and reads the history of a Binary whose
securityContext is a resource the token may read (judged as a read of it is), or the launch
Patient itself; any other Binary is 403 with the message a Binary of no one's got, whether it
exists or not. Each version is judged by its own securityContext.

Data set: patients Thu (the token's) and Hải, a document each; the PDF of each document, a
portrait whose securityContext is Thu herself, a Binary without securityContext, and a scan
filed under Hải's document and then moved to Thu's.
"""

import pytest
from api.helpers import assert_outcome, media_type
from search.helpers import load

from security.helpers import fhir_client, read_entries

PDF = b"%PDF-1.7 ket qua xet nghiem"


def _document(patient: str, *binaries: str) -> dict:
    return {"resourceType": "DocumentReference", "status": "current",
            "subject": {"reference": f"Patient/{patient}"},
            "content": [{"attachment": {"contentType": "application/pdf", "url": f"Binary/{b}"}}
                        for b in binaries]}


def _put_binary(client, binary: str, context: str) -> None:
    """A new version of a Binary: PDF content, `X-Security-Context` its securityContext."""
    response = client.put(f"/Binary/{binary}", content=PDF, headers={
        "Content-Type": "application/pdf", "X-Security-Context": context})
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def ids(client) -> dict[str, str]:
    ids = load(client, {
        "thu": {"resourceType": "Patient", "name": [{"family": "Lý", "given": ["Thu"]}]},
        "hai": {"resourceType": "Patient", "name": [{"family": "Lý", "given": ["Hải"]}]},
        **{key: {"resourceType": "Binary", "contentType": "application/pdf"}
           for key in ("thu_pdf", "hai_pdf", "portrait", "loose", "moved")}})
    ids |= load(client, {
        # Thu's record names Hải's PDF too (a mislinked attachment): it stays Hải's.
        "thu_doc": _document(ids["thu"], ids["thu_pdf"], ids["portrait"], ids["loose"],
                             ids["hai_pdf"]),
        "hai_doc": _document(ids["hai"], ids["hai_pdf"])})
    _put_binary(client, ids["thu_pdf"], f"DocumentReference/{ids['thu_doc']}")
    _put_binary(client, ids["hai_pdf"], f"DocumentReference/{ids['hai_doc']}")
    _put_binary(client, ids["portrait"], f"Patient/{ids['thu']}")
    _put_binary(client, ids["moved"], f"DocumentReference/{ids['hai_doc']}")  # version 2
    _put_binary(client, ids["moved"], f"DocumentReference/{ids['thu_doc']}")  # version 3
    return ids


@pytest.fixture
def thu(server, issuer, ids):
    """A client whose token's patient is Thu, with patient/ scopes only."""
    with fhir_client(server.base, issuer.token("patient/*.rs", patient=ids["thu"])) as http:
        yield http


def _refusal(response, binary: str) -> str:
    """The 403's message, with the Binary it names left out."""
    outcome = assert_outcome(response, 403)
    return outcome["issue"][0]["diagnostics"].replace(binary, "<id>")


def test_the_binary_of_ones_own_document_is_read_as_fhir_and_as_its_content(thu, ids):
    for binary in (ids["thu_pdf"], ids["portrait"]):  # by her document; by her own record
        as_fhir = thu.get(f"/Binary/{binary}")
        assert as_fhir.status_code == 200, as_fhir.text
        assert as_fhir.json()["resourceType"] == "Binary"
        raw = thu.get(f"/Binary/{binary}", headers={"Accept": "application/pdf"})
        assert raw.status_code == 200, raw.text
        assert (raw.content, media_type(raw)) == (PDF, "application/pdf")
        assert thu.head(f"/Binary/{binary}").status_code == 200
    raw = thu.get(f"/Binary/{ids['thu_pdf']}", headers={"Accept": "*/*"})
    assert raw.headers["X-Security-Context"] == f"DocumentReference/{ids['thu_doc']}"


def test_another_patients_binary_or_one_without_security_context_is_forbidden(thu, ids):
    """With one message, that of a Binary that does not exist: it tells of none."""
    messages = set()
    for binary in (ids["hai_pdf"], ids["loose"], "khong-co"):
        for accept in ("application/fhir+json", "application/pdf"):
            messages.add(_refusal(thu.get(f"/Binary/{binary}", headers={"Accept": accept}),
                                  binary))
        messages.add(_refusal(thu.get(f"/Binary/{binary}/_history"), binary))
    assert messages == {f"The token's patient/ scopes allow reading Patient/{ids['thu']} and "
                        "its compartment only, not Binary/<id>"}
    # A search of Binary has no compartment to keep to: still refused.
    assert_outcome(thu.get("/Binary", params={"_id": ids["thu_pdf"]}), 403)


@pytest.mark.parametrize(("scopes", "readable"), [
    ("patient/DocumentReference.rs patient/Patient.rs", set()),  # no grant on Binary
    ("patient/Binary.r", {"portrait"}),  # her own record only: not her documents
    ("patient/Binary.r patient/DocumentReference.rs?status=superseded", {"portrait"}),
    ("patient/Binary.r patient/DocumentReference.rs?status=current", {"portrait", "thu_pdf"}),
    ("patient/Binary.r user/DocumentReference.r", {"portrait", "thu_pdf", "hai_pdf"}),
    # A granular grant on Binary holds for the Binary itself as well.
    ("patient/Binary.r?_id={thu_pdf} patient/DocumentReference.rs", {"thu_pdf"}),
])
def test_the_security_context_is_judged_as_a_read_of_it_by_the_same_token(
        server, issuer, ids, scopes, readable):
    token = issuer.token(scopes.format(**ids), patient=ids["thu"])
    with fhir_client(server.base, token) as http:
        for key in ("thu_pdf", "portrait", "hai_pdf", "loose"):
            status = http.get(f"/Binary/{ids[key]}").status_code
            assert status == (200 if key in readable else 403), (key, status)


def test_each_version_is_judged_by_its_own_security_context(thu, ids):
    """The scan was filed under Hải's document before it was moved to Thu's: its versions
    of before are not hers, as an Observation's of another subject are not."""
    path = f"/Binary/{ids['moved']}"
    assert thu.get(path).status_code == 200
    assert thu.get(f"{path}/_history/3", headers={"Accept": "application/pdf"}).content == PDF
    for vid in ("2", "1"):  # Hải's document's, then none
        _refusal(thu.get(f"{path}/_history/{vid}"), ids["moved"])
        _refusal(thu.get(f"{path}/_history/{vid}", headers={"Accept": "*/*"}), ids["moved"])
    history = thu.get(f"{path}/_history")
    assert history.status_code == 200, history.text
    assert [e["resource"]["meta"]["versionId"] for e in history.json()["entry"]] == ["3"]
    assert "total" not in history.json()


def test_a_deleted_binary_of_hers_is_gone_and_anothers_forbidden(client, thu, ids):
    """As any record of hers since deleted: 410, judged by its last securityContext."""
    mine, theirs = (client.post("/Binary", content=PDF, headers={
        "Content-Type": "application/pdf",
        "X-Security-Context": f"DocumentReference/{ids[doc]}"}).json()["id"]
        for doc in ("thu_doc", "hai_doc"))
    for binary in (mine, theirs):
        assert client.delete(f"/Binary/{binary}").status_code == 204
    assert_outcome(thu.get(f"/Binary/{mine}"), 410)
    assert [e["request"]["method"] for e in thu.get(f"/Binary/{mine}/_history").json()[
        "entry"]] == ["DELETE", "POST"]
    _refusal(thu.get(f"/Binary/{theirs}"), theirs)


@pytest.mark.parametrize("kind", ["batch", "transaction"])
def test_batch_entries_are_judged_as_the_same_reads_alone(thu, ids, kind):
    urls = [f"Binary/{ids['thu_pdf']}", f"Binary/{ids['moved']}/_history/3",
            f"Binary/{ids['moved']}/_history", f"Binary/{ids['hai_pdf']}",
            f"Binary/{ids['moved']}/_history/2"]
    entries = read_entries(thu, kind, urls, allowed=3)
    statuses = [entry["response"]["status"][:3] for entry in entries]
    assert statuses == ["200", "200", "200", "403", "403"][:len(entries)]
    assert entries[0]["resource"]["securityContext"] == {
        "reference": f"DocumentReference/{ids['thu_doc']}"}
    history = entries[2]["resource"]["entry"]
    assert [e["resource"]["meta"]["versionId"] for e in history] == ["3"]


def test_everything_holds_the_binaries_the_patient_reads(client, thu, ids):
    """Patient-everything, "including binaries and attachments": those a read would give
    her, not the Binary without securityContext nor Hải's her document names."""
    path = f"/Patient/{ids['thu']}/$everything"
    for params in ({}, {"_type": "DocumentReference,Binary"}):
        response = thu.get(path, params=params)
        assert response.status_code == 200, response.text
        binaries = {e["resource"]["id"] for e in response.json()["entry"]
                    if e["resource"]["resourceType"] == "Binary"}
        assert binaries == {ids["thu_pdf"], ids["portrait"]}, params
    every = client.get(path).json()["entry"]  # a user/ token: every Binary the record names
    assert {ids["loose"], ids["hai_pdf"]} <= {e["resource"]["id"] for e in every}
