"""Which server runs on a data directory, and at what base URL: written by the server when it
has started, removed when it stops, so that `fhir-server token` mints for the server that is
actually running (its `aud` must be that server's base URL)."""

import json
import os
from pathlib import Path

_RECORD = "server.json"


def _path(data_dir: Path) -> Path:
    return Path(data_dir).resolve() / _RECORD


def record(data_dir: Path, base_url: str) -> None:
    path = _path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": os.getpid(), "base_url": base_url}), encoding="utf-8")


def clear(data_dir: Path) -> None:
    """Forget this process's record (another process's stays)."""
    path = _path(data_dir)
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def running_base_url(data_dir: Path) -> str | None:
    """The base URL of a live server process on `data_dir`, if one recorded it."""
    try:
        found = json.loads(_path(data_dir).read_text(encoding="utf-8"))
        os.kill(found["pid"], 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    base_url = found.get("base_url")
    return base_url if isinstance(base_url, str) else None
