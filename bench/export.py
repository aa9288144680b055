"""Bulk export benchmark: a seeded data set of synthetic Vietnamese patients, encounters and
documents exported with `$export` through the HTTP API (kick-off, status polling until the
manifest is ready) next to a raw PyMongo cursor dump of the same collections to NDJSON files,
in the same run on the same mongod.

    python bench/export.py                      # 1,000,000 resources
    python bench/export.py --resources 20000    # a quick run
    python bench/export.py --keep               # keep the data; reruns skip seeding

Prints for each the seconds, resources/second, MB/s of NDJSON and the peak resident memory
(VmHWM) of the process doing the work: the server process (with its RSS before the export),
and the process running the raw dump.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pymongo import MongoClient

# The raw dump runs in a process of its own that imports no more than it needs (its peak
# memory is measured): the server's modules are imported where used.
KEEP_DIR = Path(tempfile.gettempdir()) / "fhir-bench-search"  # as bench/search.py
TYPES = ("Patient", "Encounter", "DocumentReference")
KICK_OFF = {"Accept": "application/fhir+json", "Prefer": "respond-async"}
MB = 1024 * 1024


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in bytes (Linux /proc)."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0]) * 1024
    return found


def raw_dump(uri: str, name: str, directory: Path) -> dict:
    """The baseline, in its own process: every live current version of the types, from one
    plain cursor per collection, as NDJSON lines (one file per type)."""
    started, count, size = time.perf_counter(), 0, 0
    with MongoClient(uri) as client:
        for kind in TYPES:
            with (directory / f"{kind}.ndjson").open("wb") as out:
                for document in client[name][kind].find({"deleted": False}, {"resource": 1}):
                    line = json.dumps(document["resource"], ensure_ascii=False,
                                      separators=(",", ":")).encode() + b"\n"
                    out.write(line)
                    count += 1
                    size += len(line)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "count": count, "bytes": size,
            "peak": memory(os.getpid())["VmHWM"]}


def run_raw(uri: str, name: str) -> dict:
    directory = Path(tempfile.mkdtemp(prefix="export-raw-"))
    try:
        output = subprocess.run(
            [sys.executable, __file__, "--raw-dump", uri, name, str(directory)],
            check=True, capture_output=True, text=True).stdout
        return json.loads(output.strip().splitlines()[-1])
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def server_export(base: str, pid: int, data_dir: Path) -> dict:
    """Kick off a system export of the types and poll until the manifest is ready; the line
    counts of the files are checked against the manifest."""
    import httpx
    from bench_server import bearer

    before = memory(pid)["VmRSS"]
    headers = {**bearer(), "Accept": "application/json"}
    with httpx.Client(timeout=300) as http:
        started = time.perf_counter()
        response = http.get(f"{base}/$export", params={"_type": ",".join(TYPES)},
                            headers={**KICK_OFF, **bearer()})
        response.raise_for_status()
        status, peak_rss = response.headers["content-location"], before
        while (response := http.get(status, headers=headers)).status_code == 202:
            peak_rss = max(peak_rss, memory(pid)["VmRSS"])
            time.sleep(0.2)
        seconds = time.perf_counter() - started
        response.raise_for_status()
        manifest = response.json()
    job = status.rsplit("/", 1)[1]
    count, size = 0, 0
    for item in manifest["output"]:
        path = data_dir / "exports" / job / item["url"].rsplit("/", 1)[1]
        lines = _count_lines(path)
        if lines != item["count"]:
            raise RuntimeError(f"{path}: {lines} lines, manifest says {item['count']}")
        count, size = count + lines, size + path.stat().st_size
    with httpx.Client(timeout=60) as http:
        http.delete(status, headers=bearer())
    return {"seconds": seconds, "count": count, "bytes": size, "before": before,
            "peak": max(peak_rss, memory(pid)["VmHWM"]), "files": len(manifest["output"])}


def _count_lines(path: Path) -> int:
    lines = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
    return lines


def report(total: int, server: dict, raw: dict) -> None:
    if server["count"] != total or raw["count"] != total:
        raise RuntimeError(f"exported {server['count']:,}, dumped {raw['count']:,}, "
                           f"seeded {total:,}")
    print(f"\n{total:,} resources, {server['bytes'] / MB:,.0f} MB of NDJSON "
          f"({server['files']} files from the server)\n"
          f"{'':<24}{'seconds':>9}{'resources/s':>13}{'MB/s':>8}{'peak RSS MB':>13}")
    for label, row in (("server $export (HTTP)", server), ("raw PyMongo dump", raw)):
        print(f"{label:<24}{row['seconds']:>9.1f}{row['count'] / row['seconds']:>13,.0f}"
              f"{row['bytes'] / MB / row['seconds']:>8.1f}{row['peak'] / MB:>13,.0f}")
    print(f"server RSS before the export: {server['before'] / MB:,.0f} MB; "
          f"time ratio server / raw: {server['seconds'] / raw['seconds']:.2f}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resources", type=int, default=1_000_000,
                        help="patients 1/8, encounters 5/8, documents 2/8 of it")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mongodb-uri", default=os.environ.get("FHIR_MONGODB_URI"))
    parser.add_argument("--keep", action="store_true", help="keep the database (embedded: in "
                        f"{KEEP_DIR}) and reuse it if already seeded at this size")
    parser.add_argument("--raw-dump", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.resources < 8 and not args.raw_dump:
        parser.error("--resources must be at least 8")
    return args


def main() -> None:
    args = parse_args()
    if args.raw_dump:
        uri, name, directory = args.raw_dump
        print(json.dumps(raw_dump(uri, name, Path(directory))))
        return
    from bench_server import running_server
    from search import seeded_mongo

    patients, documents = args.resources // 8, args.resources // 4
    sizes = (patients, args.resources - patients - documents, documents)
    name = "bench_search_{}_{}_{}_{}".format(*sizes, args.seed)  # shared with bench/search.py
    data_dir = Path(tempfile.mkdtemp(prefix="export-bench-"))
    with seeded_mongo(args, name, sizes) as uri:
        with MongoClient(uri) as client:
            total = sum(client[name][kind].count_documents({"deleted": False}) for kind in TYPES)
        raw = run_raw(uri, name)
        os.environ.update({"FHIR_DATA_DIR": str(data_dir), "FHIR_EXPORT_SETTLE_SECONDS": "0",
                           "FHIR_EXPORT_POLL_SECONDS": "0.2"})
        try:
            with running_server(uri, name, sign_writes=False) as (server, base):
                report(total, server_export(base, server.pid, data_dir), raw)
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
