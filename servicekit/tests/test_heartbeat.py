import os
import time

from servicekit.heartbeat import Heartbeat, main


def test_fresh_stale_and_missing_heartbeat(tmp_path):
    path = tmp_path / "heartbeat"
    assert main([str(path)]) == 1
    Heartbeat(str(path)).beat()
    assert main([str(path), "--max-age", "60"]) == 0
    old = time.time() - 120
    os.utime(path, (old, old))
    assert main([str(path), "--max-age", "60"]) == 1


def test_heartbeat_is_off_without_a_path(tmp_path, monkeypatch):
    monkeypatch.delenv("HEARTBEAT_FILE", raising=False)
    Heartbeat().beat()  # nothing to touch, nothing raised
    assert not list(tmp_path.iterdir())


def test_loops_of_one_process_share_the_file_and_one_stuck_loop_lets_it_go_stale(tmp_path, monkeypatch):
    from servicekit import heartbeat

    monkeypatch.setattr(heartbeat.Heartbeat, "_loops", {})
    path = tmp_path / "heartbeat"
    relay, consumer = heartbeat.Heartbeat(str(path), loop="relay"), heartbeat.Heartbeat(str(path), loop="consumer")
    clock = [1000.0]
    monkeypatch.setattr(heartbeat.time, "monotonic", lambda: clock[0])
    relay.beat()
    consumer.beat()
    assert path.exists()
    path.unlink()
    clock[0] += heartbeat.STUCK_SECONDS + 1  # the consumer is stuck; the relay still beats
    relay.beat()
    assert not path.exists()
    consumer.beat()
    clock[0] += 2
    relay.beat()
    assert path.exists()
