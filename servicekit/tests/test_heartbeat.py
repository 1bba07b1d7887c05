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
