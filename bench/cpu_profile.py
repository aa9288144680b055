"""A CPU-time sampling profile of the server, for where its CPU goes under a benchmark's load.

py-spy samples by wall clock: a thread that the kernel took off the CPU inside a system call
(a `send()` that woke mongod, which then ran on that core) counts as busy in that call. On a
machine of few cores shared with mongod and the load generator, that blames the socket
writes for time spent waiting for a core. This profiler samples only while the process uses
CPU: `ITIMER_PROF` sends SIGPROF every INTERVAL seconds of its CPU time (user and system),
and the handler records the main thread's Python stack (the event loop's, where requests are
served; C code is counted in the Python function that called it).

    FHIR_BENCH_PROFILE=search.txt python bench/search.py --keep   # bench_server uses it
    python bench/cpu_profile.py --summary search.txt             # top inclusive/own shares

Each line of the output is `frame;frame;... count`, py-spy's `raw` format (speedscope and
flamegraph.pl read it). The processes `serve` spawns, its workers (`--workers` above 1) and
the audit drainer, are profiled too, each into the file named with `.PID` added.
"""

import argparse
import os
import runpy
import signal
import sys
from collections import Counter
from types import CodeType, FrameType

PROFILE_ENV = "FHIR_CPU_PROFILE"  # the output file, for the processes `serve` spawns
INTERVAL = 0.002  # seconds of CPU between samples
WRITE_EVERY = 500  # samples: the server may end by a signal, without running `atexit`


class Sampler:
    def __init__(self, out: str):
        self.out = out
        self.stacks: Counter[str] = Counter()
        self.samples = 0
        self.names: dict[tuple[CodeType, int], str] = {}  # formatted frames
        # While a sample is being taken, Python code may run inside it (a finalizer that the
        # collector calls when `write` allocates), and the signal comes again: that nested
        # sample is dropped. Recorded, it changed `stacks` while `write` iterated over them,
        # and the RuntimeError surfaced in the server's code as a 500.
        self.sampling = False

    def start(self) -> None:
        signal.signal(signal.SIGPROF, self.sample)
        signal.setitimer(signal.ITIMER_PROF, INTERVAL, INTERVAL)

    def stop(self) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0)
        self.sampling = True  # a SIGPROF already pending must not record during the write
        self.write()

    def sample(self, _signum: int, frame: FrameType | None) -> None:
        if self.sampling:
            return
        self.sampling = True
        try:
            self._record(frame)
        finally:
            self.sampling = False

    def _record(self, frame: FrameType | None) -> None:
        frames = []
        while frame is not None:
            key = (frame.f_code, frame.f_lineno)
            name = self.names.get(key)
            if name is None:
                name = self.names[key] = _name(*key)
            frames.append(name)
            frame = frame.f_back
        self.stacks[";".join(reversed(frames))] += 1
        self.samples += 1
        if self.samples % WRITE_EVERY == 0:
            self.write()

    def write(self) -> None:
        try:
            with open(self.out, "w", encoding="utf-8") as out:
                out.writelines(f"{stack} {count}\n" for stack, count in self.stacks.items())
        except OSError as error:  # raised here, it would fail whatever the server was doing
            print(f"cpu_profile: cannot write {self.out}: {error}", file=sys.stderr)


def _name(code: CodeType, line: int) -> str:
    filename = code.co_filename.rsplit("site-packages/", 1)[-1]
    return f"{code.co_qualname} ({filename.removeprefix(os.getcwd() + os.sep)}:{line})"


def summary(path: str, top: int) -> None:
    """Print each function's inclusive share (samples with it anywhere in the stack) and own
    share (samples ending in it)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            functions = [frame.rsplit(":", 1)[0] + ")" for frame in stack.split(";")]
            total += int(count)
            for function in set(functions):
                inclusive[function] += int(count)
            own[functions[-1]] += int(count)
    print(f"{total} samples of {INTERVAL * 1000:g} ms CPU")
    for title, shares in (("inclusive", inclusive), ("own", own)):
        print(f"\n{title}")
        for function, count in shares.most_common(top):
            print(f"{100 * count / total:6.1f}%  {function}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--summary", metavar="PROFILE", help="summarise a profile written")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--out", help="profile the server: write the stacks here")
    args, server_args = parser.parse_known_args()
    if args.summary:
        summary(args.summary, args.top)
        return
    if not args.out:
        parser.error("--out (to profile `fhir-server ARGS`) or --summary is required")
    sampler = Sampler(args.out)
    sampler.start()
    os.environ[PROFILE_ENV] = args.out
    sys.argv = ["fhir-server", *server_args]
    try:
        runpy.run_module("fhir_server.cli", run_name="__main__")
    finally:
        sampler.stop()


if __name__ == "__main__":
    main()
elif __name__ == "__mp_main__" and os.environ.get(PROFILE_ENV):
    # A process `serve` spawned, which imports this module before it runs its own code.
    Sampler(f"{os.environ[PROFILE_ENV]}.{os.getpid()}").start()
