"""The development banner (`serve --dev`: the base URL, a token, curl lines) is printed once
the server answers, not as it starts: the demo data and the definitions take seconds to
load, and a curl copied from a banner printed before then met a refused connection."""

import http.client
import threading
import time

# How often, and for how long at most, the server is asked whether it answers.
POLL_SECONDS = 0.2
GIVE_UP_SECONDS = 600.0


def print_when_answering(host: str, port: int, banner: str, token: str) -> threading.Thread:
    """Print `banner` (from a daemon thread) as soon as this server answers on `host`:`port`:
    a search with the banner's `token` is 200; nothing if none comes in GIVE_UP_SECONDS.
    Another server holding the port (this one then fails to bind) takes no token of ours
    (401): whatever it answers, no banner."""
    thread = threading.Thread(target=_print_when_answering,
                              args=(_local(host), port, banner, token),
                              name="ready-banner", daemon=True)
    thread.start()
    return thread


def _print_when_answering(host: str, port: int, banner: str, token: str) -> None:
    deadline = time.monotonic() + GIVE_UP_SECONDS
    while time.monotonic() < deadline:
        if _answers(host, port, token):
            print(banner, flush=True)
            return
        time.sleep(POLL_SECONDS)


def _answers(host: str, port: int, token: str) -> bool:
    connection = http.client.HTTPConnection(host, port, timeout=5)
    try:
        connection.request("GET", "/fhir/Patient?_count=0", headers={
            "Accept": "application/fhir+json", "Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        response.read()
        return response.status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def _local(host: str) -> str:
    """The address to reach a server bound to `host` from this machine: the loopback one
    for all addresses."""
    return {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
