"""Footprint of ``make run``: memory of every process and the time to ready.

Starts ``python -m servicekit.devstack run`` exactly as ``make run`` does, on fresh SQLite
files in a temporary directory and free ports, waits for its banner, then reads RSS and PSS
(``/proc/<pid>/smaps_rollup``) of every process of its tree: once idle, and again after a
burst of writes has gone through the whole pipeline (signup, login, notes and posts, their
events consumed). PSS counts a page shared by N processes as 1/N of it in each, so its sum
is what the stack really costs; summed RSS counts shared pages once per process.

Memory does not depend on the machine's load, unlike times: the figures are reported
beside issue #10's targets (PSS <= 600 MB, RSS <= 1 GB, ready <= 10 s).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from bench.harness import ROOT, load, report, rss_pss_kb, tree
from servicekit.devstack.launcher import SERVICES
from tests.e2e.stack import free_port

READY = re.compile(r"Stack ready ([\d.]+)s after start .*?(\d+) processes")


def _environment(tmp: Path) -> dict[str, str]:
    env = {**os.environ, "KAFKA_PORT": str(free_port()), "GATEWAY_PORT": str(free_port())}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    env.pop("DATABASE_URL", None)
    for spec in SERVICES:
        env[spec.port_variable] = str(free_port())
        env[spec.database_url_variable] = f"sqlite:///{tmp / (spec.directory + '.sqlite3')}"
    return env


def _name(pid: int) -> str:
    """A short label: the supervisor's process name where the command line gives it."""
    with contextlib.suppress(OSError):
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        cwd = Path(os.readlink(f"/proc/{pid}/cwd")).name
        text = " ".join(a.decode(errors="replace") for a in argv if a)
        if "gunicorn" in text:
            return f"gunicorn {cwd}"
        if "run_workers" in text:
            return f"run_workers {cwd}"
        if "devstack" in text:
            return "launcher + supervisor"
        return Path(argv[0].decode()).name
    return "?"


def _measure(root_pid: int) -> tuple[int, int, int, dict[str, list[tuple[int, int]]]]:
    groups: dict[str, list[tuple[int, int]]] = collections.defaultdict(list)
    rss = pss = 0
    pids = tree(root_pid)
    for pid in pids:
        with contextlib.suppress(OSError):
            r, p = rss_pss_kb(pid)
            rss, pss = rss + r, pss + p
            groups[_name(pid)].append((r, p))
    return len(pids), rss, pss, groups


def _post(url: str, body: dict, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(url, json.dumps(body).encode(), headers)  # noqa: S310 - the stack's http://
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read() or b"{}")


def _burst(api: str, writes: int) -> None:
    """``writes`` notes and posts of one new user, then waits until consumer_service has them."""
    user = {"email": f"footprint-{os.getpid()}-{time.time_ns()}@example.com", "password": "correct-horse-battery"}
    _post(f"{api}/api/users/signup/", user)
    token = _post(f"{api}/api/users/login/", user)["access"]
    for i in range(writes // 2):
        _post(f"{api}/api/notes/", {"title": f"note {i}", "content": "x" * 200}, token)
        _post(f"{api}/api/posts/", {"title": f"post {i}", "description": "y" * 200}, token)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        headers = {"Authorization": f"Bearer {token}"}
        request = urllib.request.Request(f"{api}/api/activity/me/", headers=headers)  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            activity = json.loads(response.read())
        if activity.get("posts", 0) + activity.get("notes", 0) >= writes // 2 * 2:
            return
        time.sleep(0.2)
    raise TimeoutError("the burst's events did not reach consumer_service within 60 s")


def _lines(label: str, measured: tuple[int, int, int, dict[str, list[tuple[int, int]]]]) -> list[str]:
    count, rss, pss, groups = measured
    rss_mb, pss_mb = rss / 1024, pss / 1024
    lines = [f"{label}: {count} processes, RSS summed {rss_mb:.0f} MB ({rss_mb / 1024:.2f}x the 1 GB target), "
             f"PSS summed {pss_mb:.0f} MB ({pss_mb / 600:.2f}x the 600 MB target)"]  # fmt: skip
    for name, values in sorted(groups.items(), key=lambda item: -sum(p for _, p in item[1])):
        lines.append(f"  {name:<30} x{len(values)}  RSS {sum(r for r, _ in values) / 1024:6.1f} MB  "
                     f"PSS {sum(p for _, p in values) / 1024:6.1f} MB")  # fmt: skip
    return lines


def _stack(writes: int, **extra: str) -> list[str]:
    """Starts ``make run``'s launcher with ``extra`` in its environment; the figures' lines."""
    with tempfile.TemporaryDirectory(prefix="bench-footprint-") as tmp:
        env = {**_environment(Path(tmp)), **extra}
        proc = subprocess.Popen([sys.executable, "-m", "servicekit.devstack", "run"], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)  # fmt: skip
        ready: list[re.Match] = []
        got_ready = threading.Event()

        def read() -> None:
            for line in proc.stdout:
                match = READY.search(line)
                if match:
                    ready.append(match)
                    got_ready.set()

        threading.Thread(target=read, daemon=True).start()
        try:
            if not got_ready.wait(120):
                raise TimeoutError("make run printed no banner within 120 s")
            time.sleep(3)  # let the workers settle into their idle loops
            lines = [f"ready {float(ready[0][1]):.1f} s after start (target <= 10 s), {load()}"]
            lines += _lines("idle", _measure(proc.pid))
            _burst(f"http://127.0.0.1:{env['GATEWAY_PORT']}", writes)
            return lines + _lines(f"after {writes} writes through the pipeline", _measure(proc.pid))
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writes", type=int, default=400, help="writes in the burst (default 400)")
    args = parser.parse_args(argv)
    report("Footprint of make run (its defaults: SQLite files, embedded broker, DEBUG on, 1 web worker)",
           _stack(args.writes))  # fmt: skip
    report("The same with WEB_CONCURRENCY=2 (compose's default)", _stack(args.writes, WEB_CONCURRENCY="2"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
