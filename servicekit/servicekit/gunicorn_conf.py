"""gunicorn settings for every web service, from the environment (`make run` and compose
both run ``gunicorn config.wsgi:application --config python:servicekit.gunicorn_conf``).
"""

import os
import shutil
import tempfile

from servicekit.settings import env as _env

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# gunicorn's sync worker, answering the requests it cannot parse with JSON, not HTML.
worker_class = "servicekit.gunicorn_worker.JSONErrorWorker"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 10
# Load the app once in the master: workers share its memory pages (copy-on-write).
preload_app = True
# Worker heartbeats on a tmpfs, not a container's (possibly slow or read-only) disk.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - gunicorn's own advice
# Requests are logged by servicekit.http.RequestLogMiddleware, once, in the app's format.
accesslog = None

# Prometheus multiprocess mode (servicekit.metrics): each worker keeps its figures in files
# of one directory, which /metrics adds up. The directory is this server's own, created
# before the application is loaded (prometheus-client reads the variable at import) and
# removed at exit; one the operator sets is emptied first, as figures of an earlier run
# would count again.
_METRICS = _env("METRICS_ENABLED", default=True, cast=bool)
if _METRICS:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        _metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]
        os.makedirs(_metrics_dir, exist_ok=True)
        for _name in os.listdir(_metrics_dir):
            if _name.endswith(".db"):
                os.remove(os.path.join(_metrics_dir, _name))
        _own_dir = False
    else:
        _metrics_dir = tempfile.mkdtemp(prefix=f"prometheus-{os.path.basename(os.getcwd())}-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir
        _own_dir = True


def child_exit(server, worker) -> None:
    """A worker's live gauges leave with it (its counters stay in the sums)."""
    if _METRICS:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    if _METRICS and _own_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)


def when_ready(server) -> None:
    """After the app is loaded, before the first fork: move every object the master made
    into the collector's permanent generation, so that a worker's garbage collections do
    not write to (and so copy) the pages it shares with the master."""
    import gc

    gc.freeze()
