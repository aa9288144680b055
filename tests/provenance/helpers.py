"""What the Provenance tests share: the contract's constants, an independent check of a
signature (joserfc + rfc8785 + cryptography, none of the server's own code), and small HTTP
helpers for Provenance searches and the verification operations."""

import base64
import json
from datetime import UTC, datetime

import httpx
import rfc8785
from api.helpers import FHIR_HEADERS
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from joserfc import jwk as joserfc_jwk
from joserfc import jws as joserfc_jws
from joserfc.registry import HeaderParameter

CCCD_SYSTEM = "http://fhir.hl7.org.vn/core/sid/cccd"
MST_SYSTEM = "http://fhir.hl7.org.vn/core/sid/mst"
CLIENT_ID_SYSTEM = "urn:fhir-exchange-server:client-id"
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
SIGNATURE_TYPE = {"system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.1"}
TARGET_FORMAT = 'application/fhir+json;canonicalization="urn:ietf:rfc:8785";omit="id meta text"'
SIGD_MECHANISM = "http://uri.etsi.org/19182/ObjectIdByURI"
TAX_CODE = "0100000000"
SEAL_NAME = "Bệnh viện Đa khoa Demo"
TOKEN_NAME = "Nguyễn Văn An"  # the name every test-issuer token carries
UNSIGNED = ("id", "meta", "text")


# ---------------------------------------------------------------- signed bytes, JWS

def signed_bytes(resource: dict, unsigned: tuple[str, ...] = UNSIGNED) -> bytes:
    """RFC 8785 of the version without id, meta and text, or without the `unsigned` elements
    given (the rfc8785 package, not ours)."""
    return rfc8785.dumps({k: v for k, v in resource.items() if k not in unsigned})


def compact_jws(signature: dict) -> str:
    """The compact JWS in `Signature.data` (standard base64 of its ASCII)."""
    return base64.b64decode(signature["data"], validate=True).decode("ascii")


def jws_header(signature: dict) -> dict:
    encoded = compact_jws(signature).split(".")[0]
    return json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))


def x5c_chain(header: dict) -> list[x509.Certificate]:
    return [x509.load_der_x509_certificate(base64.b64decode(c, validate=True))
            for c in header["x5c"]]


def leaf_certificate(signature: dict) -> x509.Certificate:
    return x5c_chain(jws_header(signature))[0]


def subject_attributes(certificate: x509.Certificate) -> tuple[list[str], list[str]]:
    """(CN values, UID values) of the certificate's subject."""
    subject = certificate.subject
    return ([a.value for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)],
            [a.value for a in subject.get_attributes_for_oid(NameOID.USER_ID)])


def _sig_d(value):
    if not isinstance(value, dict):
        raise ValueError("sigD must be an object")


def joserfc_registry() -> joserfc_jws.JWSRegistry:
    """joserfc told that sigT and sigD exist (they are listed in crit), ES/RS/PS256 only."""
    registry = joserfc_jws.JWSRegistry(
        header_registry={"sigT": HeaderParameter("JAdES signing time", "str"),
                         "sigD": HeaderParameter("JAdES signed data object references", _sig_d)},
        algorithms=["ES256", "RS256", "PS256"],
    )
    registry.max_header_length = 16_384  # x5c is longer than joserfc's 512-byte default
    return registry


def leaf_jwk(signature: dict):
    """The x5c leaf certificate's public key as a joserfc JWK."""
    public = leaf_certificate(signature).public_key()
    pem = public.public_bytes(serialization.Encoding.PEM,
                              serialization.PublicFormat.SubjectPublicKeyInfo)
    return joserfc_jwk.JWKRegistry.import_key(
        pem, "RSA" if isinstance(public, rsa.RSAPublicKey) else "EC")


def joserfc_verify(signature: dict, resource: dict, unsigned: tuple[str, ...] = UNSIGNED) -> dict:
    """Verify `Signature.data` over `resource` (without its `unsigned` elements) with joserfc
    and the x5c leaf's key; return the protected header. Raises (joserfc's BadSignatureError)
    when it does not verify."""
    key = leaf_jwk(signature)
    header = jws_header(signature)
    payload = signed_bytes(resource, unsigned)
    verified = joserfc_jws.deserialize_compact(
        compact_jws(signature), key, algorithms=[header["alg"]], registry=joserfc_registry(),
        payload=payload)
    assert verified.payload == payload
    return verified.headers()


def assert_chains_to(chain: list[x509.Certificate], anchor: x509.Certificate,
                     at: datetime) -> None:
    """Each certificate of x5c issued by the next, the last by `anchor`, all valid `at`."""
    for certificate, issuer in zip(chain, [*chain[1:], anchor], strict=True):
        certificate.verify_directly_issued_by(issuer)
        assert certificate.not_valid_before_utc <= at <= certificate.not_valid_after_utc
    assert chain[-1].issuer == anchor.subject


def assert_signing_key_usage(certificate: x509.Certificate) -> None:
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment, usage
    assert not usage.key_cert_sign


def load_anchor(path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def sig_time(header: dict) -> datetime:
    return datetime.strptime(header["sigT"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def public_key_bytes(certificate: x509.Certificate) -> bytes:
    return certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def is_p256(certificate: x509.Certificate) -> bool:
    key = certificate.public_key()
    return isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"


# ---------------------------------------------------------------- resources, HTTP

def versioned(resource: dict) -> str:
    return f"{resource['resourceType']}/{resource['id']}/_history/{resource['meta']['versionId']}"


def search(client: httpx.Client, resource_type: str, **params: str) -> list[dict]:
    response = client.get(f"/{resource_type}", params={"_count": "1000", **params})
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert "next" not in [link["relation"] for link in bundle.get("link", [])], bundle["link"]
    return [entry["resource"] for entry in bundle.get("entry", [])]


def provenances_of(client: httpx.Client, reference: str) -> list[dict]:
    """The Provenances whose target is (a version of) `reference` (Type/id)."""
    return search(client, "Provenance", target=reference)


def provenance_of(client: httpx.Client, version: str) -> dict:
    """The one Provenance targeting exactly `version` (Type/id/_history/n)."""
    resource = version.split("/_history/")[0]
    matching = [p for p in provenances_of(client, resource)
                if [t["reference"] for t in p["target"]] == [version]]
    assert len(matching) == 1, (version, matching)
    return matching[0]


def verify(client: httpx.Client, provenance_id: str) -> dict:
    """GET Provenance/{id}/$verify: the Parameters."""
    response = client.get(f"/Provenance/{provenance_id}/$verify")
    assert response.status_code == 200, response.text
    parameters = response.json()
    assert parameters["resourceType"] == "Parameters", parameters
    return parameters


def verify_signature(client: httpx.Client, provenance: dict, *resources: dict) -> dict:
    """POST $verify-signature with {provenance, resource...}: the Parameters."""
    body = {"resourceType": "Parameters",
            "parameter": [{"name": "provenance", "resource": provenance},
                          *({"name": "resource", "resource": r} for r in resources)]}
    response = client.post("/$verify-signature", json=body, headers=FHIR_HEADERS)
    assert response.status_code == 200, response.text
    parameters = response.json()
    assert parameters["resourceType"] == "Parameters", parameters
    return parameters


def indication(parameters: dict) -> str:
    (value,) = [p["valueCode"] for p in parameters["parameter"] if p["name"] == "indication"]
    return value


def signature_parts(parameters: dict) -> list[dict]:
    return [p for p in parameters["parameter"] if p["name"] == "signature"]


def checks(parameters: dict, index: int = 0) -> dict[str, str]:
    """{check name: status} of the index-th signature part."""
    parts = signature_parts(parameters)[index]["part"]
    result = {}
    for part in parts:
        if part["name"] == "check":
            fields = {p["name"]: p for p in part["part"]}
            result[fields["name"]["valueCode"]] = fields["status"]["valueCode"]
    return result


def assert_passed(parameters: dict) -> None:
    """TOTAL-PASSED, every signature too, every check passed (revocation may be
    not-evaluated: no revocation source is configured)."""
    assert indication(parameters) == "TOTAL-PASSED", parameters
    assert [p for p in parameters["parameter"] if p["name"] == "reason"] == [], parameters
    assert signature_parts(parameters), parameters
    for index, part in enumerate(signature_parts(parameters)):
        fields = {p["name"]: p for p in part["part"] if p["name"] != "check"}
        assert fields["indication"]["valueCode"] == "TOTAL-PASSED", part
        statuses = checks(parameters, index)
        assert {"signature", "content", "chain", "identity", "target"} <= set(statuses), statuses
        assert all(status == "passed" for name, status in statuses.items()
                   if name != "revocation"), statuses
        assert statuses.get("revocation", "not-evaluated") in ("passed", "not-evaluated")


def assert_failed(parameters: dict, *failed_checks: str) -> None:
    """TOTAL-FAILED with (at least) these checks failed."""
    assert indication(parameters) == "TOTAL-FAILED", parameters
    statuses = checks(parameters)
    for name in failed_checks:
        assert statuses.get(name) == "failed", (name, statuses)
