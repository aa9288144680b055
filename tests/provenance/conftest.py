"""Fixtures of the Provenance tests: the module server's MongoDB database (to tamper with
stored versions), clients of other persons, and the countersigning doctor, a colleague and
a patient."""

from collections.abc import Callable, Iterator

import httpx
import pymongo
import pytest
from api.helpers import created, new_patient
from security.helpers import fhir_client, personal_id

from provenance.countersigning import DOCTOR, DOCTOR_NAME
from provenance.helpers import CCCD_SYSTEM
from signing.dev_ca import DevCertificateAuthority
from signing.keys import LocalSigner


@pytest.fixture(scope="module")
def db(server, mongo_uri) -> Iterator[pymongo.database.Database]:
    """The module server's database, straight through PyMongo."""
    with pymongo.MongoClient(mongo_uri) as mongo:
        yield mongo[server.settings.database]


@pytest.fixture(scope="module")
def person_client(server, issuer) -> Iterator[Callable[[str], httpx.Client]]:
    """`person_client(personal_id)`: a client with a `user/*.cruds` token of that person."""
    clients: list[httpx.Client] = []

    def make(personal_id: str) -> httpx.Client:
        http = fhir_client(server.base, issuer.token(scope="user/*.cruds", subject=personal_id))
        clients.append(http)
        return http

    yield make
    for http in clients:
        http.close()


@pytest.fixture(scope="module")
def authority(signing_service) -> DevCertificateAuthority:
    """The development CA the servers trust (its root is `signing_service.anchor_path`)."""
    return DevCertificateAuthority.load_or_create(signing_service.service.directory)


@pytest.fixture(scope="module")
def doctor(authority) -> LocalSigner:
    return authority.new_signer(DOCTOR_NAME, DOCTOR)


@pytest.fixture
def patient(client) -> dict:
    return created(client, new_patient())


@pytest.fixture(scope="module")
def colleague(client) -> dict:
    """A Practitioner with a personal ID of their own: not the doctor who signs."""
    return created(client, {
        "resourceType": "Practitioner",
        "identifier": [{"system": CCCD_SYSTEM, "value": personal_id(1966)}],
        "name": [{"family": "Vũ", "given": ["Quang", "Huy"]}]})
