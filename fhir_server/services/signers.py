"""Who signs a write: the person's own certificate, held by a remote signing service (Cloud
Signature Consortium API v2: a Vietnamese CA or the VNeID signing gateway), or, for backend
clients and the server itself, the hospital's organisation seal."""

import time
from datetime import UTC, datetime

from cryptography import x509

from fhir_server.auth.tokens import Principal
from fhir_server.errors import ServiceUnavailable
from signing.csc import CscClient, CscError, RemoteSigner
from signing.keys import DigestSigner

# How long a person's certificate chain from the signing service is reused without asking
# (less when the certificate expires sooner).
CREDENTIAL_CACHE_SECONDS = 3600.0


class SignerDirectory:
    """The signer for each caller: persons sign remotely, everyone else under the seal."""

    def __init__(self, seal: DigestSigner | None, remote: CscClient | None,
                 anchors: list[x509.Certificate] | None = None):
        self.seal = seal
        self.remote = remote
        self.anchors = anchors  # a person's certificate must chain to one (None: any)
        self._credentials: dict[str, tuple[RemoteSigner, float]] = {}

    async def signer_for(self, principal: Principal | None) -> DigestSigner:
        if principal is None or principal.personal_id is None:
            if self.seal is None:
                raise ServiceUnavailable(
                    "No organisation seal is configured (FHIR_SEAL_KEY): writes by backend "
                    "clients and by the server cannot be signed"
                )
            return self.seal
        if self.remote is None:
            raise ServiceUnavailable(
                "No remote signing service is configured (FHIR_CSC_URL): writes by persons "
                "cannot be signed"
            )
        personal_id = principal.personal_id
        cached = self._credentials.get(personal_id)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        try:
            signer = await RemoteSigner.for_user(self.remote, personal_id, principal.name,
                                                 self.anchors)
        except CscError as error:
            raise ServiceUnavailable(
                f"The signing service gave no signing credential for the caller: {error}"
            ) from None
        # Not past the certificate's end: signatures made with it afterwards would fail.
        remaining = (signer.chain[0].not_valid_after_utc - datetime.now(UTC)).total_seconds()
        lifetime = min(CREDENTIAL_CACHE_SECONDS, remaining)
        self._credentials[personal_id] = (signer, time.monotonic() + lifetime)
        return signer
