"""Which signer signs a person's writes: their credential at the remote signing service,
remembered for a while, but never past the end of its certificate."""

import asyncio
import base64
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fhir_server.auth.scopes import Permissions
from fhir_server.auth.tokens import Principal
from fhir_server.errors import ServiceUnavailable
from fhir_server.services.signers import SignerDirectory
from signing.csc import CscClient
from signing.dev_ca import DevCertificateAuthority

PERSONAL_ID = "001085012345"


def _person() -> Principal:
    return Principal("https://vneid-broker.test", PERSONAL_ID, PERSONAL_ID, None,
                     "Nguyễn Văn An", Permissions.from_text("user/*.cruds"), "user/*.cruds")


def _service(chain) -> tuple[CscClient, list[str]]:
    """A CSC service whose one credential has `chain`; the methods called, in order."""
    calls: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        method = request.url.path.removeprefix("/csc/v2/")
        calls.append(method)
        if method == "credentials/list":
            return httpx.Response(200, json={"credentialIDs": ["cred-1"]})
        der = [c.public_bytes(serialization.Encoding.DER) for c in chain]
        return httpx.Response(200, json={
            "key": {"status": "enabled", "algo": ["1.2.840.10045.2.1"], "len": 256},
            "cert": {"status": "valid",
                     "certificates": [base64.b64encode(d).decode() for d in der]}})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    return CscClient("https://rssp.example/csc/v2", http, "token"), calls


def test_a_credential_is_not_reused_past_its_certificate(tmp_path):
    """The person's certificate ends in seconds: a write a little later must not be signed
    with it from the cache (its signature would fail validity-at-signing-time); the service
    is asked again, and with no valid credential the write is refused (503). (Five seconds:
    X.509 times are whole seconds, and a loaded machine took one to the first signer.)"""
    authority = DevCertificateAuthority.create()
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = authority.issue("Nguyễn Văn An", PERSONAL_ID, key.public_key(),
                           not_before=datetime.now(UTC) - timedelta(days=1),
                           lifetime=timedelta(days=1, seconds=5))
    client, calls = _service(authority.chain_for(leaf))
    directory = SignerDirectory(seal=None, remote=client)

    first = asyncio.run(directory.signer_for(_person()))
    assert first.chain[0] == leaf
    assert calls == ["credentials/list", "credentials/info"]
    time.sleep(max(0.0, (leaf.not_valid_after_utc - datetime.now(UTC)).total_seconds()) + 1.1)
    with pytest.raises(ServiceUnavailable):
        asyncio.run(directory.signer_for(_person()))
    assert calls.count("credentials/list") == 2
