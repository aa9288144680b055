"""The state of token buckets in a table of fixed size that the server processes of one data
directory share: a memory map of `DATA_DIR/rate-limits/<name>-<slots>`, read and changed
under a file lock, so that a limit holds for the server, not for each worker process.
Without a path the table is this process's own memory.

A slot is (key digest, tokens, time of the last take) on the system-wide monotonic clock; a
key has a few slots it may use, and a new key takes one that is free, or else the one of
those used least recently.
"""

import contextlib
import fcntl
import hashlib
import mmap
import os
import struct
from collections.abc import Iterator
from pathlib import Path

_SLOT = struct.Struct("<16sdd")
_FREE = bytes(16)
_PROBES = 8


def _digest(key: str) -> bytes:
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    return digest if digest != _FREE else b"\1" + digest[1:]


class BucketTable:
    def __init__(self, slots: int, path: Path | None = None):
        self.slots = max(1, slots)
        size = self.slots * _SLOT.size
        self._fd: int | None = None
        if path is None:
            self._map = mmap.mmap(-1, size)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        # Named for its size: a process configured for another size (one started before a
        # settings change) keeps its own table, never one resized under its memory map.
        sized = path.with_name(f"{path.name}-{self.slots}")
        self._fd = os.open(sized, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        with self.locked():
            if os.fstat(self._fd).st_size != size:  # new (or torn by a crash): zeroed
                os.ftruncate(self._fd, 0)
                os.ftruncate(self._fd, size)
            self._map = mmap.mmap(self._fd, size)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the table for one read-and-change (other processes wait)."""
        if self._fd is None:
            yield
            return
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _places(self, digest: bytes) -> list[int]:
        start = int.from_bytes(digest[:8], "little") % self.slots
        return [(start + step) % self.slots for step in range(min(_PROBES, self.slots))]

    def _read(self, index: int) -> tuple[bytes, float, float]:
        return _SLOT.unpack_from(self._map, index * _SLOT.size)

    def slot(self, key: str) -> tuple[int, bytes, tuple[float, float] | None]:
        """Where `key`'s bucket is or goes (its slot, a free one, or the least recently used
        of those it may take), its digest, and its (tokens, time of the last take) if it
        has one; call it locked, then `write`."""
        digest = _digest(key)
        chosen, oldest = 0, float("inf")
        for index in self._places(digest):
            found, tokens, since = self._read(index)
            if found == digest:
                return index, digest, (tokens, since)
            if found == _FREE:
                return index, digest, None
            if since < oldest:
                chosen, oldest = index, since
        return chosen, digest, None

    def write(self, index: int, digest: bytes, tokens: float, since: float) -> None:
        _SLOT.pack_into(self._map, index * _SLOT.size, digest, tokens, since)

    def used_since(self, moment: float) -> int:
        """How many slots were used after `moment`."""
        return sum(1 for index in range(self.slots)
                   if (slot := self._read(index))[0] != _FREE and slot[2] > moment)
