"""The README's curl tour, run as written against the stack's gateway (only its URL and the
email are swapped for this run's)."""

import re
import subprocess
import uuid
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def tour_script() -> str:
    text = README.read_text()
    return re.search(r"## A tour with curl.*?```bash\n(.*?)```", text, re.S).group(1)


#: The answers of the tour that carry only a detail, none of them an error.
DETAILS = {
    "Logged out.",
    "If an account has this email, a link to reset its password is on its way.",
    "Password changed: log in with the new one.",
    "Logged out everywhere (1 session(s) ended).",
}


def test_the_readme_tour_works_as_written(stack, tmp_path):
    script = tour_script()
    assert script.startswith("API=http://127.0.0.1:8000 "), "the tour goes through the gateway"
    script = f"API={stack.gateway}" + script[script.index(" ") :]
    run = uuid.uuid4().hex[:8]
    script = re.sub(r"\bada((?:\.[a-z]+)?)@example\.com", lambda m: f"ada{m[1]}-{run}@example.com", script)
    # The tour reads the reset email where `make run` keeps web-user's output.
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "log").symlink_to(stack.log_dir)
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # -w '%{http_code}': the post deleted, a session ended, the old token refused, the account deleted
    assert re.findall(r"(?:^|[}\n])(\d{3})\n", out) == ["204", "204", "401", "204"]
    assert '"title":"Hello again"' in out and '"content":"milk, eggs, bread"' in out
    assert '"type":"note.created"' in out  # consumer_service saw it through Kafka
    assert f'"email":"ada.lovelace-{run}@example.com"' in out
    assert out.count('"current":true') == 1 and out.count('"current":false') == 1  # the two sessions
    errors = [m for m in re.findall(r'\{"detail":"([^"]*)"\}', out) if m not in DETAILS]
    assert errors == []
    assert re.findall(r'\{"[a-z_]+":\["', out) == []  # no field errors either
