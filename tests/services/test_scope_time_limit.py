"""A granular scope's search (`patient/Observation.rs?subject:Patient.name=...`) is compiled
as any search is, its chains' inner searches within the search time limit. One stopped for
time is a search that runs but not now: the request is 400 `too-costly`, as the search
itself would be, not 403 "none is a search this server can run on Observation", which told
the client its token could never read them; nor does the token endpoint refuse the scope."""

import time
import uuid

import pytest

from fhir_server.auth.scopes import parse_scope
from fhir_server.errors import TooCostly
from fhir_server.services.scope_searches import scope_filter, search_problem
from fhir_server.storage.database import Database

BASE = "http://127.0.0.1/fhir"
CHAINED = "subject:Patient.name=Lan"


@pytest.fixture(scope="module")
def database(mongo_uri, loop):
    db = Database(mongo_uri, f"scope_time_{uuid.uuid4().hex[:8]}", lambda kind: [])
    db.query_millis = 5
    yield db
    loop.run_until_complete(db.client.drop_database(db.db.name))
    loop.run_until_complete(db.close())


def _spent(database: Database):
    store = database.store()
    time.sleep(0.02)  # the 5 ms of its queries are spent
    return store


def test_a_scope_search_out_of_time_is_too_costly(database, loop):
    with pytest.raises(TooCostly):
        loop.run_until_complete(scope_filter(_spent(database), BASE, "Observation", [CHAINED]))


def test_a_scope_search_out_of_time_is_granted(database, loop):
    scope = parse_scope(f"patient/Observation.rs?{CHAINED}")
    assert scope is not None
    assert loop.run_until_complete(search_problem(_spent(database), BASE, scope)) is None


def test_a_scope_search_in_time_is_compiled(database, loop):
    store = database.store(timed=False)
    found = loop.run_until_complete(scope_filter(store, BASE, "Observation", [CHAINED]))
    assert found
