"""Liveness for workers without HTTP (relays, consumers): a file touched by their loops.

Each loop calls ``beat()`` every iteration and in every wait (at most once a second
touches the file at ``HEARTBEAT_FILE``; unset = off). A container healthcheck runs
``python -m servicekit.heartbeat /tmp/heartbeat --max-age 60``, which fails when the
file is missing or stale, i.e. when a loop is stuck or dead.

Loops of one process (``manage.py run_workers``: a relay and a consumer) share the file:
it is touched only while every one of them has beaten within :data:`STUCK_SECONDS`, so
one stuck loop makes the process unhealthy however well the other one runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

#: A loop that has not beaten for this long is stuck (every wait of a loop beats).
STUCK_SECONDS = 30.0


class Heartbeat:
    #: The last beat of every loop of this process, by name.
    _loops: dict[str, float] = {}

    def __init__(self, path: str | None = None, *, loop: str = "loop") -> None:
        path = path if path is not None else os.environ.get("HEARTBEAT_FILE", "")
        self.path = Path(path) if path else None
        self.loop = loop
        self._last = 0.0
        self._loops[loop] = time.monotonic()

    def beat(self) -> None:
        now = time.monotonic()
        self._loops[self.loop] = now
        if self.path is None or now - self._last < 1.0:
            return
        if any(now - last > STUCK_SECONDS for last in self._loops.values()):
            return  # another loop of this process is stuck: let the file go stale
        self._last = now
        self.path.touch()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Exit 0 if the heartbeat file is fresh.")
    parser.add_argument("path")
    parser.add_argument("--max-age", type=float, default=60.0, help="seconds (default 60)")
    args = parser.parse_args(argv)
    try:
        age = time.time() - Path(args.path).stat().st_mtime
    except FileNotFoundError:
        print(f"no heartbeat at {args.path}", file=sys.stderr)
        return 1
    if age > args.max_age:
        print(f"heartbeat is {age:.0f}s old (max {args.max_age:.0f}s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
