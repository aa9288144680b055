"""Server settings, read from FHIR_* environment variables."""

import ipaddress
import json
import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The instant `serve` started, given to its worker processes: each publishes it as the date
# of the CapabilityStatement, so that all serve one statement (one ETag), also a worker
# started later to replace another.
STARTED_AT_VARIABLE = "FHIR_SERVER_STARTED_AT"
# FHIR_LOG_LEVEL, read before the settings (commands log from their start): the levels both
# Python's logging and uvicorn's take.
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")


def log_level() -> str | None:
    """FHIR_LOG_LEVEL in capitals (`info` as `INFO`), None when it names no level."""
    level = os.environ.get("FHIR_LOG_LEVEL", "INFO").strip().upper()
    return level if level in LOG_LEVELS else None


# Settings checked against one defined before them: that one, how they must compare, and
# what goes wrong otherwise.
_ORDER = {
    "max_page_size": ("default_page_size", "at least", "the page size of a search that gives "
                      "no _count"),
    "export_heartbeat_seconds": ("export_lease_seconds", "below", "another worker would take "
                                 "over a job still running"),
}


class Settings(BaseSettings):
    """Every setting can be given as an environment variable FHIR_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="FHIR_", extra="ignore")

    mongodb_uri: str | None = Field(
        None, description="MongoDB URI (replica set). Unset: start the embedded mongod."
    )
    mongodb_server_selection_timeout: float = Field(
        5.0,
        gt=0,
        description="Seconds a request waits for a reachable MongoDB primary before it gets "
        "503 with Retry-After (also the connect timeout).",
    )
    database: str = Field("fhir", description="MongoDB database name.")
    data_dir: Path = Field(Path(".fhir-data"), description="Directory for server-owned files.")
    packages: Path | None = Field(
        None,
        description="Directory of installed FHIR packages (.tgz or unpacked), read at start "
        "besides the shipped ones (`fhir-server package install`). Unset: DATA_DIR/packages.",
    )
    base_url: str | None = Field(
        None, description="Public FHIR base URL, and the audience tokens must name. "
        "`serve`: http://HOST:PORT/fhir (a wildcard HOST: this machine's name)."
    )
    dev: bool = Field(False, description="Development mode: demo data, local issuers.")
    required_profiles: dict[str, list[str]] = Field(
        default_factory=dict,
        description="JSON object: resource type -> profile canonicals every write of that "
        'type must conform to (422 otherwise), e.g. {"Patient": '
        '["http://fhir.ehealth.gov.vn/core/StructureDefinition/vn-core-patient"]}.',
    )
    publish_packages: bool = Field(
        True,
        description="Store the definitions of the installed packages as resources (in the "
        "background after start-up), so that clients can read and search them.",
    )
    timezone: str = Field(
        "Asia/Ho_Chi_Minh",
        description="The server's local time zone (IANA name): dates and times without a "
        "timezone, stored or searched, are read in it (R4 search: \"the servers local time "
        "zone should be assumed\"). Changing it re-indexes the stored dates at the next start.",
    )
    max_body_bytes: int = Field(
        16 * 1024 * 1024, gt=0, description="Largest request body (413)."
    )
    max_json_depth: int = Field(64, gt=0, description="Deepest JSON nesting accepted in a body.")
    max_bundle_entries: int = Field(
        5000, gt=0, description="Most entries in one batch/transaction."
    )
    default_page_size: int = Field(50, gt=0, description="_count when the client gives none.")
    max_page_size: int = Field(1000, gt=0, description="Largest _count honoured.")
    max_token_body_bytes: int = Field(
        16 * 1024, gt=0, description="Largest body of the token endpoint (400 invalid_request)."
    )
    max_search_form_bytes: int = Field(
        64 * 1024, gt=0, description="Largest form body of `POST [type]/_search` (413)."
    )
    max_array_elements: int = Field(
        10_000, gt=0, description="Most elements of one JSON array in a request body (413)."
    )
    max_parameters: int = Field(
        200, gt=0, description="Most parameters in a query string or a search form body (400)."
    )
    max_parameter_repeats: int = Field(
        100, gt=0, description="Most occurrences of one parameter name in a request (400)."
    )
    max_response_resources: int = Field(
        2000, gt=0,
        description="Most resources in one search page, matches and _include/_revinclude "
        "together; the rest of the included ones are left out, with a warning in the Bundle.",
    )
    max_batch_response_resources: int = Field(
        10_000, gt=0,
        description="Most resources the read entries of one batch or transaction answer with "
        "together; an entry beyond is 413 in its entry (a transaction: 413).",
    )
    max_response_bytes: int = Field(
        32 * 2**20, gt=0,
        description="Most bytes of resources (their stored size) one search page holds, and "
        "the read entries of one batch or transaction answer with together: a page ends "
        "early (its next link goes on from there) and leaves further included ones out, with "
        "a warning; a batch entry beyond is 413 in its entry (a transaction: 413). One "
        "resource is answered whatever its size.",
    )
    max_include_iterations: int = Field(
        3, ge=0, description="Rounds of _include:iterate / _revinclude:iterate after the first."
    )
    search_time_limit_seconds: float = Field(
        30, ge=0,
        description="Time the MongoDB queries of one search (or history or $everything page, "
        "or batch entry) may take together (its matches, the inner searches of chains and "
        "_has, includes, its count; each sent with what is "
        "left as maxTimeMS), then the query is stopped and the request is 400 too-costly; "
        "0: no limit.",
    )
    body_timeout_seconds: float = Field(
        60, gt=0,
        description="A request body not received in full this long after it started: 408.",
    )
    header_timeout_seconds: float = Field(
        30, gt=0,
        description="`fhir-server serve`: a client that has not sent a request's line and "
        "headers this long after it began is disconnected (408).",
    )
    response_stall_seconds: float = Field(
        60, gt=0,
        description="`fhir-server serve`: a client that has taken in nothing of a response "
        "this long (the send buffer stayed full) is disconnected.",
    )
    max_connections: int = Field(
        4096, gt=0,
        description="Connections (and requests in progress) one server process holds at once; "
        "beyond, a new connection is answered 503 and closed, rather than the process running "
        "out of file descriptors and resetting everyone's.",
    )
    keep_alive_seconds: int = Field(
        5, ge=0,
        description="`fhir-server serve`: idle keep-alive connections are closed after this.",
    )
    rate_limit_per_address_per_minute: int = Field(
        6000, ge=0,
        description="Requests per minute per client address to /fhir before authentication "
        "(429); 0: no limit.",
    )
    rate_limit_address_burst: int = Field(
        1000, gt=0, description="Requests one client address may send at once before that limit."
    )
    rate_limit_max_addresses: int = Field(
        100_000, gt=0, description="Client addresses the rate limit tracks at most (memory bound)."
    )
    metrics: Literal["off", "public"] = Field(
        "off",
        description="Prometheus metrics: off, or public (GET /metrics on the server's port, "
        "outside /fhir, without a token: expose it only to the monitoring network).",
    )
    trusted_issuers: list[dict] = Field(
        [],
        description="JSON list of token issuers to trust: "
        '[{"issuer": URL, "jwks_uri": URL | "jwks_file": PATH | "jwks": {...}, '
        '"id_claim": "sub" or e.g. "SoDinhDanh"}].',
    )
    audiences: list[str] = Field(
        [], description="Accepted token audiences besides the base URL (JSON list)."
    )
    access_token_lifetime: int = Field(
        300, gt=0, description="Seconds a backend-services access token is valid (at most 3600; "
        "SMART Backend Services recommends 300, and no token is revoked before it expires)."
    )
    rate_limit_per_minute: int = Field(
        1200, ge=0, description="Requests per minute per person or client before 429; 0: no limit."
    )
    cors_origins: list[str] = Field(
        [],
        description="JSON list of the origins whose browser apps may call the API (CORS, "
        'which FHIR asks servers to support), e.g. ["https://ehr.benhvien.vn"]; ["*"] for '
        "any. Empty: no CORS headers.",
    )
    trusted_proxies: list[str] = Field(
        [],
        description="JSON list of IP addresses or CIDR networks of reverse proxies whose "
        "X-Forwarded-For header names the client address (audit, rate limits); from any "
        'other peer the header is ignored, e.g. ["10.0.0.0/8", "127.0.0.1"].',
    )
    audit_drain_process: bool = Field(
        True,
        description="Store the audit spool's AuditEvents in MongoDB from a process of its own, "
        "which the primary server process starts (false: the server processes do it).",
    )
    export_file_max_bytes: int = Field(
        256 * 1024 * 1024, gt=0, description="Bulk export: output files are split at this size."
    )
    export_retention_seconds: int = Field(
        24 * 3600, ge=0, description="Bulk export: seconds output files are kept after the export."
    )
    export_batch_bytes: int = Field(
        4 * 1024 * 1024, gt=0,
        description="Bulk export: NDJSON bytes a worker writes between progress checkpoints.",
    )
    export_lease_seconds: float = Field(
        60, gt=0,
        description="Bulk export: a worker's claim on a job lapses unless renewed this often.",
    )
    export_heartbeat_seconds: float = Field(
        10, gt=0, description="Bulk export: how often a worker renews its claim (below the lease)."
    )
    export_poll_seconds: float = Field(
        2, gt=0, description="Bulk export: how often an idle worker looks for queued jobs."
    )
    export_settle_seconds: float = Field(
        1, ge=0, description="Bulk export: wait after transactionTime for writes still committing."
    )
    export_workers: int = Field(
        1, ge=0, description="Bulk export: jobs this process works on at once (0: none)."
    )
    export_max_jobs: int = Field(
        5, gt=0, description="Bulk export: unfinished jobs per client before kick-offs get 429."
    )
    organization_name: str = Field(
        "Bệnh viện", description="The hospital this server acts for (audit source, signing)."
    )
    organization_tax_code: str = Field(
        "0100000000",
        description="The hospital's tax code (mã số thuế): Provenance.agent.onBehalfOf, and the "
        "UID=MST:<code> its seal certificate must carry.",
    )
    csc_url: str | None = Field(
        None,
        description="Cloud Signature Consortium API v2 base URL of the service that signs for "
        "persons (…/csc/v2). Unset with --dev: a local development signing service.",
    )
    csc_token: str | None = Field(None, description="Bearer token for the CSC API.")
    seal_key: Path | None = Field(
        None, description="Organisation seal: PEM private key or PKCS#12 (.p12/.pfx) file."
    )
    seal_certificates: Path | None = Field(
        None, description="PEM certificate chain of the seal, leaf first (with a PEM key)."
    )
    seal_password: str | None = Field(None, description="Password of the seal key file.")
    sign_writes: bool = Field(
        True,
        description="Write a signed Provenance with every write. false: none (benchmarks of "
        "the cost of signing only; the records are then not attributable).",
    )
    trust_anchors: list[Path] = Field(
        [],
        description="JSON list of PEM files of CA certificates that signatures must chain to "
        "(the national root CA); with --dev the development root is added.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ValueError, KeyError, OSError) as error:  # ZoneInfoNotFoundError: a KeyError
            raise ValueError(f"not a time zone the time zone database holds: {name!r} "
                             "(an IANA name such as Asia/Ho_Chi_Minh or UTC)") from error
        return name

    @field_validator("base_url")
    @classmethod
    def _uri(cls, url: str | None) -> str | None:
        """A URI, ASCII, as the Location and Content-Location headers that carry it are (RFC
        9110 §5.5, RFC 3986): a Vietnamese host (`https://bệnhviện.vn/fhir`) made every
        create, update and transaction a 500, after the write was stored."""
        if url is None or url.isascii():
            return url
        raise ValueError(f"{url!r} is no URI: write it in ASCII, the host in IDNA form and "
                         f"the path percent-encoded ({_ascii_form(url)})")

    @field_validator("base_url", "csc_url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        """An absolute http(s) URL: a base such as `fhir.benhvien.vn/fhir` made every
        `Location` and `fullUrl` relative, and tokens' audience unmatchable."""
        if url is None:
            return url
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is no absolute http or https URL")
        return url

    @field_validator(*_ORDER)
    @classmethod
    def _in_order(cls, value: float, info: ValidationInfo) -> float:
        other, relation, why = _ORDER[str(info.field_name)]
        bound = info.data.get(other)
        if bound is not None and (value < bound if relation == "at least" else value >= bound):
            raise ValueError(f"{value} is not {relation} FHIR_{other.upper()} ({bound}): {why}")
        return value

    @field_validator("data_dir", "packages")
    @classmethod
    def _directory(cls, path: Path | None, info: ValidationInfo) -> Path | None:
        """A directory, or one that can be made: a data dir there was a traceback of the
        first command that wrote to it (`serve`: after the packages had loaded); FHIR_PACKAGES
        a file was read as no package installed (it may be read-only)."""
        given = " (--data-dir or FHIR_DATA_DIR)" if info.field_name == "data_dir" else ""
        existing = next((p for p in (path, *path.absolute().parents) if p.exists()),
                        None) if path is not None else None
        if existing is not None and not existing.is_dir():
            raise ValueError(f"{path} is no directory, nor can one be made there: {existing} "
                             f"is a file{given}")
        if given and existing is not None and not os.access(existing, os.W_OK | os.X_OK):
            raise ValueError(f"{path}: {existing} is a directory this user cannot write to"
                             f"{given}")
        return path

    @field_validator("database")
    @classmethod
    def _database_name(cls, name: str) -> str:
        """A name MongoDB takes: it refused one only once the server started (a traceback)."""
        if not name or len(name.encode()) >= 64 or any(c in name for c in '/\\. "$\0'):
            raise ValueError(f"{name!r} is no MongoDB database name (1 to 63 bytes, none of "
                             '/\\. "$)')
        return name

    @field_validator("seal_key", "seal_certificates", "trust_anchors", "trusted_issuers")
    @classmethod
    def _usable(cls, value: Path | list | None, info: ValidationInfo) -> Path | list | None:
        """Files there to read; issuers whose keys can be had."""
        for each in value if isinstance(value, list) else [value] if value is not None else []:
            if info.field_name == "trusted_issuers":
                _check_issuer(each)
            else:
                _readable_file(each)
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, proxies: list[str]) -> list[str]:
        for proxy in proxies:
            try:
                ipaddress.ip_network(proxy.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{proxy!r} is no IP address or CIDR network") from None
        return proxies


_ISSUER_KEYS = ("jwks_uri", "jwks_file", "jwks")


def _check_issuer(entry: Any) -> None:
    """An issuer entry the server can use: it stopped start-up with a traceback otherwise."""
    name = entry.get("issuer") if isinstance(entry, dict) else None
    if not isinstance(name, str) or not name:
        raise ValueError(f"{json.dumps(entry)[:200]} names no `issuer`")
    if unknown := set(entry) - {"issuer", "id_claim", "issues_client_tokens", *_ISSUER_KEYS}:
        raise ValueError(f"issuer {name}: unknown {', '.join(sorted(unknown))} (it takes "
                         "issuer, jwks_uri or jwks_file or jwks, id_claim, "
                         "issues_client_tokens)")
    if sum(key in entry for key in _ISSUER_KEYS) != 1:
        raise ValueError(f"issuer {name}: give exactly one of jwks_uri, jwks_file, jwks")
    if "jwks_uri" in entry:
        if not isinstance(uri := entry["jwks_uri"], str) or not uri.startswith(("http://",
                                                                                 "https://")):
            raise ValueError(f"issuer {name}: jwks_uri {uri!r} is no http(s) URL")
        return
    jwks = entry.get("jwks")
    if "jwks_file" in entry:
        _readable_file(path := Path(entry["jwks_file"]))
        try:
            jwks = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as error:
            raise ValueError(f"issuer {name}: jwks_file {path} is no JSON: {error}") from None
    # Found only by the first request with a token, it made every such request a 500.
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise ValueError(f"issuer {name}: its JWKS is no JSON object with a 'keys' array")


def _readable_file(path: Path) -> None:
    if not path.is_file() or not os.access(path, os.R_OK):
        raise ValueError(f"{path} is no readable file")


def _ascii_form(url: str) -> str:
    """The URI of an IRI: `https://bệnhviện.vn/fhir` is `https://xn--bnhvin-...vn/fhir`."""
    parts = urlsplit(url)
    try:
        host = (parts.hostname or "").encode("idna").decode("ascii")
    except UnicodeError:
        return "its host as IDNA gives it"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, quote(parts.path, safe="/%:@!$&'()*+,;=~"),
                       quote(parts.query, safe="=&%/:?"), ""))
