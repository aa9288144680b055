"""An XML batch whose entry holds a resource that is no valid FHIR XML (an unknown element,
a wrong value, no resource type at all): that entry fails alone, as it would in JSON, and
the others are answered; a transaction fails whole, naming the entry."""

from helpers import search_ids, unique_system

FHIR_XML = "application/fhir+xml"
HEADERS = {"Content-Type": FHIR_XML, "Accept": "application/fhir+json"}


def _entry(resource: str, url: str = "Patient") -> str:
    return (f"<entry><resource>{resource}</resource>"
            f'<request><method value="POST"/><url value="{url}"/></request></entry>')


def _patient(system: str, value: str, inner: str = "") -> str:
    return (f'<Patient><identifier><system value="{system}"/><value value="{value}"/>'
            f"</identifier>{inner}</Patient>")


def _bundle(kind: str, *entries: str) -> bytes:
    return (f'<Bundle xmlns="http://hl7.org/fhir"><type value="{kind}"/>\n'
            + "\n".join(entries) + "</Bundle>").encode()


def test_a_batch_entry_that_is_no_fhir_fails_alone(client):
    system = unique_system()
    unreadable = [
        _patient(system, "x1", '<nickname value="Bé"/>'),  # an unknown element
        _patient(system, "x2", '<name><family value="A"/><period><end><extension/></end>'
                               '</period><given value="B"/></name>'),  # deep, then more
        '<Patiently><id value="x"/></Patiently>',  # no resource type
        _patient(system, "x3", '<active value="yes"/>'),  # a boolean that is not
        _patient(system, "x4", "<gender>male</gender>"),  # text for an attribute
    ]
    good = [_patient(system, f"ok{n}") for n in range(len(unreadable) + 1)]
    entries = [_entry(resource)
               for pair in zip(good, unreadable, strict=False) for resource in pair]
    response = client.post("/", content=_bundle("batch", *entries, _entry(good[-1])),
                           headers=HEADERS)
    assert response.status_code == 200, response.text
    answers = response.json()["entry"]
    assert [answer["response"]["status"][:3] for answer in answers] == ["201", "400"] * 5 + ["201"]
    failed = [answer["response"]["outcome"]["issue"][0]["diagnostics"]
              for answer in answers[1::2]]
    assert "Unknown element <nickname> in Bundle.entry[1].resource (line 3)" in failed[0]
    assert "Bundle.entry[3].resource.name[0].period.end.extension[0] is empty" in failed[1]
    assert "<Patiently> is not a FHIR resource type" in failed[2]
    assert "Bundle.entry[7].resource.active" in failed[3] and "boolean" in failed[3]
    assert "Text is not allowed in Bundle.entry[9].resource.gender" in failed[4]
    assert sorted(search_ids(client, "Patient", identifier=f"{system}|")) == sorted(
        answer["response"]["location"].split("Patient/")[1].split("/")[0]
        for answer in answers[0::2])


def test_a_transaction_with_such_an_entry_fails_whole(client):
    system = unique_system()
    body = _bundle("transaction", _entry(_patient(system, "a")),
                   _entry(_patient(system, "b", '<nickname value="Bé"/>')))
    response = client.post("/", content=body, headers=HEADERS)
    assert response.status_code == 400, response.text
    assert "Unknown element <nickname> in Bundle.entry[1].resource" in response.text
    assert search_ids(client, "Patient", identifier=f"{system}|") == []


def test_an_error_outside_the_entries_resources_refuses_the_batch(client):
    body = _bundle("batch", _entry(_patient(unique_system(), "a")), "<entry><bogus/></entry>")
    response = client.post("/", content=body, headers=HEADERS)
    assert response.status_code == 400
    assert "Unknown element <bogus> in Bundle.entry[1]" in response.text


def test_an_entry_with_an_unreadable_resource_and_a_bad_request_reports_both(client):
    resource = _patient(unique_system(), "x", '<nickname value="B"/>')
    broken = (f"<entry><resource>{resource}</resource>"
              '<request><method value="POST"/></request></entry>')
    response = client.post("/", content=_bundle("batch", broken), headers=HEADERS)
    assert response.status_code == 200, response.text
    (answer,) = response.json()["entry"]
    issues = [issue["diagnostics"] for issue in answer["response"]["outcome"]["issue"]]
    assert any("Unknown element <nickname>" in text for text in issues), issues
    assert any("request.url" in text or "url" in text for text in issues[1:]), issues


def test_an_empty_or_attributed_resource_element_fails_its_entry_alone(client):
    """Refused after (`<resource/>`) or before (`<resource x="1">`) its holder was on the
    reader's stack, the whole batch was 400 where JSON's `"resource": {}` failed alone."""
    system = unique_system()
    contained = _patient(system, "c", '<contained><Patient><id value="p"/></Patient>'
                         '</contained><contained id="x"><Patient><id value="q"/></Patient>'
                         "</contained>")
    entries = [_entry(""), _entry(_patient(system, "ok1")),
               '<entry><resource x="1">' + _patient(system, "x") + "</resource>"
               '<request><method value="POST"/><url value="Patient"/></request></entry>',
               _entry(contained), _entry(_patient(system, "ok2"))]
    response = client.post("/", content=_bundle("batch", *entries), headers=HEADERS)
    assert response.status_code == 200, response.text
    answers = response.json()["entry"]
    assert [answer["response"]["status"][:3] for answer in answers] == [
        "400", "201", "400", "400", "201"]
    failed = [answers[n]["response"]["outcome"]["issue"][0]["diagnostics"] for n in (0, 2, 3)]
    assert "Bundle.entry[0].resource holds no resource" in failed[0]
    assert "Bundle.entry[2].resource takes no attributes" in failed[1]
    assert "Bundle.entry[3].resource.contained[1] takes no attributes" in failed[2]
    assert len(search_ids(client, "Patient", identifier=f"{system}|")) == 2
