"""Opaque, tamper-evident paging cursors: base64url JSON plus an HMAC-SHA256 tag."""

import base64
import hashlib
import hmac
import json

from fhir_server.errors import BadRequest


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    def __init__(self, key: bytes):
        self._key = key

    def _tag(self, payload: bytes) -> str:
        return _b64(hmac.new(self._key, payload, hashlib.sha256).digest()[:16])

    def encode(self, position: dict) -> str:
        payload = json.dumps(position, separators=(",", ":")).encode()
        return f"{_b64(payload)}.{self._tag(payload)}"

    def decode(self, cursor: str) -> dict:
        try:
            body, tag = cursor.split(".")
            payload = _unb64(body)
            if hmac.compare_digest(tag, self._tag(payload)):
                position = json.loads(payload)
                if isinstance(position, dict):
                    return position
        except (ValueError, UnicodeDecodeError):
            pass
        raise BadRequest("The paging cursor is invalid or was altered", expression="_cursor")
