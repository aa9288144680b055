"""Writes of a SMART Backend Services client (no person): the Provenance names the client id
and the hospital, and the signature is the hospital's organisation seal (UID=MST)."""

import uuid

import pytest
from api.helpers import FHIR_HEADERS, created, new_patient
from security.helpers import ClientKey, fhir_client
from security.test_backend_services import Client, granted, register

from provenance.helpers import (
    CLIENT_ID_SYSTEM,
    MST_SYSTEM,
    SEAL_NAME,
    TAX_CODE,
    assert_chains_to,
    assert_passed,
    assert_signing_key_usage,
    joserfc_verify,
    jws_header,
    load_anchor,
    provenance_of,
    sig_time,
    subject_attributes,
    verify,
    versioned,
    x5c_chain,
)


@pytest.fixture(scope="module")
def backend(server, tmp_path_factory):
    """A registered backend client (`fhir-server client register`) with a token from the
    server's own token endpoint (private_key_jwt)."""
    work = tmp_path_factory.mktemp("backend-client")
    registered = Client(f"his-{uuid.uuid4().hex[:8]}", ClientKey("ES384"))
    result = register(server, work, registered.id, "system/*.cruds", key=registered.key)
    assert result.returncode == 0, result.stdout + result.stderr
    token = granted(server, registered, "system/*.cruds")["access_token"]
    with fhir_client(server.base, token) as http:
        yield registered.id, http


def test_client_write_is_sealed_by_the_hospital(client, backend, signing_service):
    client_id, http = backend
    patient = created(http, new_patient())
    provenance = provenance_of(client, versioned(patient))
    (agent,) = provenance["agent"]
    assert agent["who"]["identifier"] == {"system": CLIENT_ID_SYSTEM, "value": client_id}
    assert agent["onBehalfOf"]["identifier"] == {"system": MST_SYSTEM, "value": TAX_CODE}
    assert agent["onBehalfOf"]["display"] == SEAL_NAME
    (signature,) = provenance["signature"]
    assert signature["who"] == agent["who"]
    assert signature["onBehalfOf"] == agent["onBehalfOf"]

    header = joserfc_verify(signature, patient)
    assert header["sigD"]["pars"] == [versioned(patient)]
    chain = x5c_chain(jws_header(signature))
    assert_chains_to(chain, load_anchor(signing_service.anchor_path), sig_time(header))
    names, uids = subject_attributes(chain[0])
    assert (names, uids) == ([SEAL_NAME], [f"MST:{TAX_CODE}"])
    assert_signing_key_usage(chain[0])
    assert_passed(verify(client, provenance["id"]))


def test_on_behalf_of_references_the_hospitals_organization(client, backend):
    _, http = backend
    hospital = created(client, {"resourceType": "Organization", "name": SEAL_NAME,
                                "identifier": [{"system": MST_SYSTEM, "value": TAX_CODE}]})
    patient = created(http, new_patient())
    provenance = provenance_of(client, versioned(patient))
    assert provenance["agent"][0]["onBehalfOf"]["reference"] == f"Organization/{hospital['id']}"
    assert_passed(verify(client, provenance["id"]))
    # A person's write names the Organization too.
    mine = created(client, new_patient())
    mine_provenance = provenance_of(client, versioned(mine))
    assert mine_provenance["agent"][0]["onBehalfOf"]["reference"] == (
        f"Organization/{hospital['id']}")
    client.delete(f"/Organization/{hospital['id']}")


def test_client_delete_is_sealed(client, backend):
    _, http = backend
    patient = created(client, new_patient())
    response = http.delete(f"/Patient/{patient['id']}", headers=FHIR_HEADERS)
    assert response.status_code in (200, 204), response.text
    provenance = provenance_of(client, f"Patient/{patient['id']}/_history/2")
    assert provenance["activity"]["coding"][0]["code"] == "DELETE"
    assert provenance["agent"][0]["who"]["identifier"]["system"] == CLIENT_ID_SYSTEM
    assert subject_attributes(x5c_chain(jws_header(provenance["signature"][0]))[0])[1] == [
        f"MST:{TAX_CODE}"]
    assert_passed(verify(client, provenance["id"]))
