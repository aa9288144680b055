"""JWS provenance signatures over FHIR resources, verifiable with this package alone.

Standalone on purpose: it imports neither the server (``fhir_server``) nor FastAPI nor
PyMongo, so another hospital or a national connector can verify exported signatures with
``cryptography``, ``rfc8785`` and this package.

- :mod:`signing.canonical`: the signed bytes (RFC 8785 JCS without id/meta/text)
- :mod:`signing.jws`: detached ``b64: false`` JWS (RFC 7515, RFC 7797)
- :mod:`signing.keys`: signers (PEM, PKCS#12), JWS-form signatures, RFC 7638 ``kid``
- :mod:`signing.certificates`: personal ID or organisation tax code, RFC 5280 path checks
- :mod:`signing.dev_ca`: a development CA issuing personal certificates and organisation seals
- :mod:`signing.provenance`: sign / verify resource versions for ``Provenance.signature``
- :mod:`signing.csc`: remote signing with the Cloud Signature Consortium API v2 (needs ``httpx``;
  not imported here, verification does not need it)
- :mod:`signing.report`: the validation report (ETSI EN 319 102-1 indications)
"""

from signing.canonical import signed_content
from signing.jws import SignatureInvalid, verify_detached
from signing.keys import DigestSigner, LocalSigner, Signer
from signing.provenance import sign_resource, sign_resources, verify_resource
from signing.report import VerificationReport

__all__ = [
    "DigestSigner",
    "LocalSigner",
    "SignatureInvalid",
    "Signer",
    "VerificationReport",
    "sign_resource",
    "sign_resources",
    "signed_content",
    "verify_detached",
    "verify_resource",
]
