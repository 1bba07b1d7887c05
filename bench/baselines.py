"""The baseline apps of ``../shared/perf`` served next to the project (see its README).

- ``seed``: the naive design the project replaces (DRF ModelViewSet, no auth, a Kafka
  ``send`` + ``flush`` inside every create);
- ``ceiling``: plain Django views, PyJWT, one INSERT or one indexed SELECT.

Both run under the project's gunicorn version with the same worker count, on the same
PostgreSQL, from a virtualenv of their own (``var/bench/baselines``, made once).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from bench.harness import ROOT, BenchStack, http_get
from tests.e2e.stack import drop_database, free_port, recreate_database

PERF = ROOT.parent / "shared" / "perf"
VENV = ROOT / "var" / "bench" / "baselines"


def _gunicorn_pin() -> str:
    line = next(line for line in (ROOT / "note_service" / "requirements.txt").read_text().splitlines()
                if line.startswith("gunicorn=="))  # fmt: skip
    return line.strip()


def ensure_venv() -> Path:
    python = VENV / "bin" / "python"
    stamp = VENV / ".installed"
    if not stamp.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        requirements = ["-r", str(PERF / "requirements.txt"), _gunicorn_pin()]
        subprocess.run([str(python), "-m", "pip", "install", "-q", *requirements], check=True)
        stamp.touch()
    return VENV / "bin"


def compare_module():
    """``../shared/perf/compare.py`` (its ``wrk`` runs one measurement)."""
    spec = importlib.util.spec_from_file_location("perf_compare", PERF / "compare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def baseline_database(stack: BenchStack, name: str) -> str:
    """The database of baseline ``name`` (seed, ceiling) beside ``stack``: its run's own."""
    return f"{stack.prefix}_perf_{name}"


@contextlib.contextmanager
def baselines(stack: BenchStack, *, workers: int = 2) -> Iterator[dict[str, str]]:
    """The seed-style and ceiling apps listening; yields their base URLs."""
    bin_dir = ensure_venv()
    urls, processes = {}, []
    try:
        for name, database, env in (
            ("seed", baseline_database(stack, "seed"), {"PERF_KAFKA": stack.broker.bootstrap_servers}),
            ("ceiling", baseline_database(stack, "ceiling"), {"PERF_JWT_KEY": stack.env["JWT_SIGNING_KEY"]}),
        ):
            app = PERF / ("seedstyle" if name == "seed" else "ceiling")
            recreate_database(database)
            child_env = {**os.environ, "PERF_DB": database, **env}
            subprocess.run([str(bin_dir / "python"), "manage.py", "migrate", "-v", "0"], cwd=app, env=child_env,
                           check=True)  # fmt: skip
            port = free_port()
            log = (stack.log_dir / f"baseline-{name}.log").open("ab")
            processes.append(subprocess.Popen(
                [str(bin_dir / "gunicorn"), "wsgi:application", "-b", f"127.0.0.1:{port}", "-w", str(workers)],
                cwd=app, env=child_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            ))  # fmt: skip
            urls[name] = f"http://127.0.0.1:{port}"
        for url in urls.values():
            _wait(url)
        yield urls
    finally:
        for process in processes:
            process.terminate()
            process.wait(20)
        for name in ("seed", "ceiling"):
            drop_database(baseline_database(stack, name))


def _wait(url: str, timeout: float = 60) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            http_get(url, "/api/notes/")
            return
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer")
