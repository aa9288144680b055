"""Shared fixtures: one real mongod per test session, one server (and database) per module.

Tests talk to the server over real HTTP (uvicorn on a loopback port) with httpx.
"""

import asyncio
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from hypothesis import settings as hypothesis_settings
from pymongo import MongoClient

from fhir_server.api.dev_csc import create_dev_csc_app
from fhir_server.auth.keys import SigningKey, mint_token
from fhir_server.embedded_mongo import EmbeddedMongo
from fhir_server.main import create_app
from fhir_server.services.dev_signing import DevSigningService
from fhir_server.settings import Settings

# Hypothesis checks what an input does, not how fast: its default 200 ms deadline per example
# failed tests on a loaded CI machine (speed is measured by bench/, on purpose).
hypothesis_settings.register_profile("no-deadline", deadline=None)
hypothesis_settings.load_profile("no-deadline")


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory) -> Iterator[str]:
    mongo = EmbeddedMongo(tmp_path_factory.mktemp("mongo-data"))
    yield mongo.start()
    mongo.stop()


@pytest.fixture(scope="module")
def loop():
    """One event loop per module, for tests below the HTTP API: the async MongoDB client is
    bound to the loop it ran on."""
    running = asyncio.new_event_loop()
    yield running
    running.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ThreadedServer:
    """A uvicorn server in a background thread on a free loopback port, serving `app()`."""

    def __init__(self):
        self.port = _free_port()

    def start(self, app, lifespan: str, date_header: bool = True) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan=lifespan, proxy_headers=False,
                                date_header=date_header)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{type(self).__name__} did not start")
            time.sleep(0.02)

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(30)


class RunningServer(ThreadedServer):
    """The FHIR server: create_app(settings)."""

    def __init__(self, settings: Settings):
        super().__init__()
        # As `fhir-server serve` does: the server knows its own name, whatever Host says.
        self.settings = settings.model_copy(
            update={"base_url": settings.base_url or f"http://127.0.0.1:{self.port}/fhir"}
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    def __enter__(self) -> "RunningServer":
        # As `fhir-server serve` runs it: the app dates its responses.
        self.start(create_app(self.settings, dated=True), lifespan="on", date_header=False)
        return self


def database_name(request) -> str:
    """A database of its own for the fixture or test asking, dropped when that ends: mongod
    keeps a file open per collection and index, and the suite's thousands of databases
    exhausted its 20,000 descriptors (every later connection was refused)."""
    module = re.sub(r"\W", "_", request.module.__name__.rsplit(".", 1)[-1])
    name = f"t_{module[:40]}_{uuid.uuid4().hex[:8]}"
    uri = request.getfixturevalue("mongo_uri")

    def drop() -> None:
        with MongoClient(uri) as client:
            client.drop_database(name)

    request.addfinalizer(drop)  # after the fixture's own teardown: its server has stopped
    return name


# A stand-in for a VNeID broker: the servers under test trust it.
TEST_ISSUER = "https://vneid-broker.test"
TEST_AUDIENCE = "urn:fhir-exchange-server:tests"
TEST_PERSON = "001085012345"  # Hà Nội, male, born 1985


class Issuer:
    """Mints tokens the test servers accept (and, with other arguments, ones they refuse)."""

    def __init__(self):
        self.key = SigningKey.generate()

    def trusted(self) -> dict:
        return {"issuer": TEST_ISSUER, "jwks": self.key.public_jwks()}

    def token(self, scope: str = "user/*.cruds", subject: str = TEST_PERSON,
              audience: str = TEST_AUDIENCE, lifetime: int = 3600, **extra) -> str:
        return mint_token(self.key, TEST_ISSUER, audience, subject, scope, lifetime,
                          name="Nguyễn Văn An", extra=extra or None)


@pytest.fixture(scope="session")
def issuer() -> Issuer:
    return Issuer()


def test_settings(mongo_uri: str, database: str, data_dir, issuer: Issuer,
                  signing: "SigningService", **extra) -> Settings:
    """Settings of a test server: its own database, the test issuer trusted, persons signing
    through the development CSC service and clients under its seal, no rate limit in the way
    of fast test loops, no package definitions stored in the background, the audit spool
    drained in the server's own process (each has tests of its own)."""
    return Settings(mongodb_uri=mongo_uri, database=database, data_dir=data_dir,
                    trusted_issuers=[issuer.trusted()], audiences=[TEST_AUDIENCE],
                    rate_limit_per_minute=10**7, csc_url=signing.url, csc_token=signing.token,
                    seal_key=signing.seal_key_path, seal_certificates=signing.seal_chain_path,
                    trust_anchors=[signing.anchor_path], organization_name=SEAL_NAME,
                    organization_tax_code=SEAL_TAX_CODE,
                    **{"publish_packages": False, "rate_limit_per_address_per_minute": 0,
                       "audit_drain_process": False,
                       **extra})


@pytest.fixture(scope="module")
def server(mongo_uri, request, tmp_path_factory, issuer,
           signing_service) -> Iterator[RunningServer]:
    settings = test_settings(mongo_uri, database_name(request),
                             tmp_path_factory.mktemp("data"), issuer, signing_service)
    with RunningServer(settings) as running:
        yield running


@pytest.fixture(scope="module")
def client(server, issuer) -> Iterator[httpx.Client]:
    """A client with a token that may do everything (`user/*.cruds`)."""
    headers = {"Accept": "application/fhir+json", "Authorization": f"Bearer {issuer.token()}"}
    with httpx.Client(base_url=server.base, timeout=60, headers=headers) as http:
        yield http


# The hospital whose organisation seal signs the writes of backend clients in tests.
SEAL_NAME = "Bệnh viện Đa khoa Demo"
SEAL_TAX_CODE = "0100000000"


class SigningService(ThreadedServer):
    """The development CSC signing service over real HTTP: `url` (API root, ends /csc/v2),
    `token`, `anchor_path` (root CA PEM), the seal's `seal_key_path` and `seal_chain_path`
    (leaf first), and the `service` itself."""

    seal_name = SEAL_NAME
    seal_tax_code = SEAL_TAX_CODE

    def __init__(self, directory):
        super().__init__()
        self.service = DevSigningService(directory)
        self.token = self.service.token()
        self.service.seal_signer(SEAL_NAME, SEAL_TAX_CODE)
        self.anchor_path = self.service.anchor_path
        self.seal_key_path = self.service.seal_key_path
        self.seal_chain_path = self.service.seal_chain_path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/csc/v2"

    def __enter__(self) -> "SigningService":
        self.start(create_dev_csc_app(self.service, self.token), lifespan="off")
        return self


@pytest.fixture(scope="session")
def signing_service(tmp_path_factory) -> Iterator[SigningService]:
    with SigningService(tmp_path_factory.mktemp("dev-signing")) as running:
        yield running
