"""Graceful stop for long-running commands: SIGTERM/SIGINT finish the current unit of work."""

from __future__ import annotations

import logging
import signal

log = logging.getLogger("servicekit")


class StopFlag:
    """Set by SIGTERM or SIGINT; loops check it between units of work.

    A second signal while stopping is ignored for SIGTERM (orchestrators repeat it) but
    exits at once for SIGINT, so a double Ctrl-C still works.
    """

    def __init__(self) -> None:
        self._stopping = False

    def install(self) -> StopFlag:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, _frame: object) -> None:
        if self._stopping and signum == signal.SIGINT:
            raise KeyboardInterrupt
        log.info("%s received: finishing the current work, then stopping", signal.Signals(signum).name)
        self._stopping = True

    def set(self) -> None:
        """Stops the loops as a signal would (a loop of the same process failed)."""
        self._stopping = True

    def __call__(self) -> bool:
        return self._stopping
