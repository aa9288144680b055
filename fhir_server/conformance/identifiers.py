"""Identifier systems this server writes into the records it makes (audit, provenance).
Every Vietnamese identifier system, with its aliases and format rule, is in
`identifier_systems.IDENTIFIER_SYSTEMS`; compare systems with `canonical_system`."""

#: The 12-digit personal identification number (căn cước công dân, CCCD).
CCCD_SYSTEM = "http://fhir.hl7.org.vn/core/sid/cccd"
#: An organisation's tax code (mã số thuế, MST), as Vietnamese CAs name it in seals.
TAX_CODE_SYSTEM = "http://fhir.hl7.org.vn/core/sid/mst"
#: A SMART Backend Services client of this server, by its client_id.
CLIENT_ID_SYSTEM = "urn:fhir-exchange-server:client-id"
