"""Whether a configured MongoDB can be used, asked once before a command starts: a wrong URI
or a cluster that is down is then one line, not a traceback of the application's start-up."""

from pymongo import MongoClient
from pymongo.errors import ConfigurationError, PyMongoError
from pymongo.uri_parser import parse_uri


class MongoUnreachable(Exception):
    """The configured MongoDB cannot be used (the message says why)."""


def check_reachable(uri: str, timeout: float = 5) -> None:
    """Raise MongoUnreachable unless a primary at `uri` answers a ping within `timeout`
    seconds (FHIR_MONGODB_SERVER_SELECTION_TIMEOUT, as the server's requests wait)."""
    timeout_ms = max(1, round(timeout * 1000))
    try:
        hosts = ", ".join(f"{host}:{port}" for host, port in parse_uri(uri)["nodelist"])
        client: MongoClient = MongoClient(uri, serverSelectionTimeoutMS=timeout_ms,
                                          connectTimeoutMS=timeout_ms)
    except (ConfigurationError, ValueError) as error:
        raise MongoUnreachable(f"not a usable MongoDB URI: {error}") from None
    try:
        client.admin.command("ping")
    except PyMongoError as error:
        # The first part names the cause; the rest is the driver's topology description.
        cause = str(error).partition(", Timeout:")[0].partition(" (configured timeouts")[0]
        raise MongoUnreachable(
            f"no MongoDB primary at {hosts} answered within {timeout:g} s: {cause}"
        ) from None
    finally:
        client.close()
