"""What `/health/ready` checks: a registry of named checks, each result reused for a while so
that load balancers probing every second cost (almost) nothing.

Adding a check is one line where its subject is built:
`readiness.add("audit-spool", spool.health_check)`, the callable returning a `CheckResult`.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fhir_server.errors import ServiceUnavailable
from fhir_server.services.signers import SignerDirectory
from fhir_server.storage.database import Database
from signing.csc import CscError

# How long a primary may take to answer the readiness ping.
PING_TIMEOUT_SECONDS = 2.0
# How long the signing service may take to answer `info`, and how often it is asked.
SIGNER_TIMEOUT_SECONDS = 5.0
SIGNER_CHECK_SECONDS = 30.0


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: str


Check = Callable[[], Awaitable[CheckResult]]


class _CachedCheck:
    """One check, run by one caller at a time; others get its result while it is fresh."""

    def __init__(self, check: Check, ttl: float):
        self.check = check
        self.ttl = ttl
        self.result: CheckResult | None = None
        self.expires = 0.0
        self.lock = asyncio.Lock()

    async def run(self) -> CheckResult:
        async with self.lock:
            if self.result is None or time.monotonic() >= self.expires:
                try:
                    self.result = await self.check()
                except Exception as error:  # a broken check says "not ready", never 500
                    self.result = CheckResult(False, f"check failed: {type(error).__name__}")
                self.expires = time.monotonic() + self.ttl
            return self.result


class Readiness:
    """The named checks that must all pass for the server to take traffic."""

    def __init__(self) -> None:
        self._checks: dict[str, _CachedCheck] = {}

    def add(self, name: str, check: Check, ttl: float = 1.0) -> None:
        """Run `check` on readiness probes, at most once per `ttl` seconds."""
        self._checks[name] = _CachedCheck(check, ttl)

    async def run(self) -> dict[str, CheckResult]:
        """Every check's result (run concurrently), by name."""
        results = await asyncio.gather(*(check.run() for check in self._checks.values()))
        return dict(zip(self._checks, results, strict=True))


def database_check(database: Database) -> Check:
    """The MongoDB primary answers a ping."""

    async def check() -> CheckResult:
        try:
            await database.ping(PING_TIMEOUT_SECONDS)
        except ServiceUnavailable as error:
            return CheckResult(False, error.diagnostics)
        return CheckResult(True, "the primary answered a ping")

    return check


def signer_check(signers: SignerDirectory, sign_writes: bool) -> Check:
    """Writes can be signed: the organisation seal is configured and the remote signing
    service (if any) answers its CSC `info` method."""

    async def check() -> CheckResult:
        if not sign_writes:
            return CheckResult(True, "writes are not signed (FHIR_SIGN_WRITES=false)")
        if signers.seal is None:
            return CheckResult(False, "no organisation seal is configured (FHIR_SEAL_KEY)")
        if signers.remote is None:
            return CheckResult(False, "no remote signing service is configured (FHIR_CSC_URL)")
        try:
            await asyncio.wait_for(signers.remote.info(), SIGNER_TIMEOUT_SECONDS)
        except (CscError, TimeoutError) as error:
            reason = "no answer in time" if isinstance(error, TimeoutError) else error.error
            return CheckResult(False, f"the remote signing service does not answer: {reason}")
        return CheckResult(True, "seal configured, remote signing service answers")

    return check


def readiness_of(database: Database, signers: SignerDirectory, sign_writes: bool) -> Readiness:
    """The checks every server has; others (the audit spool) are added where they are built."""
    readiness = Readiness()
    readiness.add("mongodb", database_check(database))
    readiness.add("signer", signer_check(signers, sign_writes), ttl=SIGNER_CHECK_SECONDS)
    return readiness
