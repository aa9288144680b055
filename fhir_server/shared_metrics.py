"""Where the server processes of one `serve` keep their metrics (prometheus-client's
multiprocess mode: https://prometheus.github.io/client_python/multiprocess/). Settled before
any module that defines a metric is imported: those open their files there."""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def directory_problem() -> str | None:
    """Why the operator's PROMETHEUS_MULTIPROC_DIR cannot be used, if it cannot."""
    chosen = os.environ.get(_VARIABLE)
    if chosen is not None and not Path(chosen).is_dir():
        return (f"{_VARIABLE}: {chosen} is no directory (make it, empty, before the server "
                "starts)")
    return None


def share_between_workers() -> None:
    """Each scrape reaches one of several workers: their metrics are summed from files they
    share, in a new directory of this serve's own, removed when it stops (a counter went
    backwards between scrapes answered by two workers). One the operator chose stays."""
    if _VARIABLE in os.environ:
        return
    shared = tempfile.mkdtemp(prefix="fhir-metrics-")
    os.environ[_VARIABLE] = shared  # the workers inherit it
    atexit.register(shutil.rmtree, shared, True)
