"""The live processes of this machine, read from /proc (Linux)."""

from collections.abc import Iterator
from pathlib import Path


def proc_files(name: str) -> Iterator[tuple[int, bytes]]:
    """(pid, contents of /proc/<pid>/<name>) of every process still there when read."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            yield int(proc.name), (proc / name).read_bytes()
        except OSError:  # ended meanwhile
            continue


def children(pid: int) -> list[int]:
    """The live child processes of `pid`."""
    # Fields after the command name, which is in parentheses: state, ppid, ...
    return [child for child, stat in proc_files("stat")
            if int(stat.rsplit(b")", 1)[1].split()[1]) == pid]


def workers(pid: int) -> list[int]:
    """The server worker processes of the `fhir-server serve` process `pid`."""
    spawned = set(children(pid))
    return [child for child, command in proc_files("cmdline")
            if child in spawned and b"spawn_main" in command]
