"""Fixtures of the Provenance tests: the module server's MongoDB database (to tamper with
stored versions) and clients of other persons."""

from collections.abc import Callable, Iterator

import httpx
import pymongo
import pytest
from security.helpers import fhir_client


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
