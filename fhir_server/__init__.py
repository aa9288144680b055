"""FHIR R4 health data exchange server on MongoDB."""
