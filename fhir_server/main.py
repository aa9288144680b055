"""The application: create_app(settings) and the lifespan that owns MongoDB and services."""

import asyncio
import logging
import secrets
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from fhir_server.api import resources, system
from fhir_server.api.dependencies import negotiate
from fhir_server.api.errors import install_error_handlers
from fhir_server.conformance.registry import RESOURCE_TYPES
from fhir_server.embedded_mongo import EmbeddedMongo
from fhir_server.search.index import index_keys
from fhir_server.services.bundles import BundleProcessor
from fhir_server.services.cursors import CursorCodec
from fhir_server.services.demo import load_demo_data
from fhir_server.services.reindex import reindex
from fhir_server.services.resources import ResourceService
from fhir_server.settings import Settings
from fhir_server.storage.database import Database

log = logging.getLogger("fhir_server")


@asynccontextmanager
async def lifespan(app: FastAPI):
    settings: Settings = app.state.settings
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
            if settings.dev:
                await load_demo_data(service.database, processor)
            # Resources indexed under older definitions are re-indexed in the background;
            # the work is resumable, so stopping half way loses nothing.
            reindexing = asyncio.create_task(_reindex_stale(service.database))
            try:
                yield
            finally:
                reindexing.cancel()
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


async def _reindex_stale(database: Database) -> None:
    counts = await reindex(database)
    if any(counts.values()):
        log.info("re-indexed resources with stale search entries: %s", counts)


@asynccontextmanager
async def services_for(settings: Settings):
    """The resource service and bundle processor on the configured MongoDB."""
    plan = {kind: index_keys(kind) for kind in RESOURCE_TYPES}
    database = Database(settings.mongodb_uri, settings.database, plan)
    try:
        await database.prepare()
        cursor_key = await database.server_setting("cursor_key", lambda: secrets.token_bytes(32))
        service = ResourceService(
            database, CursorCodec(cursor_key), settings.default_page_size, settings.max_page_size
        )
        yield service, BundleProcessor(service, settings.max_bundle_entries)
    finally:
        await database.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    app = FastAPI(
        title="FHIR R4 exchange server",
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.settings = settings or Settings()
    install_error_handlers(app)
    negotiated = [Depends(negotiate)]
    app.include_router(system.router, prefix="/fhir", dependencies=negotiated)
    app.include_router(resources.router, prefix="/fhir", dependencies=negotiated)
    return app
