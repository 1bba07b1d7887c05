"""The production values that .env.example documents pass Django's deployment checks in
every service (``manage.py check --deploy --fail-level WARNING``), with real random keys;
its development values do not, so the check can fail."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from servicekit.devstack.launcher import SERVICES

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / ".env.example").read_text()
#: What Django reports with .env.example's own values (DEBUG off: the cookies are secure
#: already): no HSTS, no redirect to HTTPS.
PLAIN_HTTP_WARNINGS = {"security.W004", "security.W008"}


def example_values() -> dict[str, str]:
    """The ``VAR=value`` lines, placeholders replaced by fresh secrets as `make env` does."""
    values = dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", EXAMPLE, re.MULTILINE))
    return {name: secrets.token_urlsafe(48) if "change-me" in value else value for name, value in values.items()}


def production_values() -> dict[str, str]:
    """The ``# production: VAR=value`` lines."""
    return dict(re.findall(r"^# production: ([A-Z][A-Z0-9_]*)=(.*)$", EXAMPLE, re.MULTILINE))


def deploy_check(directory: str, values: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", **values, "DATABASE_URL": f"sqlite:///{tmp_path / 'check.sqlite3'}"}
    command = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    return subprocess.run(command, cwd=ROOT / directory, env=env, capture_output=True, text=True, timeout=120,
                          check=False)  # fmt: skip


def test_env_example_documents_a_production_value_for_each_https_setting():
    assert {"DEBUG", "ALLOWED_HOSTS", "TRUST_X_FORWARDED_PROTO", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS",
            "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD"} <= set(production_values())  # fmt: skip
    assert production_values()["DEBUG"] == "False"


@pytest.mark.parametrize("directory", [spec.directory for spec in SERVICES])
def test_the_production_values_pass_the_deployment_checks(directory, tmp_path):
    result = deploy_check(directory, {**example_values(), **production_values()}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize("directory", [spec.directory for spec in SERVICES])
def test_the_development_values_do_not(directory, tmp_path):
    result = deploy_check(directory, example_values(), tmp_path)
    assert result.returncode != 0
    assert set(re.findall(r"security\.W\d+", result.stderr)) == PLAIN_HTTP_WARNINGS
