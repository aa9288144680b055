"""Authentication and authorisation core, free of HTTP and database code.

- `personal_id`: the Vietnamese 12-digit personal identification number (CCCD / VNeID subject).
- `scopes`: SMART App Launch 2.x scopes (v2 and v1 syntax) and the permissions they grant
  (http://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html).
- `tokens`: bearer JWT verification against trusted issuers' JWKS (RFC 7515, RFC 7519).
- `key_purpose`: what a public JWK may verify: its type, `use`, `key_ops`, `alg` (RFC 7517 §4).
- `keys`: the local ES256 signing key of the development issuer and token minting.
"""
