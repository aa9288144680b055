"""Opaque, tamper-evident paging cursors: the position JSON, encrypted and authenticated
(AES-GCM). Encrypted because a position holds the sort values of the last row (a family
name, a birth date), which a link must not show to the logs and proxies it passes; bound
to a `context` (the search it pages) so that a cursor pasted into another search is refused
rather than answered with a wrong page."""

import hashlib
import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fhir_server.errors import BadRequest
from signing.jws import b64url_decode, b64url_encode

_NONCE_BYTES = 12
#: Parameters that shape a page, not the rows it pages through.
_PAGE_SHAPE = frozenset({"_count", "_format", "_pretty"})


def paging_context(path: str, params: list[tuple[str, str]]) -> str:
    """What the cursors of a history's or an operation's pages belong to: its path (the
    instance, type or patient) and the parameters that choose its rows."""
    return json.dumps([path, sorted((n, v) for n, v in params if n not in _PAGE_SHAPE)])


class CursorCodec:
    def __init__(self, key: bytes):
        self._cipher = AESGCM(hashlib.sha256(b"fhir paging cursor\0" + key).digest())

    def encode(self, position: dict, context: str = "") -> str:
        payload = json.dumps(position, separators=(",", ":")).encode()
        nonce = os.urandom(_NONCE_BYTES)
        return b64url_encode(nonce + self._cipher.encrypt(nonce, payload, context.encode()))

    def decode(self, cursor: str, context: str = "") -> dict:
        try:
            sealed = b64url_decode(cursor)  # ValueError for another text of the same bytes
            payload = self._cipher.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:],
                                           context.encode())
            position = json.loads(payload)
            if isinstance(position, dict):
                return position
        except (ValueError, UnicodeDecodeError, InvalidTag):
            pass
        raise BadRequest("The paging cursor is invalid, was altered, or belongs to another "
                         "search", expression="_cursor")
