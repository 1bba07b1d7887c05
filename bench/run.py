"""`make bench`: every benchmark, one after the other, each figure beside a baseline measured
in the same run and the machine's load (nothing here asserts anything: tests prove, these
report).

    .venv/bin/python -m bench.run [SUITE ...]      # default: every suite, in this order

Each suite is also a program of its own, with its options (``--help``):

    pipeline       bench/pipeline.py        consumer and relay drain beside bare confluent-kafka
                                            loops; HTTP 201 -> consumer row latency; CPU per
                                            event of every process; create throughput with the
                                            pipeline running and paused
    request_path   bench/request_path.py    note create and list beside ../shared/perf's lean
                                            ceiling and seed-style app; 1, 2 and 4 workers
    footprint      bench/footprint.py       memory of every process of `make run`, time to ready
    gateway        bench/gateway_overhead.py  creates through the gateway vs on the service's port
    slow_clients   bench/slow_clients.py    slow clients, through the gateway and directly
    revocation     bench/revocation_check.py  refusing revoked tokens vs stateless JWT checks
    tracing        bench/tracing.py         note create with metrics off, metrics on, tracing on

Needs PostgreSQL (TEST_DATABASE_URL, databases bench_* are created and dropped) and wrk.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SUITES: dict[str, list[str]] = {
    "pipeline": ["-m", "bench.pipeline"],
    "request_path": ["-m", "bench.request_path"],
    "footprint": ["-m", "bench.footprint"],
    "gateway": ["bench/gateway_overhead.py"],
    "slow_clients": ["bench/slow_clients.py"],
    "revocation": ["bench/revocation_check.py"],
    "tracing": ["-m", "bench.tracing"],
}


def main(argv: list[str] | None = None) -> int:
    names = sys.argv[1:] if argv is None else argv
    unknown = [name for name in names if name not in SUITES]
    if unknown or "-h" in names or "--help" in names:
        print(__doc__ if not unknown else f"bench: unknown suite {unknown[0]!r}; choose from {', '.join(SUITES)}",
              file=sys.stderr if unknown else sys.stdout)  # fmt: skip
        return 2 if unknown else 0
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    one, five, fifteen = os.getloadavg()
    print(f"make bench on {os.cpu_count()} cores, load {one:.2f} {five:.2f} {fifteen:.2f}", flush=True)
    failed = []
    for name in names or SUITES:
        started = time.monotonic()
        print(f"\n#### {name}", flush=True)
        if subprocess.run([sys.executable, *SUITES[name]], cwd=ROOT).returncode != 0:
            failed.append(name)
        print(f"#### {name}: {time.monotonic() - started:.0f} s", flush=True)
    if failed:
        print(f"bench: failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
