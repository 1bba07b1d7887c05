"""servicekit.testkit.service: what the service's management commands get when a test starts them."""

import json
import subprocess

from servicekit.testkit.service import manage_py

PRINT_KAFKA_SETTINGS = "import json; from django.conf import settings; print(json.dumps(settings.KAFKA))"


def test_manage_py_gives_the_child_the_kafka_settings_of_the_test(settings):
    # The kafka fixture's kind of tuning, none of it a default: a child that missed one
    # would show the default instead.
    tuned = {
        "BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "SESSION_TIMEOUT_MS": 6001,
        "FETCH_WAIT_MAX_MS": 21,
        "DELIVERY_TIMEOUT_MS": 3001,
        "IDEMPOTENCE": False,
    }
    settings.KAFKA = {**settings.KAFKA, **tuned}
    child = manage_py("shell", "--no-imports", "-c", PRINT_KAFKA_SETTINGS, stdout=subprocess.PIPE)
    output, _ = child.communicate(timeout=60)
    assert child.returncode == 0
    seen = json.loads(output)
    assert {key: seen[key] for key in tuned} == tuned
