"""`make bench`: measures the event pipeline on PostgreSQL and the embedded broker.

1. commit-to-topic latency: post_service writes posts one transaction at a time (light
   load, ~50/s) while its real relay (`manage.py relay_outbox`) runs; a reader assigned
   to `post_events` notes when each event arrives. Reported: commit -> broker timestamp
   (the relay's produce) and commit -> received by a consumer, p50/p95/p99/max.
2. consumer throughput: N events are put on the topics, then consumer_service's real
   `manage.py consume_events` is started; events/s from its first to its last record.

Uses TEST_DATABASE_URL's server (databases bench_*, dropped afterwards). Timings vary
with the machine; nothing here is asserted.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from servicekit.devstack.embedded_broker import EmbeddedBroker  # noqa: E402
from tests.e2e.stack import database_url, drop_database, recreate_database  # noqa: E402

SERVICES = ("post_service", "consumer_service")


def main() -> int:
    with EmbeddedBroker(log_path=ROOT / "var" / "bench-broker.log") as broker:
        env = {
            **os.environ,
            "SECRET_KEY": secrets.token_urlsafe(48),
            "JWT_SIGNING_KEY": secrets.token_urlsafe(48),
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "KAFKA_SESSION_TIMEOUT_MS": "6000",
            "KAFKA_FETCH_WAIT_MAX_MS": "20",
            "KAFKA_ENABLE_IDEMPOTENCE": "False",
            "LOG_LEVEL": "WARNING",
        }
        try:
            for service in SERVICES:
                recreate_database(f"bench_{service}")
                service_env = {**env, "DATABASE_URL": database_url(f"bench_{service}")}
                subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT / service,
                               env=service_env, check=True)  # fmt: skip
            subprocess.run([sys.executable, "manage.py", "ensure_topics"], cwd=ROOT / "post_service",
                           env={**env, "DATABASE_URL": database_url("bench_post_service")}, check=True)  # fmt: skip
            for script, service in (("latency.py", "post_service"), ("consumer_throughput.py", "consumer_service")):
                subprocess.run([sys.executable, str(ROOT / "bench" / script)], cwd=ROOT / service,
                               env={**env, "DATABASE_URL": database_url(f"bench_{service}")}, check=True)  # fmt: skip
        finally:
            for service in SERVICES:
                drop_database(f"bench_{service}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
