"""The embedded Tansu broker: lifecycle, a real produce/consume round trip, restart, and the CLI."""

from __future__ import annotations

import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from servicekit.devstack.embedded_broker import (
    EMBEDDED_CONSUMER_TUNING,
    EMBEDDED_PRODUCER_TUNING,
    BrokerStartError,
    EmbeddedBroker,
    _api_versions_ok,
    free_port,
)

confluent_kafka = pytest.importorskip("confluent_kafka")
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def process_gone(pid: int) -> bool:
    """True once ``pid`` no longer runs (a zombie awaiting its reaper counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def topics_of(broker: EmbeddedBroker) -> dict[str, int]:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers, "allow.auto.create.topics": False})
    return {name: len(t.partitions) for name, t in admin.list_topics(timeout=5).topics.items()}


def producer(broker: EmbeddedBroker) -> Producer:
    return Producer({"bootstrap.servers": broker.bootstrap_servers, "acks": "all", **EMBEDDED_PRODUCER_TUNING})


def produce(p: Producer, topic: str, value: bytes, **kwargs: object) -> None:
    errors: list[object] = []
    p.produce(topic, value, on_delivery=lambda err, msg: errors.append(err), **kwargs)
    assert p.flush(10) == 0
    assert errors == [None]


def read_all(consumer: Consumer, count: int, timeout: float = 15) -> list:
    messages, deadline = [], time.monotonic() + timeout
    while len(messages) < count and time.monotonic() < deadline:
        message = consumer.poll(0.1)
        if message is not None:
            assert message.error() is None, message.error()
            messages.append(message)
    return messages


def test_start_answers_kafka_and_stop_ends_the_process(tmp_path):
    broker = EmbeddedBroker(log_path=tmp_path / "broker.log")
    assert not broker.is_running
    broker.start()
    try:
        assert broker.bootstrap_servers == f"127.0.0.1:{broker.port}"
        assert broker.is_running and _api_versions_ok("127.0.0.1", broker.port, timeout=1)
        assert broker.version[0].isdigit()
        assert broker.start() is broker  # starting a running broker is a no-op
        pid = broker.pid
    finally:
        broker.stop()
    assert broker.pid is None and not listening(broker.port)
    assert process_gone(pid)
    broker.stop()  # idempotent
    assert "listening on: tcp://127.0.0.1" in (tmp_path / "broker.log").read_text()


def test_a_taken_port_is_a_clear_error():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(BrokerStartError, match="already in use") as excinfo:
            EmbeddedBroker(port).start()
        assert excinfo.value.port_taken


def test_a_broker_that_dies_at_start_is_reported_with_its_output(tmp_path):
    fake = tmp_path / "tansu"
    fake.write_text("#!/bin/sh\necho 'boom: cannot start' >&2\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    with pytest.raises(BrokerStartError, match=r"(?s)status 3.*boom: cannot start"):
        EmbeddedBroker(binary=str(fake), startup_timeout=5).start()


def test_produce_and_consume_round_trip_with_key_headers_and_commit():
    topic = "round_trip"
    with EmbeddedBroker(topics={topic: 3}) as broker:
        assert topics_of(broker) == {topic: 3}
        p = producer(broker)
        headers = [("content-type", b"application/cloudevents+json"), ("ce-id", b"42")]
        for i in range(6):
            produce(p, topic, f"value-{i}".encode(), key=f"entity-{i % 2}".encode(), headers=headers)

        group = f"group-{uuid.uuid4()}"
        settings = {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            **EMBEDDED_CONSUMER_TUNING,
        }
        consumer = Consumer(settings)
        consumer.subscribe([topic])
        messages = read_all(consumer, 6)
        assert sorted(m.value() for m in messages) == [f"value-{i}".encode() for i in range(6)]
        assert all(m.headers() == headers for m in messages)
        # One key, one partition: per-entity order is kept.
        by_key: dict[bytes, set[int]] = {}
        for m in messages:
            by_key.setdefault(m.key(), set()).add(m.partition())
        assert set(by_key) == {b"entity-0", b"entity-1"} and all(len(parts) == 1 for parts in by_key.values())

        for m in messages:
            consumer.store_offsets(m)
        consumer.commit(asynchronous=False)
        committed = consumer.committed([TopicPartition(topic, n) for n in range(3)], timeout=5)
        assert sum(max(tp.offset, 0) for tp in committed) == 6
        consumer.close()


def test_restart_keeps_the_port_and_comes_back_empty_with_its_topics():
    with EmbeddedBroker(topics={"outage": 1}) as broker:
        port, pid = broker.port, broker.pid
        p = producer(broker)
        produce(p, "outage", b"before")

        broker.stop()
        assert not listening(port)
        # Written while the broker is down: the producer holds it until the broker is back.
        delivered: list[object] = []
        p.produce("outage", b"during", on_delivery=lambda err, msg: delivered.append(err))
        p.poll(0.2)
        broker.start()
        assert broker.port == port and broker.pid != pid
        assert topics_of(broker) == {"outage": 1}  # re-created, not auto-created with 4 partitions
        assert p.flush(10) == 0 and delivered == [None]

        consumer = Consumer(
            {"bootstrap.servers": broker.bootstrap_servers, "group.id": "restart", "fetch.wait.max.ms": 50}
        )
        consumer.assign([TopicPartition("outage", 0, 0)])
        # Memory storage: "before" went with the old broker, "during" was delivered to the new one.
        assert [m.value() for m in read_all(consumer, 1, timeout=5)] == [b"during"]
        consumer.close()

        broker.restart()
        assert broker.port == port and topics_of(broker) == {"outage": 1}


def run_cli(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "servicekit.devstack.embedded_broker", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, proc.stdout.readline().strip()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_cli_runs_in_the_foreground_and_stops_on_a_signal(sig):
    port = free_port()
    proc, banner = run_cli("--port", str(port), "--topic", "cli_events:2")
    try:
        assert banner.startswith("embedded Kafka broker (Tansu "), (banner, proc.stderr.read())
        assert banner.endswith(f") on 127.0.0.1:{port}")
        assert _api_versions_ok("127.0.0.1", port, timeout=1)
        admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}", "allow.auto.create.topics": False})
        assert len(admin.list_topics(timeout=5).topics["cli_events"].partitions) == 2

        started = time.monotonic()
        proc.send_signal(sig)
        assert proc.wait(10) == 0
        assert time.monotonic() - started < 3
        assert not listening(port)  # the broker child went with it
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_cli_fails_clearly_when_the_port_is_taken():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        proc = subprocess.run(
            [sys.executable, "-m", "servicekit.devstack.embedded_broker", "--port", str(holder.getsockname()[1])],
            capture_output=True,
            text=True,
            timeout=20,
        )
    assert proc.returncode == 1
    assert "already in use" in proc.stderr
