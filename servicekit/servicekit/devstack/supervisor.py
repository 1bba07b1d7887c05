"""The supervisor of ``make run``: one process that starts the stack's processes, prints
their output with a coloured prefix, keeps a log file per process, and stops them all.

It replaces honcho, whose process manager forks one Python wrapper per process (ten
wrappers of 22 MB each): here the processes are children of this one, and one thread
per process reads its output. Ctrl-C or SIGTERM stops every process (SIGTERM to each
process group, SIGKILL after the grace period); so does any process exiting on its own,
which is reported, and its status becomes the supervisor's.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

COLOURS = ("36", "33", "32", "35", "34", "31", "96", "93", "92", "95", "94", "91")
GRACE_SECONDS = 15.0


@dataclass(frozen=True)
class Process:
    name: str
    argv: list[str]
    cwd: Path
    env: dict[str, str]


class Supervisor:
    def __init__(self, processes: Sequence[Process], *, log_dir: Path, out: IO[str] = sys.stdout) -> None:
        self.processes = list(processes)
        self.log_dir = log_dir
        self.out = out
        self.width = max(len(p.name) for p in self.processes)
        self.colour = {p.name: COLOURS[i % len(COLOURS)] for i, p in enumerate(self.processes)}
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
        self._stopping = threading.Event()
        self._tty = out.isatty()

    def print(self, name: str, line: str) -> None:
        stamp = datetime.now().strftime("%H:%M:%S")
        prefix = f"{stamp} {name:<{self.width}} | "
        if self._tty:
            prefix = f"\033[{self.colour.get(name, '0')}m{prefix}\033[0m"
        self.out.write(prefix + line + ("" if line.endswith("\n") else "\n"))
        self.out.flush()

    def _read(self, name: str, stream: IO[bytes]) -> None:
        with (self.log_dir / f"{name}.log").open("ab", buffering=0) as log:
            for raw in iter(stream.readline, b""):
                log.write(raw)
                self.lines.put((name, raw.decode(errors="replace")))
        self.lines.put((name, None))

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for process in self.processes:
            child = subprocess.Popen(  # noqa: S603 - the stack's own commands
                process.argv, cwd=process.cwd, env=process.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
            self.running[process.name] = child
            threading.Thread(target=self._read, args=(process.name, child.stdout), daemon=True).start()
            self.print("system", f"{process.name} started (pid {child.pid})")

    def run(self) -> int:
        """Runs until a signal or until a process exits; returns the exit status to give."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        status = 0
        try:
            self.start()
            open_streams = len(self.running)
            while open_streams:
                try:
                    name, line = self.lines.get(timeout=0.2)
                except queue.Empty:
                    if self._stopping.is_set():
                        break
                    continue
                if line is not None:
                    self.print(name, line)
                    continue
                open_streams -= 1
                code = self.running[name].wait()
                if not self._stopping.is_set():
                    self.print("system", f"{name} exited with status {code}: stopping everything")
                    status = code or 1
                    self._stopping.set()
                break
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return status

    def _on_signal(self, signum: int, _frame: object) -> None:
        if self._stopping.is_set() and signum == signal.SIGINT:
            for child in self.running.values():  # a second Ctrl-C: at once
                _signal_group(child, signal.SIGKILL)
        self._stopping.set()

    def stop(self) -> None:
        """SIGTERM to every process group, SIGKILL to those still there after the grace period."""
        self._stopping.set()
        alive = {name: child for name, child in self.running.items() if child.poll() is None}
        for child in alive.values():
            _signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS
        for name, child in alive.items():
            try:
                child.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.print("system", f"{name} did not stop in {GRACE_SECONDS:.0f}s: killed")
                _signal_group(child, signal.SIGKILL)
                child.wait()
        # The rest of their output, then their exits.
        with contextlib.suppress(queue.Empty):
            while True:
                name, line = self.lines.get(timeout=0.2)
                if line is not None:
                    self.print(name, line)
        for name, child in self.running.items():
            self.print("system", f"{name} stopped ({child.returncode})")


def _signal_group(child: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, sig)
