"""The application: create_app(settings) and the lifespan that owns MongoDB and services."""

import asyncio
import logging
import secrets
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import Depends, FastAPI

from fhir_server import audit_drainer, running_server
from fhir_server.api import export, health, public, resources, system
from fhir_server.api.audit import install_audit
from fhir_server.api.cors import install_cors
from fhir_server.api.dates import install_date_header
from fhir_server.api.dependencies import negotiate
from fhir_server.api.dev_csc import start_dev_csc
from fhir_server.api.direct_routes import install_direct_routes
from fhir_server.api.errors import install_error_handlers
from fhir_server.api.limits import install_request_limits
from fhir_server.api.media import utf8_url
from fhir_server.api.metrics import install_metrics
from fhir_server.api.operations import DESCRIPTORS
from fhir_server.api.operations import routes as operations
from fhir_server.api.security import authenticate, install_security_headers
from fhir_server.api.trailing_slash import install_trailing_slash
from fhir_server.auth.keys import SigningKey
from fhir_server.auth.personal_id import mask_personal_ids
from fhir_server.collector import collector_tuned_for_serving
from fhir_server.conformance import definitions
from fhir_server.conformance.capability import compartment_definitions
from fhir_server.conformance.packages import installation_directory
from fhir_server.embedded_mongo import EmbeddedMongo
from fhir_server.search.index import index_plan, use_timezone
from fhir_server.services.audit import AuditTrail
from fhir_server.services.authentication import Authenticator
from fhir_server.services.bundles import BundleProcessor
from fhir_server.services.conformance_policy import ConformancePolicy
from fhir_server.services.cursors import CursorCodec
from fhir_server.services.demo import load_demo_data
from fhir_server.services.dev_signing import DevSigningService, development_directory
from fhir_server.services.export import ExportService
from fhir_server.services.health import readiness_of
from fhir_server.services.launch_patient import PersonalRecords
from fhir_server.services.offloading import share_the_interpreter_often
from fhir_server.services.package_publication import publish_packages
from fhir_server.services.provenance import Hospital, ProvenanceRecorder
from fhir_server.services.reindex import reindex_if_stale
from fhir_server.services.resources import ResourceService
from fhir_server.services.search import ResponseLimits
from fhir_server.services.signers import SignerDirectory
from fhir_server.services.token_service import TokenService
from fhir_server.services.verification import SignatureVerifier
from fhir_server.settings import Settings
from fhir_server.storage.clients import ClientStore
from fhir_server.storage.database import Database
from fhir_server.storage.query_time import milliseconds
from fhir_server.storage.session_ledger import (
    SESSIONS_DIRECTORY,
    SessionLedger,
    release_forever,
)
from signing.certificates import load_trust_anchors, organization_id_of
from signing.csc import CscClient
from signing.keys import LocalSigner

log = logging.getLogger("fhir_server")


@asynccontextmanager
async def lifespan(app: FastAPI):
    settings: Settings = app.state.settings
    share_the_interpreter_often()
    # The registry first: every cache derived from it (search parameters, structure trees,
    # expansions, the CapabilityStatement) must see the installed packages.
    definitions.load(installation_directory(settings.packages, settings.data_dir))
    embedded = None
    uri = settings.mongodb_uri
    if uri is None:
        embedded = EmbeddedMongo(settings.data_dir)
        uri = await asyncio.to_thread(embedded.start)
        log.info("embedded mongod started at %s (files in %s)", uri, embedded.db_path)
    try:
        async with services_for(settings.model_copy(update={"mongodb_uri": uri})) as (
            service,
            processor,
        ):
            app.state.service = service
            app.state.bundles = processor
            await _start_security(app, settings, service.database)
            if settings.dev:
                await load_demo_data(service.database, processor)
            # Resources indexed under older definitions are re-indexed in the background;
            # the work is resumable, so stopping half way loses nothing. Of several processes
            # serving the data dir, only the primary does it (and the rest done once).
            primary = running_server.claim_primary(settings.data_dir)
            reindexing = (asyncio.create_task(_reindex_stale(service))
                          if primary else None)
            publishing = (
                asyncio.create_task(publish_packages(
                    service.database, processor, definitions.registry().packages,
                    core={operation.definition for operation in DESCRIPTORS}
                    | set(compartment_definitions())))
                if settings.publish_packages and primary else None
            )
            # The primary starts the audit drainer; every process spools (and stands by).
            drainer = (audit_drainer.Drainer(settings.model_copy(update={"mongodb_uri": uri}))
                       if primary and settings.audit_drain_process else None)
            app.state.audit.start()
            app.state.exports = ExportService(service.database, settings)
            await app.state.exports.start()  # the bulk export workers
            if settings.base_url and primary:
                running_server.record(settings.data_dir, settings.base_url,
                                      settings.required_profiles)
            app.state.readiness = readiness_of(service.database, service.provenance.signers,
                                               settings.sign_writes)
            app.state.readiness.add("audit-spool", app.state.audit.spool_check)
            # Our own mongod is restarted when it dies; meanwhile requests get 503 at once.
            # (A worker of `serve --workers N` hears of its parent's mongod.)
            # Transactions and write turns a dead server process left hold what it wrote.
            releasing = asyncio.create_task(release_forever(
                settings.data_dir / SESSIONS_DIRECTORY, service.database.client,
                service.database.write_turns.release_of))
            watchdog = asyncio.create_task(
                embedded.supervise(service.database.report_outage) if embedded is not None
                else running_server.follow_outages(settings.data_dir,
                                                   service.database.report_outage))
            try:
                with collector_tuned_for_serving():
                    yield
            finally:
                watchdog.cancel()
                releasing.cancel()
                running_server.clear(settings.data_dir)
                if reindexing is not None:
                    reindexing.cancel()
                if publishing is not None:
                    publishing.cancel()
                await app.state.exports.stop()
                await app.state.audit.stop()
                if drainer is not None:  # its last drain takes what this one spooled
                    await drainer.stop()
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


async def _start_security(app: FastAPI, settings: Settings, database: Database) -> None:
    """Token verification, the token endpoint and the audit trail. The key this server signs
    access tokens with is shared through MongoDB by every server process."""
    pem = await database.server_setting("token_signing_key", lambda: SigningKey.generate().pem())
    server_key = SigningKey.from_pem(pem)
    app.state.authenticator = Authenticator(settings, server_key)
    clients = ClientStore(database.db)
    await clients.prepare()
    app.state.tokens = TokenService(clients, database, server_key,
                                  settings.access_token_lifetime)
    app.state.audit = AuditTrail(database, settings.data_dir,
                                 standby=settings.audit_drain_process)
    app.state.personal_records = PersonalRecords(database)


async def _reindex_stale(service: ResourceService) -> None:
    counts = await reindex_if_stale(service.database, service.index_currency)
    if any(counts.values()):
        log.info("re-indexed resources with stale search entries: %s", counts)


@asynccontextmanager
async def services_for(settings: Settings):
    """The resource service and bundle processor on the configured MongoDB."""
    if settings.mongodb_uri is None:
        raise ValueError("services_for needs settings.mongodb_uri")
    definitions.load(installation_directory(settings.packages, settings.data_dir))
    use_timezone(settings.timezone)  # before anything is indexed or searched
    database = Database(settings.mongodb_uri, settings.database, index_plan,
                        settings.mongodb_server_selection_timeout)
    database.ledger = SessionLedger(settings.data_dir / SESSIONS_DIRECTORY)
    database.query_millis = milliseconds(settings.search_time_limit_seconds)
    try:
        async with provenance_recorder(settings) as recorder:
            await database.prepare()
            cursor_key = await database.server_setting(
                "cursor_key", lambda: secrets.token_bytes(32)
            )
            service = ResourceService(
                database,
                CursorCodec(cursor_key),
                settings.default_page_size,
                settings.max_page_size,
                recorder,
                ConformancePolicy.configured(settings.required_profiles),
                ResponseLimits(settings.max_response_resources, settings.max_include_iterations,
                               settings.max_response_bytes),
            )
            yield service, BundleProcessor(service, settings.max_bundle_entries,
                                           settings.max_json_depth,
                                           settings.max_batch_response_resources,
                                           settings.max_response_bytes,
                                           settings.max_parameters,
                                           settings.max_parameter_repeats)
    finally:
        await database.close()


@asynccontextmanager
async def provenance_recorder(settings: Settings):
    """Signers and trust anchors. With --dev, a development CA in DATA_DIR/dev-ca gives the
    seal, and (without FHIR_CSC_URL) a local CSC service there signs for persons."""
    anchors = load_trust_anchors(settings.trust_anchors)
    development = None
    if settings.dev:
        development = DevSigningService(development_directory(settings.data_dir))
    seal = _seal(settings, development)
    csc_url, csc_token, development_csc = settings.csc_url, settings.csc_token, None
    if development is not None:
        anchors += load_trust_anchors([development.anchor_path])
        if csc_url is None:
            csc_token = development.token()
            development_csc = await start_dev_csc(development, csc_token)
            csc_url = development_csc.url
    missing = [
        name for name, value in (("FHIR_SEAL_KEY", seal), ("FHIR_CSC_URL", csc_url)) if not value
    ]
    if not settings.sign_writes:
        log.warning("FHIR_SIGN_WRITES is false: writes get no signed Provenance")
    elif missing:
        # Unsigned writes are never stored: those this setting would sign are refused (503).
        log.warning("no signer configured (%s): such writes will be refused", ", ".join(missing))
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            remote = CscClient(csc_url, http, csc_token) if csc_url else None
            hospital = Hospital(settings.organization_name, settings.organization_tax_code)
            yield ProvenanceRecorder(
                SignerDirectory(seal, remote, anchors),
                SignatureVerifier(anchors),
                hospital,
                settings.sign_writes,
            )
    finally:
        if development_csc is not None:
            await development_csc.stop()


def signing_problem(settings: Settings) -> str | None:
    """Why the configured trust anchors or seal cannot be used, in one line naming the
    setting, or None: found only once the server had started, it was a traceback."""
    try:
        load_trust_anchors(settings.trust_anchors)
    except (OSError, ValueError) as error:
        return f"FHIR_TRUST_ANCHORS: {error}"
    if settings.seal_key is None:
        return None
    try:
        _seal(settings, None)
    except (OSError, ValueError, TypeError) as error:
        return f"FHIR_SEAL_KEY: {error}"
    return None


def _seal(settings: Settings, development: DevSigningService | None) -> LocalSigner | None:
    """The organisation seal from FHIR_SEAL_KEY, else the development one, else None."""
    if settings.seal_key is None:
        if development is None:
            return None
        return development.seal_signer(settings.organization_name, settings.organization_tax_code)
    data = settings.seal_key.read_bytes()
    password = settings.seal_password.encode() if settings.seal_password else None
    if settings.seal_key.suffix.lower() in (".p12", ".pfx"):
        seal = LocalSigner.from_pkcs12(data, password)
    elif settings.seal_certificates is None:
        raise ValueError("FHIR_SEAL_CERTIFICATES is needed with a PEM seal key")
    else:
        seal = LocalSigner.from_pem(data, settings.seal_certificates.read_bytes(), password)
    if organization_id_of(seal.chain[0]) != settings.organization_tax_code:
        raise ValueError(
            f"the seal certificate does not name UID=MST:{settings.organization_tax_code} "
            "(FHIR_ORGANIZATION_TAX_CODE)"
        )
    return seal


def _mask_personal_ids_in_logs() -> None:
    """Every log record, ours and the libraries' (uvicorn's access log shows query strings),
    has 12-digit personal IDs masked before any handler sees it."""
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "masks_personal_ids", False):
        return
    logging.setLogRecordFactory(_MaskedRecordFactory(make_record))


class _MaskedRecordFactory:
    """A log record factory around `make_record` whose records have personal IDs masked."""

    masks_personal_ids = True

    def __init__(self, make_record: Callable[..., logging.LogRecord]):
        self.make_record = make_record

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.make_record(*args, **kwargs)
        # Arguments stay arguments: formatters such as uvicorn's access log unpack them.
        if isinstance(record.msg, str):
            record.msg = mask_personal_ids(record.msg)
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_personal_ids(
                logging.Formatter().formatException(record.exc_info)
            )
        if isinstance(record.args, tuple):
            record.args = tuple(
                mask_personal_ids(a) if isinstance(a, str) else a for a in record.args
            )
        return record


def create_app(settings: Settings | None = None, dated: bool = False) -> FastAPI:
    """The app; `dated`: it sends each response's `Date` itself, the server must not
    (uvicorn's `date_header=False`, as `fhir-server serve` runs it)."""
    app = FastAPI(
        title="FHIR R4 exchange server",
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
        dependencies=[Depends(utf8_url)],  # before authentication: a malformed URL is 400
        redirect_slashes=False,  # trailing_slash.py instead
    )
    app.state.settings = settings or Settings()
    _mask_personal_ids_in_logs()
    install_error_handlers(app)
    install_audit(app)
    install_security_headers(app)
    # Added last, so it runs first: before authentication and the audit trail.
    install_request_limits(app)
    install_cors(app)  # a preflight is answered before the limits, and counts for none
    install_metrics(app)  # around even the limits: refused requests are measured too
    install_trailing_slash(app)  # first: every layer sees the one path
    if dated:
        install_date_header(app)
    negotiated = [Depends(negotiate)]
    app.include_router(health.router)  # outside /fhir: no token, no AuditEvent
    # Not negotiated as FHIR: SMART discovery, the JWKS and the token endpoint answer JSON
    # whatever the Accept header (SMART conformance.html); /metadata negotiates itself.
    app.include_router(public.router, prefix="/fhir")
    # Bulk export first: `Patient/$export` is no read. Its files are NDJSON, not negotiated.
    app.include_router(export.router, prefix="/fhir", dependencies=[Depends(authenticate)])
    authenticated = [Depends(authenticate), *negotiated]
    app.include_router(system.router, prefix="/fhir", dependencies=authenticated)
    # Operations before the interactions: `Patient/$everything` is no read.
    app.include_router(operations.router, prefix="/fhir", dependencies=[Depends(authenticate)])
    app.include_router(resources.router, prefix="/fhir", dependencies=authenticated)
    install_direct_routes(app)
    return app
