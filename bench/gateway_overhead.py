"""What the gateway costs: creates through it and directly, side by side (reported, not asserted).

    .venv/bin/python bench/gateway_overhead.py [--secs 5] [--rounds 3] [--conns 8]

wrk (`apt-get install wrk`) posts notes to note_service (gunicorn, WEB_CONCURRENCY
workers, PostgreSQL) through the gateway and on its own port, in alternation so that both
see the same machine load: medians of the rounds' throughput and latency. On a shared
machine those move with everything else running; the CPU time each create costs does not:
note_service's processes and their PostgreSQL backends, plus the gateway's for the
creates through it (utime + stime from /proc, per request).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from gateway_stack import cpu_seconds, gateway_stack

POST_NOTE = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, '{"title": "bench ' .. n .. '", "content": "Lorem ipsum dolor sit amet."}')
end
"""


def wrk(url: str, token: str, script: Path, secs: int, conns: int) -> tuple[float, float, float, int, int]:
    """(requests/s, p50 ms, p99 ms, non-2xx answers, requests) of one wrk run."""
    command = ["wrk", "-t1", f"-c{conns}", f"-d{secs}s", "--latency", "-s", str(script), url]
    out = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TOKEN": token},
                         timeout=secs + 30, check=True).stdout  # fmt: skip

    def ms(percent: int) -> float:
        value, unit = re.search(rf"\s{percent}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return rps, ms(50), ms(99), int(errors.group(1)) if errors else 0, requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--secs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--conns", type=int, default=8)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("bench/gateway_overhead.py needs wrk: apt-get install wrk", file=sys.stderr)
        return 1
    with gateway_stack(("note",)) as stack, tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post_note.lua"
        script.write_text(POST_NOTE)
        targets = {"direct": stack.direct("note"), "gateway": stack.gateway}
        runs: dict[str, list[tuple[float, float, float, int, int]]] = {name: [] for name in targets}
        cpu_ms: dict[str, dict[str, list[float]]] = {name: {"service": [], "gateway": []} for name in targets}
        for base in targets.values():  # warm up: connections, PostgreSQL backends
            wrk(f"{base}/api/notes/", stack.token, script, 1, args.conns)
        load_before = os.getloadavg()[0]
        for _ in range(args.rounds):
            for name, base in targets.items():
                pids = {"service": stack.pids("web-note"), "gateway": stack.pids("gateway")}
                before = {part: cpu_seconds(p) for part, p in pids.items()}
                run = wrk(f"{base}/api/notes/", stack.token, script, args.secs, args.conns)
                runs[name].append(run)
                for part, p in pids.items():
                    cpu_ms[name][part].append((cpu_seconds(p) - before[part]) * 1000 / run[4])
        print(f"POST /api/notes/, {args.conns} connections, {args.rounds} x {args.secs} s each, alternating "
              f"(load {load_before:.2f} before, {os.getloadavg()[0]:.2f} after)")  # fmt: skip
        median = {name: statistics.median(r[0] for r in rs) for name, rs in runs.items()}
        for name, rs in runs.items():
            p50, p99 = statistics.median(r[1] for r in rs), statistics.median(r[2] for r in rs)
            print(f"  {name:<8} {median[name]:7.1f} req/s (runs {', '.join(f'{r[0]:.0f}' for r in rs)})  "
                  f"p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  non-2xx {sum(r[3] for r in rs)}")  # fmt: skip
        service = {name: statistics.median(cpu_ms[name]["service"]) for name in targets}
        gateway = statistics.median(cpu_ms["gateway"]["gateway"])
        print(f"  CPU per create: direct {service['direct']:.2f} ms (note_service and its PostgreSQL); through "
              f"the gateway {service['gateway']:.2f} ms + {gateway:.2f} ms of Caddy: "
              f"{((service['gateway'] + gateway) / service['direct'] - 1) * 100:+.1f}%")  # fmt: skip
        print(f"  throughput through the gateway: {(median['gateway'] / median['direct'] - 1) * 100:+.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
