"""Conformance: what the server supports, validation, the CapabilityStatement."""
