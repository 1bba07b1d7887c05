"""Graceful stop for long-running commands: SIGTERM/SIGINT finish the current unit of work."""

from __future__ import annotations

import logging
import signal
import threading

log = logging.getLogger("servicekit")


class StopFlag:
    """Set by SIGTERM or SIGINT; loops check it between units of work.

    A second signal while stopping is ignored for SIGTERM (orchestrators repeat it) but
    exits at once for SIGINT, so a double Ctrl-C still works.
    """

    def __init__(self) -> None:
        self._event = threading.Event()

    def install(self) -> StopFlag:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, _frame: object) -> None:
        if self._event.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        log.info("%s received: finishing the current work, then stopping", signal.Signals(signum).name)
        self._event.set()

    def set(self) -> None:
        self._event.set()

    def __call__(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleeps up to ``seconds``, waking early on a stop. Returns whether to stop."""
        return self._event.wait(seconds)
