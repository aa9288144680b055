"""Fixtures for the signing package: a development CA, signers and a Vietnamese Patient.

Pure tests: no MongoDB, no server.
"""

import base64
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from signing.canonical import signed_content
from signing.dev_ca import DevCertificateAuthority
from signing.jws import encode_header, signing_input
from signing.keys import LocalSigner
from signing.provenance import build_signature_header

PERSONAL_ID = "001085012345"
TARGET = "Patient/pat-1/_history/3"


@pytest.fixture(scope="session")
def ca() -> DevCertificateAuthority:
    return DevCertificateAuthority.create()


@pytest.fixture(scope="session")
def signer(ca) -> LocalSigner:
    return ca.new_signer("Nguyễn Văn An", PERSONAL_ID)


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def patient() -> dict:
    return {
        "resourceType": "Patient",
        "id": "pat-1",
        "meta": {"versionId": "3", "lastUpdated": "2026-11-23T10:00:00Z"},
        "text": {
            "status": "generated",
            "div": '<div xmlns="http://www.w3.org/1999/xhtml">An</div>',
        },
        "identifier": [{"system": "https://cccd.gov.vn", "value": PERSONAL_ID}],
        "name": [{"family": "Nguyễn", "given": ["Văn", "An"], "text": "Nguyễn Văn An"}],
        "gender": "male",
        "birthDate": "1985-03-14",
        "address": [{"city": "Hà Nội", "district": "Ba Đình", "country": "VN"}],
    }


@pytest.fixture
def forge(signer, now) -> Callable[..., str]:
    """Signature.data with a header changed by `edit`, validly signed by `signer` (ES256).

    `edit(header)` mutates the header in place; `signature` replaces the signature bytes.
    """

    def make(resource: dict, edit=None, signature: bytes | None = None, target=TARGET) -> str:
        header = build_signature_header(target, signer.chain, signer.kid, signer.alg, now)
        if edit is not None:
            edit(header)
        header_b64 = encode_header(header)
        if signature is None:
            signature = signer.sign(signing_input(header_b64, signed_content(resource)))
        compact = f"{header_b64}..{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
        return base64.b64encode(compact.encode("ascii")).decode("ascii")

    return make
