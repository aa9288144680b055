"""The demo data set loaded by `serve --dev` on first start."""

import logging
from importlib.resources import files
from pathlib import Path

from fhir_server.services.bundles import BundleProcessor
from fhir_server.services.loading import load_file
from fhir_server.storage.database import Database

log = logging.getLogger(__name__)
_LOADED_FLAG = "demo_data_loaded"


async def load_demo_data(database: Database, processor: BundleProcessor) -> bool:
    """Load the demo Bundle unless it was loaded before, or the data dir holds patients
    already (`fhir-server load` filled it: the demo's would mix with them); True when it
    was loaded now."""
    if await database.flag(_LOADED_FLAG):
        return False
    if await database.holds_any("Patient"):
        log.info("demo data not loaded: the database holds patients already")
        await database.set_flag(_LOADED_FLAG)
        return False
    demo_bundle = Path(str(files("examples") / "demo" / "demo-bundle.json"))
    report = await load_file(processor, demo_bundle, base="")
    if not report.ok:
        raise RuntimeError(f"demo data failed to load: {report.errors[:3]}")
    await database.set_flag(_LOADED_FLAG)
    log.info("demo data loaded: %s", dict(report.statuses))
    return True
