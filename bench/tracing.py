"""What metrics and traces cost the request path: note create, measured in alternation on
three note_service web servers of one stack (same database, relay and consumer running):

- metrics off (``METRICS_ENABLED=False``): the build before metrics, as near as it gets;
- the default: metrics on, tracing off (``OTEL_EXPORTER_OTLP_ENDPOINT`` unset);
- tracing on, exporting every span over OTLP/HTTP to a local sink that answers 200.

Figures are the median of the rounds, with their ratio to the metrics-off run and the
machine's load (``uptime``); CPU per request counts the web server and its PostgreSQL
backends.
"""

from __future__ import annotations

import argparse
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench.harness import BenchStack, backend_pids, load, report, wait_ready
from bench.request_path import NOTES, PIPELINE, _lines, _measure
from servicekit.devstack.launcher import stack_processes
from tests.e2e.stack import free_port

VARIANTS = {
    "metrics off": {"METRICS_ENABLED": "False"},
    "metrics on, tracing off": {},
    "metrics on, tracing on": None,  # the sink's address, once it listens
}


class _Sink(BaseHTTPRequestHandler):
    """An OTLP/HTTP collector that reads and drops what it gets (counting the requests)."""

    received = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).received += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def otlp_sink() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def start_web_note(stack: BenchStack, name: str, env: dict[str, str]) -> str:
    """One more note_service web server (the stack's command) on a port of its own; its URL."""
    port = str(free_port())
    process = next(p for p in stack_processes({**stack.env, "NOTE_PORT": port}) if p.name == "web-note")
    log = (stack.log_dir / f"{name}.log").open("ab")
    stack.running[name] = subprocess.Popen(process.argv, cwd=process.cwd, env={**process.env, **env}, stdout=log,
                                           stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    return f"http://127.0.0.1:{port}"


def tracing_cost(rounds: int, secs: int, conns: int, workers: int) -> None:
    with otlp_sink() as sink, BenchStack(extra_env={"WEB_CONCURRENCY": str(workers)}) as stack:
        for name in PIPELINE:
            stack.start(name)
        token = stack.token(uuid.uuid4())
        targets = {}
        for index, (variant, env) in enumerate(VARIANTS.items()):
            name = f"web-note-{index}"
            url = start_web_note(stack, name, env if env is not None else {"OTEL_EXPORTER_OTLP_ENDPOINT": sink})

            def cpu(name: str = name) -> list[int]:
                return [*stack.pids(name), *backend_pids(stack.database("note"))]

            targets[variant] = ("POST", url + NOTES, token, cpu)
            wait_ready(url)
        results = _measure(targets, rounds, secs, conns)
        report(f"note create: metrics and tracing, wrk {conns} connections, {secs} s x {rounds}, "
               f"{workers} gunicorn workers each, PostgreSQL",
               [*_lines(results, "metrics off"), f"OTLP export requests received by the sink: {_Sink.received}",
                f"uptime: {load()}"])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--secs", type=int, default=6)
    parser.add_argument("--conns", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    print(f"metrics and tracing benchmark, {load()}", flush=True)
    tracing_cost(args.rounds, args.secs, args.conns, args.workers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
