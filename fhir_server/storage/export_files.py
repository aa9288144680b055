"""The output files of bulk export jobs: `<data dir>/exports/<job id>/<file name>`.

A file is created exclusively (`O_EXCL`) by the one worker that writes it, and only appended
to. Its length as far as it is known good is kept in the job's progress in MongoDB; a file is
always served up to that length only, so bytes a dead (or presumed dead) worker wrote after
its last checkpoint are never seen. Every server process that serves or writes exports must
see the same directory (one host, or a shared volume).
"""

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

_CHUNK = 256 * 1024
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]{0,127}")


def _checked(name: str) -> str:
    if not _SAFE.fullmatch(name):
        raise ValueError(f"not a safe file name: {name!r}")
    return name


class PartWriter:
    """One output file being written."""

    def __init__(self, path: Path):
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class ExportFiles:
    def __init__(self, root: Path):
        self.root = Path(root)

    def _directory(self, job_id: str) -> Path:
        return self.root / _checked(job_id)

    def create(self, job_id: str, name: str) -> PartWriter:
        """A new, empty file; FileExistsError if the name was ever used in this job."""
        directory = self._directory(job_id)
        directory.mkdir(parents=True, exist_ok=True)
        return PartWriter(directory / _checked(name))

    def size(self, job_id: str, name: str) -> int | None:
        """The file's length on disk, None if it does not exist."""
        try:
            return (self._directory(job_id) / _checked(name)).stat().st_size
        except FileNotFoundError:
            return None

    def read(self, job_id: str, name: str) -> Callable[[int, int], Iterator[bytes]]:
        """A reader of byte ranges of a file: `read(start, length)` yields those bytes in
        chunks, from a seek (the file is opened at once, so that a file removed while it is
        being downloaded is still read to the end)."""
        handle = (self._directory(job_id) / _checked(name)).open("rb")

        def chunks(start: int, length: int) -> Iterator[bytes]:
            with handle:
                handle.seek(start)
                left = length
                while left > 0:
                    chunk = handle.read(min(_CHUNK, left))
                    if not chunk:
                        raise OSError(f"export file {job_id}/{name} is shorter than recorded")
                    left -= len(chunk)
                    yield chunk

        return chunks

    def sync(self, job_id: str, names: list[str]) -> None:
        """Make the files (and their directory entries) durable: blocking, call in a thread."""
        directory = self._directory(job_id)
        if not names:  # an export with no output has made no directory
            return
        for name in names:
            fd = os.open(directory / _checked(name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def names(self, job_id: str) -> list[str]:
        directory = self._directory(job_id)
        return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []

    def remove_file(self, job_id: str, name: str) -> None:
        (self._directory(job_id) / _checked(name)).unlink(missing_ok=True)

    def remove(self, job_id: str) -> None:
        shutil.rmtree(self._directory(job_id), ignore_errors=True)

    def job_ids(self) -> list[str]:
        """The jobs that have a directory here."""
        if not self.root.is_dir():
            return []
        return [p.name for p in self.root.iterdir() if p.is_dir() and _SAFE.fullmatch(p.name)]
