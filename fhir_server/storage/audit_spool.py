"""The local audit spool: AuditEvents as JSON lines in append-only segment files under
DATA_DIR/audit-spool/, so that no event waits in memory for MongoDB.

Each server process appends to segments of its own (`<start ns>-<pid>.jsonl`, holding an
exclusive `flock` while it writes them) and starts a new one when it starts and every
SEGMENT_BYTES. One process at a time (the holder of `drainer.lock`) drains every segment:
`pending()` reads the records after the drained offset of each, `commit()` moves the offsets
on (in `drained.json`, replaced atomically) and deletes segments that are fully drained and
no longer written. An offset lost or stale only means records are read again, so the reader
must store them idempotently (the events carry their ids).
"""

import contextlib
import fcntl
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

log = logging.getLogger(__name__)

SEGMENT_BYTES = 4 * 1024 * 1024
_SUFFIX = ".jsonl"
_OFFSETS = "drained.json"


@dataclass
class SpoolBatch:
    """Records (JSON objects with an `id`) read from the spool, and the offsets to commit
    once they are stored."""

    records: list[dict] = field(default_factory=list)
    offsets: dict[str, int] = field(default_factory=dict)  # segment name → drained up to
    undrained_bytes: int = 0  # in every segment, from its drained offset to its end


def _lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class AuditSpool:
    def __init__(self, directory: Path, segment_bytes: int = SEGMENT_BYTES):
        self.directory = directory
        self.segment_bytes = segment_bytes
        self._fd: int | None = None
        self._size = 0
        self._unsynced: list[int] = []  # descriptors written since their last fsync
        self._retired: list[int] = []  # rotated segments, closed after their next fsync
        self._mutex = threading.Lock()  # `sync` runs in a worker thread
        self._drainer_fd: int | None = None

    # ------------------------------------------------------------------ writing

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._rotate()

    def _rotate(self) -> None:
        """A new segment (never appending to one a killed process may have left torn)."""
        name = f"{time.time_ns():020d}-{os.getpid()}{_SUFFIX}"
        # Locked before it gets its name: the drainer deletes drained segments nobody holds.
        unnamed = self.directory / f".{name}.new"
        fd = os.open(unnamed, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.rename(unnamed, self.directory / name)
        except OSError:  # e.g. a full disk: the current segment stays, nothing is left open
            os.close(fd)
            unnamed.unlink(missing_ok=True)
            raise
        with self._mutex:
            if self._fd is not None:
                self._retired.append(self._fd)
            self._fd, self._size = fd, 0
            self._unsynced.append(fd)
        self._sync_directory()

    def append(self, record: dict) -> None:
        """One record as one write(): in the OS page cache when this returns (a killed
        process loses nothing), on disk at the next `sync`."""
        if self._fd is None:
            raise RuntimeError("the audit spool is not open")
        line = orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
        try:
            written = os.write(self._fd, line)
            while written < len(line):  # a short write (a full disk raises OSError instead)
                written += os.write(self._fd, line[written:])
        except OSError:
            # Part of the line may be written: cut it off, or the next record would be
            # appended to it and both read as one unreadable line.
            os.ftruncate(self._fd, self._size)
            raise
        self._size += len(line)
        with self._mutex:
            if self._fd not in self._unsynced:
                self._unsynced.append(self._fd)
        if self._size >= self.segment_bytes:
            try:
                self._rotate()
            except OSError as error:  # the record is written; the next append rotates again
                log.warning("audit spool segment rotation failed: %s", error)

    @property
    def dirty(self) -> bool:
        return bool(self._unsynced)

    def sync(self) -> None:
        """fsync what was appended since the last sync; blocking (run it in a thread)."""
        with self._mutex:
            descriptors, self._unsynced = self._unsynced, []
            retired, self._retired = self._retired, []
        pending = list(dict.fromkeys([*descriptors, *retired]))
        for done, fd in enumerate(pending):
            try:
                os.fsync(fd)
            except OSError:  # what is left is synced (and closed) next time
                with self._mutex:
                    self._unsynced += [d for d in pending[done:] if d not in self._unsynced]
                    self._retired += [d for d in pending[done:] if d in retired]
                raise
            if fd in retired:
                os.close(fd)  # unlocks it: the drainer may delete it once drained

    def close(self) -> None:
        """fsync and close the segments; give up draining."""
        if self._fd is not None:
            with self._mutex:
                self._retired.append(self._fd)
                self._unsynced.append(self._fd)
                self._fd = None
            self.sync()
        self.resign()

    def _sync_directory(self) -> None:
        """New and deleted segment names must survive a power loss too."""
        fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # ------------------------------------------------------------------ draining

    def become_drainer(self) -> bool:
        """True if this process drains the spool (it holds `drainer.lock`)."""
        if self._drainer_fd is None:
            fd = os.open(self.directory / "drainer.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                         0o600)
            if not _lock(fd):
                os.close(fd)
                return False
            self._drainer_fd = fd
        return True

    def resign(self) -> None:
        """Let another process drain the spool."""
        if self._drainer_fd is not None:
            os.close(self._drainer_fd)
            self._drainer_fd = None

    def _segments(self) -> list[Path]:
        return sorted(self.directory.glob(f"*{_SUFFIX}"))

    def _offsets(self) -> dict[str, int]:
        try:
            return json.loads((self.directory / _OFFSETS).read_text())
        except (FileNotFoundError, ValueError):  # unsynced after a power loss: read again
            return {}

    def pending(self, limit: int) -> SpoolBatch:
        """Up to `limit` records not yet drained, oldest segment first."""
        batch = SpoolBatch()
        offsets = self._offsets()
        for segment in self._segments():
            start = offsets.get(segment.name, 0)
            size = segment.stat().st_size
            batch.undrained_bytes += size - start
            if len(batch.records) >= limit or size <= start:
                continue
            with segment.open("rb") as file:
                file.seek(start)
                end = start
                for line in file:
                    if not line.endswith(b"\n"):
                        end += self._torn(segment, line)
                        break
                    end += len(line)
                    self._parse(segment, line, batch.records)
                    if len(batch.records) >= limit:
                        break
            if end > start:
                batch.offsets[segment.name] = end
        return batch

    def oldest_pending(self) -> dict | None:
        """The first record not yet drained, for a process that does not drain to see how
        long events wait (quietly: an unreadable record is the drainer's to report)."""
        offsets = self._offsets()
        for segment in self._segments():
            try:
                with segment.open("rb") as file:
                    file.seek(offsets.get(segment.name, 0))
                    line = file.readline()
            except FileNotFoundError:  # drained and deleted meanwhile
                continue
            with contextlib.suppress(orjson.JSONDecodeError):
                record = orjson.loads(line) if line.endswith(b"\n") else None
                if isinstance(record, dict):
                    return record
        return None

    def last_commit(self) -> float | None:
        """When records were last drained (`time.time()`), if ever."""
        try:
            return (self.directory / _OFFSETS).stat().st_mtime
        except FileNotFoundError:
            return None

    def undrained_bytes(self) -> int:
        """Bytes in every segment after its drained offset (for monitoring; blocking)."""
        offsets, total = self._offsets(), 0
        for segment in self._segments():
            with contextlib.suppress(FileNotFoundError):  # drained and deleted meanwhile
                total += max(0, segment.stat().st_size - offsets.get(segment.name, 0))
        return total

    def _torn(self, segment: Path, line: bytes) -> int:
        """A last line without its newline: being written now, or cut by a power loss
        (a segment nobody writes any more): then it is skipped."""
        if self._written_now(segment):
            return 0
        log.error("audit spool %s ends in %d bytes of an incomplete record: skipped",
                  segment.name, len(line))
        return len(line)

    @staticmethod
    def _parse(segment: Path, line: bytes, records: list[dict]) -> None:
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            record = None
        if isinstance(record, dict) and isinstance(record.get("id"), str):
            records.append(record)
        else:
            log.error("audit spool %s: unreadable record skipped: %r", segment.name, line[:200])

    def being_written(self) -> bool:
        """Whether any process still holds a segment open to write (blocking)."""
        return any(self._written_now(segment) for segment in self._segments())

    def _written_now(self, segment: Path) -> bool:
        """Whether a process (this one or another) still holds the segment open to write."""
        try:
            fd = os.open(segment, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            return not _lock(fd)
        finally:
            os.close(fd)

    def commit(self, batch: SpoolBatch) -> None:
        """The records of `batch` are stored: move the offsets on, delete finished segments."""
        offsets = self._offsets() | batch.offsets
        removed = False
        for segment in self._segments():
            if offsets.get(segment.name, 0) >= segment.stat().st_size and not self._written_now(
                segment
            ):
                segment.unlink()
                offsets.pop(segment.name, None)
                removed = True
        names = {segment.name for segment in self._segments()}
        offsets = {name: offset for name, offset in offsets.items() if name in names}
        temporary = self.directory / f"{_OFFSETS}.tmp"
        temporary.write_text(json.dumps(offsets))
        os.replace(temporary, self.directory / _OFFSETS)
        if removed:
            self._sync_directory()
