"""What the gateway costs: creates through it and directly, side by side (reported, not asserted).

    .venv/bin/python bench/gateway_overhead.py [--secs 5] [--rounds 3] [--conns 8]

wrk (`apt-get install wrk`) posts notes to note_service (gunicorn, WEB_CONCURRENCY
workers, PostgreSQL) through the gateway and on its own port, in alternation so that both
see the same machine load; medians of the rounds, and the gateway's cost relative to direct.
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

from gateway_stack import gateway_stack

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


def wrk(url: str, token: str, script: Path, secs: int, conns: int) -> tuple[float, float, float, int]:
    """(requests/s, p50 ms, p99 ms, non-2xx answers) of one wrk run."""
    command = ["wrk", "-t1", f"-c{conns}", f"-d{secs}s", "--latency", "-s", str(script), url]
    out = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TOKEN": token},  # noqa: S603
                         timeout=secs + 30, check=True).stdout  # fmt: skip

    def ms(percent: int) -> float:
        value, unit = re.search(rf"\s{percent}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return rps, ms(50), ms(99), int(errors.group(1)) if errors else 0


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
        runs: dict[str, list[tuple[float, float, float, int]]] = {name: [] for name in targets}
        load_before = os.getloadavg()[0]
        for _ in range(args.rounds):
            for name, base in targets.items():
                runs[name].append(wrk(f"{base}/api/notes/", stack.token, script, args.secs, args.conns))
        print(f"POST /api/notes/, {args.conns} connections, {args.rounds} x {args.secs} s each, alternating "
              f"(load {load_before:.2f} before, {os.getloadavg()[0]:.2f} after)")  # fmt: skip
        median = {name: statistics.median(r[0] for r in rs) for name, rs in runs.items()}
        for name, rs in runs.items():
            p50, p99 = statistics.median(r[1] for r in rs), statistics.median(r[2] for r in rs)
            print(f"  {name:<8} {median[name]:7.1f} req/s (runs {', '.join(f'{r[0]:.0f}' for r in rs)})  "
                  f"p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  non-2xx {sum(r[3] for r in rs)}")  # fmt: skip
        print(f"  the gateway costs {(median['direct'] / median['gateway'] - 1) * 100:+.1f}% time per create")
    return 0


if __name__ == "__main__":
    sys.exit(main())
