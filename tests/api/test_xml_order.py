"""FHIR XML keeps the definition's order of elements (http://hl7.org/fhir/R4/xml.html). A
resource whose elements are out of that order is read in order all the same, as HAPI's
parser reads it by default (the Ministry's VN Core sources are written so), and `$validate`
warns of each, as strict parsers and the HL7 validator refuse them."""

import pytest

from fhir_server.conformance.xml_format import read_xml

FHIR_XML = "application/fhir+xml"
OUT_OF_ORDER = [
    ('<gender value="male"/><active value="true"/>', "active", "gender"),
    ('<name><given value="Lan"/><family value="Lê"/></name>', "family", "given"),
    ('<name><text value="A"/></name><gender value="male"/><name><text value="B"/></name>',
     "name", "gender"),
    ('<active value="true"/><extension url="http://example.org/x"><valueBoolean value="true"/>'
     "</extension>", "extension", "active"),
]


def _patient(inner: str) -> bytes:
    return f'<Patient xmlns="http://hl7.org/fhir">\n{inner}</Patient>'.encode()


@pytest.mark.parametrize(("inner", "element", "previous"), OUT_OF_ORDER)
def test_elements_out_of_order_are_read_in_order_with_a_warning(inner, element, previous):
    resource, disorder = read_xml(_patient(inner))
    assert [issue.severity for issue in disorder] == ["warning"]
    assert disorder[0].diagnostics.startswith(
        f"<{element}> (line 2) is out of order: R4 defines it before <{previous}>")
    assert disorder[0].expression[0].startswith("Patient.")
    assert list(resource) == sorted(resource, key=list(resource).index)  # as JSON writes it
    assert read_xml(_patient(inner.replace("\n", "")))[0] == resource


def test_elements_in_order_have_no_warning():
    inner = ('<id value="x"/><extension url="http://example.org/x"><valueBoolean value="true"/>'
             '</extension><active value="true"/><name><family value="Lê"/><given value="Lan"/>'
             '<given value="Thị"/></name><gender value="female"/>')
    assert read_xml(_patient(inner))[1] == []


def test_a_repeating_element_out_of_order_is_named_with_its_index():
    inner = '<name><text value="A"/></name><gender value="male"/><name><text value="B"/></name>'
    assert [issue.expression for issue in read_xml(_patient(inner))[1]] == [("Patient.name[1]",)]


def test_past_the_first_twenty_elements_out_of_order_their_count_is_given():
    inner = "".join(f'<telecom><value value="{k}"/></telecom><name><text value="{k}"/></name>'
                    for k in range(30))
    disorder = read_xml(_patient(inner))[1]
    assert [issue.severity for issue in disorder] == ["warning"] * 20 + ["information"]
    assert disorder[-1].diagnostics == "... and 10 more warnings and notes, not kept"


@pytest.mark.parametrize(("inner", "element", "previous"), OUT_OF_ORDER[:2])
def test_validate_warns_and_a_write_stores_it_in_order(client, inner, element, previous):
    headers = {"Content-Type": FHIR_XML, "Accept": "application/fhir+json"}
    outcome = client.post("/Patient/$validate", content=_patient(inner), headers=headers)
    assert outcome.status_code == 200, outcome.text
    issues = outcome.json()["issue"]
    assert [(issue["severity"], issue["code"]) for issue in issues] == [("warning", "structure")]
    assert f"<{element}> (line 2) is out of order" in issues[0]["diagnostics"]
    vietnamese = client.post("/Patient/$validate", content=_patient(inner),
                             headers={**headers, "Accept-Language": "vi"})
    assert "sai thứ tự" in vietnamese.json()["issue"][0]["diagnostics"]
    created = client.post("/Patient", content=_patient(inner), headers=headers)
    assert created.status_code == 201, created.text
    stored = client.get(created.headers["location"].split("/_history")[0]).json()
    read = read_xml(_patient(inner))[0]
    assert {name: stored[name] for name in read} == read
