"""Liveness for workers without HTTP (relays, consumers): a file touched by the loop.

The loop calls ``beat()`` each iteration (at most once a second touches the file at
``HEARTBEAT_FILE``; unset = off). A container healthcheck runs
``python -m servicekit.heartbeat /tmp/heartbeat --max-age 60``, which fails when the
file is missing or stale, i.e. when the loop is stuck or dead.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


class Heartbeat:
    def __init__(self, path: str | None = None) -> None:
        path = path if path is not None else os.environ.get("HEARTBEAT_FILE", "")
        self.path = Path(path) if path else None
        self._last = 0.0

    def beat(self) -> None:
        now = time.monotonic()
        if self.path is None or now - self._last < 1.0:
            return
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
