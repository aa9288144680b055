"""FHIR XML bodies beyond what the server takes: elements nested deeper than the limit,
refused as they are read, and numbers beyond what is kept exactly, refused saying so."""

import tracemalloc

import pytest

from fhir_server.conformance.xml_format import xml_to_resource
from fhir_server.errors import BadRequest, InvalidResource


def test_elements_nested_beyond_the_limit_are_refused_while_read():
    """20,000 nested extensions (600 KB, under 2 KB gzipped) took 2 GB of memory to convert
    before the depth limit refused them (each open element's location is as long as its
    path): refused at element 65 instead, having held almost nothing."""
    depth = 20_000
    body = ('<Patient xmlns="http://hl7.org/fhir">' + '<extension url="http://x">' * depth
            + '<valueString value="x"/>' + "</extension>" * depth + "</Patient>").encode()
    xml_to_resource(body[:63] + b'<valueString value="x"/></extension></Patient>')  # warm
    tracemalloc.start()
    try:
        with pytest.raises(BadRequest, match="nests deeper than the 64 levels") as refused:
            xml_to_resource(body, max_depth=64)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "(line 1)" in refused.value.diagnostics
    assert peak < 20 * len(body), peak  # the body and little more, not depth² of paths


@pytest.mark.parametrize("digits", ["1." + "1" * 60, "9" * 10_000])
def test_a_number_beyond_what_is_kept_exactly_says_so_in_xml_too(digits):
    """It is a decimal, not 'not a decimal': the same refusal as in JSON."""
    body = ('<Observation xmlns="http://hl7.org/fhir"><status value="final"/><code><text '
            f'value="x"/></code><valueQuantity><value value="{digits}"/></valueQuantity>'
            '</Observation>').encode()
    with pytest.raises(InvalidResource, match="digits") as refused:
        xml_to_resource(body)
    assert "is not a decimal" not in refused.value.diagnostics
    assert "sys." not in refused.value.diagnostics
