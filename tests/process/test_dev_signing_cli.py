"""`fhir-server serve --dev` signs with its own development CA, run for real: the person's
certificate comes from the local CSC signing service of the data dir, the Provenance verifies
there, and the same data dir served without --dev does not trust that CA."""

import signal

import httpx
from cryptography import x509
from process_issuer import bearer
from test_security_cli import _banner_token, _create, _headers, _port

TERMINATED = (0, -signal.SIGTERM)


def _verify(base: str, provenance_id: str, headers: dict) -> dict:
    response = httpx.get(f"{base}/Provenance/{provenance_id}/$verify", headers=headers,
                         timeout=30)
    assert response.status_code == 200, response.text
    return {p["name"]: p.get("valueCode") for p in response.json()["parameter"]}


def test_dev_server_signs_with_its_own_ca_trusted_only_with_dev(spawn, tmp_path):
    data = tmp_path / "data"
    port = _port()
    dev = spawn(data, "--dev", port=port)
    dev.wait_ready()
    token = _banner_token(dev.stdout())
    created = _create(dev.base, token)
    assert created.status_code == 201, created.text
    target = f"Patient/{created.json()['id']}/_history/1"
    found = httpx.get(f"{dev.base}/Provenance", params={"target": target.split("/_history")[0]},
                      headers=_headers(token), timeout=30).json()
    (provenance,) = [e["resource"] for e in found["entry"]]
    assert provenance["target"] == [{"reference": target}]
    assert provenance["agent"][0]["who"]["identifier"]["value"] == "001085012345"
    assert _verify(dev.base, provenance["id"], _headers(token))["indication"] == "TOTAL-PASSED"
    root = x509.load_pem_x509_certificate((data / "dev-ca" / "root-ca.pem").read_bytes())
    assert "Development Root CA" in root.subject.rfc4514_string()
    assert dev.stop() in TERMINATED

    # The same data dir without --dev: the development root is no trust anchor any more.
    plain = spawn(data, port=port)
    plain.wait_ready()
    headers = {**bearer(), "Accept": "application/fhir+json"}
    outcome = _verify(plain.base, provenance["id"], headers)
    assert outcome["indication"] == "INDETERMINATE", outcome
    assert plain.stop() in TERMINATED
