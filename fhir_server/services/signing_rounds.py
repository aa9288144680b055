"""A person's signature is requested before the write's transaction, never inside it.

The remote signing service is on the network: inside a MongoDB transaction a slow answer
would hold the transaction open, and MongoDB's retries of the transaction callback could
sign twice. So the unit of work first runs to learn what to sign (the transaction is then
abandoned), the digests are signed outside it, and the unit runs again in a new transaction
that finds its signatures ready. The unit writes the same versions each time (its clock and
ids are fixed, `versions.repeatable_unit`); if another writer changed what it reads in
between, the digests differ and another round follows. Writers of the same resource take
turns from the signing on (`storage.write_turns`), so that they do not keep invalidating
each other's signatures.
"""

from collections.abc import Sequence

from cryptography import x509

from fhir_server.errors import ServiceUnavailable
from fhir_server.services.metrics import signing_latency
from signing.csc import CscError
from signing.keys import DigestSigner


class SignaturesNeeded(Exception):
    """Raised inside the transaction: these digests must be signed before it can commit."""

    def __init__(self, signer: "PresignedSigner", digests: list[bytes]):
        super().__init__(f"{len(digests)} signatures needed")
        self.signer = signer
        self.digests = digests


class PresignedSigner:
    """A DigestSigner that answers only with signatures fetched earlier, outside the
    transaction; asked for any other, it raises SignaturesNeeded."""

    def __init__(self, signer: DigestSigner):
        self.signer = signer
        self.alg: str = signer.alg
        self.kid: str = signer.kid
        self.chain: list[x509.Certificate] = signer.chain
        self._signed: dict[bytes, bytes] = {}

    async def sign_digests(self, digests: Sequence[bytes]) -> list[bytes]:
        missing = [digest for digest in digests if digest not in self._signed]
        if missing:
            raise SignaturesNeeded(self, missing)
        return [self._signed[digest] for digest in digests]

    async def fetch(self, digests: list[bytes]) -> None:
        """Sign `digests` with the real signer (one request to the signing service)."""
        try:
            with signing_latency("remote"):
                signatures = await self.signer.sign_digests(digests)
        except CscError as error:
            raise ServiceUnavailable(f"The signing service did not sign: {error}") from None
        if len(signatures) != len(digests):
            raise ValueError(f"the signer returned {len(signatures)} signatures for {len(digests)}")
        self._signed.update(zip(digests, signatures, strict=True))
