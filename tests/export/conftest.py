"""Export tests run on the usual module server (tests/conftest.py), whose export workers here
poll, checkpoint and split files quickly: the settings come as FHIR_EXPORT_* environment
variables while the module's server starts, so every other setting stays as it is."""

import os
from collections.abc import Iterator

import pytest

# Small batches and files, so that a few resources already make several checkpoints and files.
FAST_EXPORTS = {
    "export_poll_seconds": 0.05,
    "export_settle_seconds": 0.0,
    "export_heartbeat_seconds": 0.5,
    "export_lease_seconds": 5,
    "export_batch_bytes": 4096,
    "export_file_max_bytes": 16384,
    "export_max_jobs": 1000,
}


@pytest.fixture(scope="module")
def export_settings() -> dict:
    """Export settings of the module's server on top of FAST_EXPORTS (override per module)."""
    return {}


@pytest.fixture(scope="module", autouse=True)
def export_environment(export_settings) -> Iterator[None]:
    values = {f"FHIR_{name.upper()}": str(value)
              for name, value in {**FAST_EXPORTS, **export_settings}.items()}
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
