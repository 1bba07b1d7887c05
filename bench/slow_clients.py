"""Slow clients against user_service, through the gateway and directly (reported, not asserted).

    .venv/bin/python bench/slow_clients.py

20 connections stall or trickle in their headers and bodies (tests/e2e/clients.py) while a
normal GET /api/users/me/ is timed: the median of 7, without and with them, through the
gateway and then on the service's own port (gunicorn, 2 sync workers). A request on the
service's port that does not finish within 5 s is reported as such.
"""

from __future__ import annotations

import os
import statistics
import time

import requests
from gateway_stack import BenchStack, gateway_stack

from tests.e2e.clients import slow_clients

TIMEOUT = 5.0


def median_ms(url: str, token: str, tries: int = 7) -> str:
    timings = []
    for _ in range(tries):
        started = time.perf_counter()
        try:
            requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT).raise_for_status()
        except requests.RequestException:
            return f"> {TIMEOUT:.0f} s (timed out)"
        timings.append((time.perf_counter() - started) * 1000)
    return f"{statistics.median(timings):7.1f} ms"


def report(stack: BenchStack, name: str, base: str) -> None:
    me = f"{base}/api/users/me/"
    quiet = median_ms(me, stack.token)
    with slow_clients(base):
        loaded = median_ms(me, stack.token)
    print(f"  {name:<22} alone {quiet}   with 20 slow clients {loaded}")


def main() -> None:
    with gateway_stack(("user",)) as stack:
        print(f"GET /api/users/me/, median of 7 (load {os.getloadavg()[0]:.2f})")
        report(stack, "through the gateway", stack.gateway)
        report(stack, "user_service directly", stack.direct("user"))


if __name__ == "__main__":
    main()
