"""Certificate chains stored once (README "Storage layout").

The JWS in a Provenance's `signature.data` carries its signer's certificate chain (`x5c`,
1-3 KB: most of the Provenance), the same in every signature one signer makes. What is
stored of such a signature names the chain instead, kept once in `signature_chains`, and
reads put it back byte for byte: a signature is stored in the short form only when that
gives back exactly the data sent, so the JWS still verifies and any copy of it is the same.
"""

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable

from pymongo.asynchronous.database import AsyncDatabase

from signing.jws import b64url_encode

# Not in the base64 alphabet: no `Signature.data` as sent contains it.
_MARK = "~"
_HOLE = b"\0"  # where the chain was in the header (no JSON text holds a raw NUL byte)
_X5C = re.compile(rb'"x5c"\s*:\s*(\[[^\]]*\])')
_CACHED_CHAINS = 10_000


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _short(data: str) -> tuple[str, bytes] | None:
    """(the short form, the chain it names) of a compact detached JWS's data whose header
    has an `x5c`; None for any other data."""
    try:
        compact = base64.b64decode(data, validate=True).decode("ascii")
        header_b64, payload, signature_b64 = compact.split(".")
        header = _b64url_decode(header_b64)
        header.decode()  # kept as text: a third smaller than its base64
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    match = _X5C.search(header)
    if payload or match is None or _HOLE in header:
        return None
    chain = match[1]
    without = header[: match.start(1)] + _HOLE + header[match.end(1) :]
    # The header last: its text may hold the separator.
    short = _MARK.join(("", _chain_id(chain), signature_b64, without.decode()))
    return (short, chain) if _restored(short, chain) == data else None


def _chain_id(chain: bytes) -> str:
    return hashlib.sha256(chain).hexdigest()[:32]


def _restored(short: str, chain: bytes) -> str:
    _, _, signature_b64, header_text = short.split(_MARK, 3)
    header = header_text.encode().replace(_HOLE, chain, 1)
    return base64.b64encode(f"{b64url_encode(header)}..{signature_b64}".encode("ascii")).decode()


def _with_data(signature: object) -> bool:
    return isinstance(signature, dict) and isinstance(signature.get("data"), str)


def _signatures(resource: object) -> list[dict]:
    """The signatures with data of a resource (Provenance.signature is a list)."""
    if not isinstance(resource, dict) or not isinstance(resource.get("signature"), list):
        return []
    return [signature for signature in resource["signature"] if _with_data(signature)]


class SignatureChains:
    """The `signature_chains` collection (`_id` chain id, `chain` the header's x5c JSON) and
    this process's cache of it."""

    def __init__(self, db: AsyncDatabase):
        self.collection = db["signature_chains"]
        self._known: dict[str, bytes] = {}

    def _remember(self, chain_id: str, chain: bytes) -> None:
        if len(self._known) >= _CACHED_CHAINS:
            del self._known[next(iter(self._known))]
        self._known[chain_id] = chain

    async def shorten(self, resource: dict | None) -> dict | None:
        """What to store of `resource`: itself, or a copy whose signatures name their chains.
        A new chain is stored at once, outside the caller's transaction: chains are
        immutable and named by their hash, so one left by an aborted write is harmless."""
        if not _signatures(resource):
            return resource
        assert resource is not None
        stored = []
        for signature in resource["signature"]:
            found = _short(signature["data"]) if _with_data(signature) else None
            if found is None:
                stored.append(signature)
                continue
            short, chain = found
            chain_id = short.split(_MARK)[1]
            if chain_id not in self._known:
                await self.collection.update_one(
                    {"_id": chain_id}, {"$setOnInsert": {"chain": chain}}, upsert=True
                )
                self._remember(chain_id, chain)
            stored.append({**signature, "data": short})
        return {**resource, "signature": stored}

    async def restore(self, documents: Iterable[dict]) -> None:
        """Put the chains back into the stored documents' signatures, in place."""
        shortened = [
            signature
            for document in documents
            for signature in _signatures(document.get("resource"))
            if signature["data"].startswith(_MARK)
        ]
        if not shortened:
            return
        wanted = {signature["data"].split(_MARK)[1] for signature in shortened} - self._known.keys()
        if wanted:
            async for found in self.collection.find({"_id": {"$in": list(wanted)}}):
                self._remember(found["_id"], found["chain"])
        for signature in shortened:
            chain = self._known.get(signature["data"].split(_MARK)[1])
            if chain is not None:  # else left short: the chain's document is gone
                signature["data"] = _restored(signature["data"], chain)
