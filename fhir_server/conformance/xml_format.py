"""FHIR XML (http://hl7.org/fhir/R4/xml.html) ↔ FHIR JSON, the one entry point: the parser
and the writer live in `xml_parse` and `xml_write`, the rules they share in `xml_rules`."""

from fhir_server.conformance.xml_parse import read_xml, read_xml_bundle, xml_to_resource
from fhir_server.conformance.xml_write import resource_to_xml

__all__ = ["read_xml", "read_xml_bundle", "resource_to_xml", "xml_to_resource"]
