"""The supervisor of ``make run`` (servicekit.devstack.supervisor): prefixed output, one log
file per process, and every process stopped when one exits or when it is asked to stop."""

import io
import os
import signal
import sys
import threading
import time
from pathlib import Path

from servicekit.devstack.supervisor import Process, Supervisor


def python(name: str, code: str, tmp_path: Path) -> Process:
    return Process(name, [sys.executable, "-u", "-c", code], tmp_path, dict(os.environ))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_process_that_exits_stops_the_others_and_gives_its_status(tmp_path):
    out = io.StringIO()
    sleeper = python("sleeper", "import time; print('up', flush=True); time.sleep(60)", tmp_path)
    failing = python("failing", "import time, sys; time.sleep(0.5); print('bye'); sys.exit(3)", tmp_path)
    supervisor = Supervisor([sleeper, failing], log_dir=tmp_path / "log", out=out)

    assert supervisor.run() == 3

    assert not alive(supervisor.running["sleeper"].pid)
    text = out.getvalue()
    assert "sleeper | up\n" in text and "failing | bye\n" in text
    assert "failing exited with status 3: stopping everything" in text
    # Each process's own output in its own file, unprefixed.
    assert (tmp_path / "log" / "sleeper.log").read_text() == "up\n"
    assert (tmp_path / "log" / "failing.log").read_text() == "bye\n"


def test_sigterm_stops_every_process_and_exits_0(tmp_path):
    out = io.StringIO()
    processes = [python(f"p{i}", "import time; print('up', flush=True); time.sleep(60)", tmp_path) for i in range(2)]
    supervisor = Supervisor(processes, log_dir=tmp_path, out=out)

    def terminate_when_up() -> None:
        while out.getvalue().count("| up") < 2:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)  # the supervisor's own handler, in the main thread

    threading.Thread(target=terminate_when_up, daemon=True).start()
    started = time.monotonic()
    assert supervisor.run() == 0
    assert time.monotonic() - started < 10
    assert not any(alive(child.pid) for child in supervisor.running.values())
    assert "p0 stopped (-15)" in out.getvalue()
