"""Development secrets: random, generated once per checkout, never a constant in the code.

- ``make run`` (and the single-service targets) take ``SECRET_KEY`` and
  ``JWT_SIGNING_KEY`` from :data:`DEV_SECRETS_FILE` (``var/dev-secrets.env``, git-ignored),
  writing it with fresh random values the first time. They survive restarts; ``make clean``
  removes them with the databases.
- ``make env`` writes ``.env`` for docker compose from ``.env.example``, with a fresh
  random value for every placeholder (``change-me-...``) and a new Kafka cluster id.

The services refuse the placeholders themselves at startup (``servicekit.checks``), so a
copied ``.env.example`` never signs a token.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DEV_SECRETS_FILE = ROOT / "var" / "dev-secrets.env"
#: What ``make run`` generates; anything the environment or ``.env`` sets wins.
DEV_SECRET_NAMES = ("SECRET_KEY", "JWT_SIGNING_KEY")
PLACEHOLDER = re.compile(r"^(?P<name>[A-Z0-9_]+)=(?P<value>change-me\S*)$", re.MULTILINE)


def new_secret() -> str:
    """64 URL-safe characters (48 random bytes): fine as a Django secret, an HS256 key or a password."""
    return secrets.token_urlsafe(48)


def _parse(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            values[name.strip()] = value.strip()
    return values


def dev_secrets(path: Path = DEV_SECRETS_FILE) -> dict[str, str]:
    """The development secrets of this checkout, created (mode 0600) on first use."""
    existing = _parse(path.read_text()) if path.exists() else {}
    missing = [name for name in DEV_SECRET_NAMES if not existing.get(name)]
    if missing:
        existing |= {name: new_secret() for name in missing}
        path.parent.mkdir(parents=True, exist_ok=True)
        body = "".join(f"{name}={existing[name]}\n" for name in DEV_SECRET_NAMES)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write("# Development secrets of this checkout (make run). Never commit or reuse them.\n" + body)
    return {name: existing[name] for name in DEV_SECRET_NAMES}


def kafka_cluster_id() -> str:
    """A KRaft cluster id: a UUID as 22 characters of unpadded base64url."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


def env_file_from_example(example: str) -> str:
    """``.env.example``'s text with every ``change-me`` placeholder replaced by a fresh secret."""
    text = PLACEHOLDER.sub(lambda m: f"{m['name']}={new_secret()}", example)
    return re.sub(r"^KAFKA_CLUSTER_ID=\S*$", f"KAFKA_CLUSTER_ID={kafka_cluster_id()}", text, flags=re.MULTILINE)


def write_env_file(target: Path = ROOT / ".env", *, force: bool = False) -> Path:
    """Writes ``target`` (mode 0600) from ``.env.example``. Refuses to overwrite unless ``force``."""
    if target.exists() and not force:
        raise FileExistsError(f"{target} exists; keep it, or remove it (or FORCE=1) to write a new one")
    text = env_file_from_example((ROOT / ".env.example").read_text())
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    return target
