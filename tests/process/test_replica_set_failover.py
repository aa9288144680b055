"""Two `fhir-server serve` processes on one three-member replica set, its primary killed
(SIGKILL) during writes through both and a bulk export: every write a client was told
succeeded is there once with its content, the export completes, and both servers answer again
within the election time plus a few seconds."""

import itertools
import json
import threading
import time
from dataclasses import dataclass, field

import httpx
import process_issuer
import pytest
from api.helpers import unique_cccd
from pymongo import MongoClient
from pymongo.read_concern import ReadConcern
from replica_set import ReplicaSet, Server, server_environment, wait_until

from fhir_server.auth.keys import mint_token

CCCD = "http://fhir.hl7.org.vn/core/sid/cccd"
FHIR_JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
WRITERS_PER_SERVER = 2
# After the election, how long a server may take to find the new primary and answer writes.
RECOVERY_SLACK_SECONDS = 5.0


def _patient(cccd: str, marker: str, patient_id: str | None = None) -> dict:
    body = {"resourceType": "Patient", "identifier": [{"system": CCCD, "value": cccd}],
            "name": [{"family": "Phạm", "given": [marker]}], "gender": "female"}
    return body | ({"id": patient_id} if patient_id else {})


@dataclass
class Ledger:
    """What the clients were told: each acknowledged version with its content, when."""

    versions: dict[tuple[str, str], str] = field(default_factory=dict)  # (id, vid) → marker
    cccds: dict[str, str] = field(default_factory=dict)  # id → identifier value
    acks: list[tuple[float, float, int]] = field(default_factory=list)  # sent, answered, server
    refused: int = 0  # 503: no primary, so not acknowledged
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, server: int | None = None, sent_after: float = float("-inf")) -> int:
        with self.lock:
            return sum(1 for sent, _, s in self.acks
                       if sent > sent_after and server in (None, s))


def _write(base: str, server: int, writer: int, ledger: Ledger, stop: threading.Event) -> None:
    """Create a patient, update it, create the next ...; 503 (no primary) is allowed and
    means not written as far as the client knows."""
    mine: list[tuple[str, str]] = []  # (id, cccd)
    with httpx.Client(base_url=base, headers={**FHIR_JSON, **process_issuer.bearer()},
                      timeout=60) as http:
        for step in itertools.count():
            if stop.is_set():
                return
            marker = f"s{server}w{writer}n{step}"
            sent = time.monotonic()
            try:
                if step % 2 == 0 or not mine:
                    cccd = unique_cccd()
                    response, ok = http.post("/Patient", json=_patient(cccd, marker)), 201
                else:
                    patient_id, cccd = mine[-1]
                    response = http.put(f"/Patient/{patient_id}",
                                        json=_patient(cccd, marker, patient_id))
                    ok = 200
            except httpx.TransportError as error:
                with ledger.lock:
                    ledger.unexpected.append(f"{marker}: {error!r}")
                continue
            if response.status_code == 503 and response.headers.get("retry-after"):
                with ledger.lock:
                    ledger.refused += 1
                continue
            if response.status_code != ok:
                with ledger.lock:
                    ledger.unexpected.append(f"{marker}: {response.status_code} {response.text}")
                continue
            resource = response.json()
            patient_id, vid = resource["id"], resource["meta"]["versionId"]
            if ok == 201:
                mine.append((patient_id, cccd))
            with ledger.lock:
                ledger.versions[(patient_id, vid)] = marker
                ledger.cccds[patient_id] = cccd
                ledger.acks.append((sent, time.monotonic(), server))


def _new_primary(replica_set: ReplicaSet, killed: str) -> float:
    """Seconds until a surviving member is writable primary, polled every 0.1 s."""
    survivors = [MongoClient(host, directConnection=True, serverSelectionTimeoutMS=500)
                 for host in replica_set.hosts if host != killed]
    started = time.monotonic()
    try:
        wait_until(lambda: any(replica_set.is_primary(client) for client in survivors), 60,
                   "a new primary")
    finally:
        for client in survivors:
            client.close()
    return time.monotonic() - started


def _export_manifest(status_url: str, headers: dict) -> dict:
    deadline = time.monotonic() + 90
    while True:
        response = httpx.get(status_url, headers={**headers, "Accept": "application/json"},
                             timeout=60)
        if response.status_code not in (202, 503):
            assert response.status_code == 200, response.text
            return response.json()
        assert time.monotonic() < deadline, "the export did not complete"
        time.sleep(0.5)


def _exported_ids(manifest: dict, headers: dict) -> list[str]:
    ids = []
    for item in manifest["output"]:
        response = httpx.get(item["url"], headers={**headers, "Accept": "application/fhir+ndjson"},
                             timeout=60)
        assert response.status_code == 200, response.text
        lines = [json.loads(line) for line in response.text.splitlines()]
        assert len(lines) == item["count"], item
        ids += [line["id"] for line in lines]
    return ids


@pytest.fixture
def replica_set(tmp_path):
    members = ReplicaSet(tmp_path / "replica-set")
    try:
        members.initiate()
        yield members
    finally:
        members.stop()


@pytest.mark.slow
def test_primary_killed_during_writes_and_export(replica_set, signing_service, tmp_path):
    env = server_environment(replica_set.uri, signing_service)
    # Both share the data directory, as servers on several hosts share a volume for exports.
    servers = [Server(tmp_path, tmp_path / "data", env) for _ in range(2)]
    ledger, stop = Ledger(), threading.Event()
    writers: list[threading.Thread] = []
    try:
        for server in servers:
            wait_until(server.ready, 90, f"server {server.base} ready", interval=0.2)
        writers = [threading.Thread(target=_write, args=(server.base, n, w, ledger, stop))
                   for n, server in enumerate(servers) for w in range(WRITERS_PER_SERVER)]
        for writer in writers:
            writer.start()
        wait_until(lambda: min(ledger.count(0), ledger.count(1)) >= 15, 60, "writes")

        system = {"Authorization": "Bearer " + mint_token(
            process_issuer.KEY, process_issuer.ISSUER, process_issuer.AUDIENCE,
            "001085012345", "system/*.rs", 3600)}
        with ledger.lock:
            created_before_export = {patient_id for patient_id, _ in ledger.versions}
        kick_off = httpx.get(f"{servers[0].base}/$export", params={"_type": "Patient"},
                             headers={**system, "Accept": FHIR_JSON["Accept"],
                                      "Prefer": "respond-async"}, timeout=60)
        assert kick_off.status_code == 202, kick_off.text
        # Polled through the other server: jobs and files are shared.
        status_url = kick_off.headers["content-location"].replace(servers[0].base,
                                                                  servers[1].base)

        with MongoClient(replica_set.uri, serverSelectionTimeoutMS=10_000) as client:
            primary = replica_set.primary(client)
        assert primary is not None
        # The export is still running when its database loses the primary.
        assert httpx.get(status_url, headers=system, timeout=60).status_code == 202
        killed_at = time.monotonic()
        replica_set.kill(primary)
        election = _new_primary(replica_set, primary)

        # Both servers write again, with requests sent after the kill.
        wait_until(lambda: all(ledger.count(n, killed_at) >= 10 for n in range(2)), 60,
                   "writes through both servers after the failover")
        stop.set()
        for writer in writers:
            writer.join(90)
        with ledger.lock:
            recovered = [min(answered for sent, answered, s in ledger.acks
                             if s == n and sent > killed_at) - killed_at for n in range(2)]
        print(f"\nelection {election:.1f} s; first write answered after the kill: "
              f"{recovered[0]:.1f} s and {recovered[1]:.1f} s; {len(ledger.versions)} "
              f"acknowledged writes of {len(ledger.cccds)} patients, {ledger.refused} "
              "refused with 503")
        assert ledger.unexpected == []
        assert max(recovered) <= election + RECOVERY_SLACK_SECONDS, (election, recovered)
        for server in servers:  # its readiness is re-checked each second
            wait_until(server.ready, 5, f"{server.base} ready again", interval=0.2)

        manifest = _export_manifest(status_url, system)
        exported = _exported_ids(manifest, system)
        assert len(exported) == len(set(exported))
        assert created_before_export <= set(exported)

        _assert_each_acknowledged_write_once(replica_set.uri, servers, ledger)
    finally:
        stop.set()
        for writer in writers:
            writer.join(90)
        for server in servers:
            server.kill()


def _assert_each_acknowledged_write_once(uri: str, servers: list[Server], ledger: Ledger) -> None:
    """Majority-committed in MongoDB (one current document per patient, one history
    document per version), and read back through either server with the content sent."""
    with MongoClient(uri) as client:
        db = client.get_database("failover", read_concern=ReadConcern("majority"))
        for patient_id, cccd in ledger.cccds.items():
            assert db["Patient"].count_documents({"resource.identifier.value": cccd}) == 1
            assert db["Patient"].count_documents({"_id": patient_id}) == 1
        for patient_id, vid in ledger.versions:
            assert db["Patient_history"].count_documents(
                {"id": patient_id, "vid": int(vid)}) == 1
    headers = {**FHIR_JSON, **process_issuer.bearer()}
    with httpx.Client(headers=headers, timeout=60) as http:
        for number, ((patient_id, vid), marker) in enumerate(sorted(ledger.versions.items())):
            base = servers[number % 2].base
            response = http.get(f"{base}/Patient/{patient_id}/_history/{vid}")
            assert response.status_code == 200, (patient_id, vid, response.text)
            assert response.json()["name"][0]["given"] == [marker]
