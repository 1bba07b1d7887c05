"""gunicorn settings for every web service, from the environment (`make run` and compose
both run ``gunicorn config.wsgi:application --config python:servicekit.gunicorn_conf``).
"""

import os

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


def when_ready(server) -> None:
    """After the app is loaded, before the first fork: move every object the master made
    into the collector's permanent generation, so that a worker's garbage collections do
    not write to (and so copy) the pages it shares with the master."""
    import gc

    gc.freeze()
