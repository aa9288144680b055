"""Output files expire FHIR_EXPORT_RETENTION_SECONDS after the export, as the `Expires`
header says: then the status and the files are 404, and the files are removed."""

import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import pytest
from bulk_helpers import create, download, patient, started, wait

RETENTION = 2


@pytest.fixture(scope="module")
def export_settings() -> dict:
    return {"export_retention_seconds": RETENTION}


def test_files_expire(client, server):
    create(client, patient())
    status = started(client, params={"_type": "Patient"})
    response = wait(client, status)
    assert response.status_code == 200
    expires = parsedate_to_datetime(response.headers["expires"])
    assert 0 < (expires - datetime.now(UTC)).total_seconds() <= RETENTION + 1
    url = response.json()["output"][0]["url"]
    assert download(client, url)
    directory = server.settings.data_dir / "exports" / status.rsplit("/", 1)[1]
    assert directory.is_dir()
    time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 1.1)
    assert client.get(status).status_code == 404
    assert client.get(url).status_code == 404
    deadline = time.monotonic() + 2 * RETENTION + 2
    while directory.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not directory.exists()
