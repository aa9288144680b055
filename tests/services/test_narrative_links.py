"""fullUrls linked from a transaction entry's narrative (services/references.py): replaced by
the `Type/id` given to their entry (http://hl7.org/fhir/R4/http.html#trules), as reference
elements are, whatever the case of the UUID (RFC 4122) and the quotes of the attribute."""

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_server.services.references import full_url_key, rewrite_references

_XHTML = 'xmlns="http://www.w3.org/1999/xhtml"'


def _spelled(url: str, upper: list[bool]) -> str:
    return "".join(c.upper() if up else c for c, up in zip(url, upper, strict=True))


def _linked(div: str, assigned: dict[str, str]) -> str:
    observation = {"resourceType": "Observation", "text": {"status": "generated", "div": div}}
    rewrite_references(observation, assigned, "http://example.org/fhir", {})
    return observation["text"]["div"]


@settings(deadline=None)  # the first example loads the R4 definitions the rewrite reads
@given(st.uuids(), st.lists(st.booleans(), min_size=45, max_size=45),
       st.sampled_from(['"', "'"]), st.sampled_from(["a href", "img src"]))
def test_a_full_url_is_linked_whatever_its_case_and_quotes(made, upper, quote, attribute):
    full_url = f"urn:uuid:{made}"
    element, name = attribute.split()
    link = f"<{element} {name}={quote}{_spelled(full_url, upper)}{quote}/>"
    assigned = {full_url_key(full_url): "Patient/p1"}
    div = f"<div {_XHTML}><p>Bệnh nhân's</p>{link}</div>"
    assert _linked(div, assigned) == div.replace(link, f"<{element} {name}={quote}Patient/p1"
                                                       f"{quote}/>")


def test_quoted_values_of_no_entry_are_left_as_written():
    other = f"URN:UUID:{str(uuid.uuid4()).upper()}"
    div = f"<div {_XHTML}><a href='{other}'>x</a> \"it's\" <a href=\"#top\">y</a></div>"
    assert _linked(div, {f"urn:uuid:{uuid.uuid4()}": "Patient/p1"}) == div
