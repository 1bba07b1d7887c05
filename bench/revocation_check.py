"""What refusing revoked tokens costs on the request path (reported, not asserted).

    .venv/bin/python bench/revocation_check.py [--secs 5] [--rounds 3] [--conns 8] [--revocations 10000]

post_service's web server (gunicorn, WEB_CONCURRENCY workers, PostgreSQL) answers
``GET /api/posts/`` twice, in alternation so that both see the same machine load: as it
runs (servicekit.revocation: its authentication reads an in-process copy of the revocation
table, brought up to date with one query at most every REVOCATION_REFRESH_SECONDS) and,
as the baseline, with simplejwt's stateless authentication alone (no revocation check).
The table holds ``--revocations`` rows of other users, and the bench records 20 new ones
a second while wrk runs, so that every refresh has something to read. Reported: requests/s
and latency (medians of the rounds), the CPU time a request costs (the web processes and
their PostgreSQL backends, from /proc), the database statements a request costs
(pg_stat_database), and in-process: the lookup itself, and one refresh with nothing new.

Uses TEST_DATABASE_URL's server (a database bench_rv_*, dropped afterwards); needs wrk.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import jwt
import psycopg2
import requests
from gateway_overhead import wrk
from gateway_stack import cpu_seconds, process_tree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from servicekit.devstack.launcher import SERVICES, manage, port_of, stack_processes, wait_ready  # noqa: E402
from tests.e2e.stack import TEST_DATABASE_URL, drop_database, stack_environment  # noqa: E402

POST = next(spec for spec in SERVICES if spec.short == "post")
GET_SCRIPT = 'wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")\n'
#: The baseline's settings: post_service's, authentication without the revocation check.
BASELINE_SETTINGS = """
from config.settings import *  # noqa: F403

REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_AUTHENTICATION_CLASSES": [  # noqa: F405
    "rest_framework_simplejwt.authentication.JWTStatelessUserAuthentication"]}
"""
IN_PROCESS = """
import time, uuid
from django.db import connection
from servicekit.revocation.view import RevocationView
view = RevocationView()
start = time.perf_counter(); view._read_changes(); first = time.perf_counter() - start
subjects, n = [uuid.uuid4(), uuid.uuid4()], 200_000
start = time.perf_counter()
for _ in range(n):
    view._due = float("inf"); view.revoked(subjects, time.time())
lookup = (time.perf_counter() - start) / n
times = []
for _ in range(200):
    start = time.perf_counter(); view._read_changes(); times.append(time.perf_counter() - start)
times.sort()
print(f"{len(view._not_before)} {first * 1000:.1f} {lookup * 1e6:.2f} {times[100] * 1000:.2f}")
"""


def token(env: dict[str, str]) -> str:
    now = time.time()
    claims = {"token_type": "access", "user_id": str(uuid.uuid4()), "jti": uuid.uuid4().hex, "iat": now,
              "exp": int(now) + 3600, "iss": "user_service", "aud": "microservices"}  # fmt: skip
    return jwt.encode(claims, env["JWT_SIGNING_KEY"], algorithm="HS256")


def revoke(database: str, count: int) -> None:
    """``count`` revocations of other users, as post_service's consumer records them."""
    with psycopg2.connect(database) as conn, conn.cursor() as cursor:
        now = datetime.now(UTC)
        rows = [(str(uuid.uuid4()), now) for _ in range(count)]
        cursor.executemany(
            "INSERT INTO revocation_revocation (subject, not_before, version) "
            "VALUES (%s, %s, pg_current_xact_id()::text::bigint)",
            rows,
        )


def statements(database_name: str) -> int:
    with psycopg2.connect(TEST_DATABASE_URL) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
                       [database_name])  # fmt: skip
        return cursor.fetchone()[0]


def backends(database_name: str) -> list[int]:
    with psycopg2.connect(TEST_DATABASE_URL) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [database_name])
        return [pid for (pid,) in cursor.fetchall()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--secs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--conns", type=int, default=8)
    parser.add_argument("--revocations", type=int, default=10_000)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("bench/revocation_check.py needs wrk: apt-get install wrk", file=sys.stderr)
        return 1
    prefix = f"bench_rv_{uuid.uuid4().hex[:6]}"
    env = {**stack_environment(prefix, kafka_bootstrap="127.0.0.1:9"), "LOG_LEVEL": "WARNING"}
    database_name = f"{prefix}_{POST.directory}"
    database = env[POST.database_url_variable]
    started: dict[str, subprocess.Popen] = {}
    stop = threading.Event()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "bench_baseline_settings.py").write_text(BASELINE_SETTINGS)
            script = Path(tmp, "get.lua")
            script.write_text(GET_SCRIPT)
            manage(POST, env, "migrate", "--no-input", "-v", "0")
            revoke(database, args.revocations)
            (web,) = (p for p in stack_processes(env) if p.name == "web-post")
            baseline_port = port_of(POST, env) + 1000
            variants = {
                "with revocation check": (web.argv, web.env),
                "without (baseline)": (
                    [*web.argv[:-1], f"--bind=127.0.0.1:{baseline_port}"],
                    {**web.env, "DJANGO_SETTINGS_MODULE": "bench_baseline_settings", "PYTHONPATH": tmp},
                ),
            }
            urls = {"with revocation check": f"http://127.0.0.1:{port_of(POST, env)}/api/posts/",
                    "without (baseline)": f"http://127.0.0.1:{baseline_port}/api/posts/"}  # fmt: skip
            quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
            for name, (argv, child_env) in variants.items():
                started[name] = subprocess.Popen(argv, cwd=web.cwd, env=child_env, **quiet)
            wait_ready(env, timeout=60, specs=(POST,), gateway=False)
            for url in urls.values():
                while requests.get(url.replace("/api/posts/", "/readyz"), timeout=5).status_code != 200:
                    time.sleep(0.2)
            bearer = token(env)

            revoked = [0]  # the bench's own transactions, not the requests'

            def keep_revoking() -> None:
                while not stop.wait(0.05):
                    revoke(database, 1)
                    revoked[0] += 1

            threading.Thread(target=keep_revoking, daemon=True).start()
            results: dict[str, list[tuple[float, float, float, float, float]]] = {name: [] for name in urls}
            for url in urls.values():
                wrk(url, bearer, script, 1, args.conns)  # warm up
            load = os.getloadavg()[0]
            for _ in range(args.rounds):
                for name, url in urls.items():
                    pids = [*process_tree(started[name].pid), *backends(database_name)]
                    cpu, done, ours = cpu_seconds(pids), statements(database_name), revoked[0]
                    rps, p50, p99, errors, total = wrk(url, bearer, script, args.secs, args.conns)
                    assert errors == 0, f"{name}: {errors} answers were not 2xx"
                    cpu_ms = (cpu_seconds(pids) - cpu) * 1000 / total
                    per_request = (statements(database_name) - done - (revoked[0] - ours) - 1) / total
                    results[name].append((rps, p50, p99, cpu_ms, per_request))
            stop.set()
            in_process = subprocess.run([sys.executable, "-c", "import django; django.setup();" + IN_PROCESS],
                                        cwd=web.cwd, env={**web.env, "DJANGO_SETTINGS_MODULE": "config.settings"},
                                        capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    finally:
        stop.set()
        for process in started.values():
            process.terminate()
            process.wait(20)
        drop_database(database_name)
    workers = env.get("WEB_CONCURRENCY", "2")
    print(f"GET /api/posts/ on post_service ({workers} workers, {args.conns} connections, {args.rounds} rounds of "
          f"{args.secs}s, {args.revocations} revocations + 20/s; load average {load:.2f} at the start)")  # fmt: skip
    print(f"  {'':24} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/req':>11} {'statements/req':>15}")
    for name, runs in results.items():
        medians = [statistics.median(run[i] for run in runs) for i in range(5)]
        print(f"  {name:24} {medians[0]:8.0f} {medians[1]:8.2f} {medians[2]:8.2f} {medians[3]:11.3f} "
              f"{medians[4]:15.3f}")  # fmt: skip
    rows, first_ms, lookup_us, refresh_ms = in_process
    print(
        f"  in process: the check {float(lookup_us):.2f} us per request; a refresh with nothing new "
        f"{float(refresh_ms):.2f} ms (once a second per worker); the first read of {rows} rows {first_ms} ms"
    )
    print(f"  load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
