"""FHIR REST semantics (http://hl7.org/fhir/R4/http.html), independent of HTTP framing."""
