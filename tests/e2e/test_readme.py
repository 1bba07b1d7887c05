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


def test_the_readme_tour_works_as_written(stack, tmp_path):
    script = tour_script()
    assert script.startswith("API=http://127.0.0.1:8000 "), "the tour goes through the gateway"
    script = f"API={stack.gateway}" + script[script.index(" ") :]
    script = script.replace("ada@example.com", f"ada-{uuid.uuid4().hex[:8]}@example.com")
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert len(re.findall(r"(?:^|[}\n])204\n", out)) == 2  # the post and the account deleted (-w '%{http_code}')
    assert '"title":"Hello again"' in out and '"content":"milk, eggs, bread"' in out
    assert '"type":"note.created"' in out  # consumer_service saw it through Kafka
    errors = [m for m in re.findall(r'\{"detail":"[^"]*"\}', out) if m != '{"detail":"Logged out."}']
    assert errors == []
