"""docker-compose.yml, the Dockerfiles and .env.example, checked against the code.

No Docker engine is needed (`docker compose config` cannot run in CI): the files are
parsed with PyYAML, interpolated with the values of .env.example the way compose does,
and checked for what compose would reject plus the project's rules: every service has an
image, every command the containers run exists, every variable is documented, and every
long-running container is health-checked and started in order.

Run: `.venv/bin/pytest tests/compose -q -p no:django` from the repository root.
"""

from __future__ import annotations

import ast
import copy
import json
import re
import sys
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import django
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERIGNORE = ROOT / ".dockerignore"

SERVICE_DIRS = ("user_service", "post_service", "note_service", "consumer_service")
# DESIGN.md: default ports of the web services; the broker's host listener; optional UI.
WEB_PORTS = {"user_service": 8001, "post_service": 8002, "note_service": 8003, "consumer_service": 8004}
KAFKA_HOST_PORT = 9092
KAFKA_UI_PORT = 8080
ALLOWED_HOST_PORTS = {*WEB_PORTS.values(), KAFKA_HOST_PORT, KAFKA_UI_PORT}
# The long-running roles the stack needs (issue: containers), by management command.
RELAY_SERVICES = {"user_service", "post_service", "note_service"}
CONSUMER_SERVICES = {"post_service", "note_service", "consumer_service"}
# Never in an image (dev and test tooling, the embedded broker).
DEV_ONLY = ("pytest", "ruff", "calfkit", "honcho", "requirements-dev")
SECRET_NAME = re.compile(r"SECRET|PASSWORD|SIGNING_KEY|PRIVATE_KEY")

TOP_LEVEL_KEYS = {"name", "services", "volumes", "networks", "configs", "secrets", "include"}
SERVICE_KEYS = {
    "build", "cap_add", "cap_drop", "command", "configs", "container_name", "cpus", "depends_on",
    "deploy", "develop", "entrypoint", "env_file", "environment", "expose", "extra_hosts",
    "healthcheck", "hostname", "image", "init", "labels", "logging", "mem_limit", "networks",
    "platform", "ports", "profiles", "pull_policy", "read_only", "restart", "secrets",
    "security_opt", "shm_size", "stop_grace_period", "stop_signal", "sysctls", "tmpfs",
    "ulimits", "user", "volumes", "working_dir",
}  # fmt: skip
HEALTHCHECK_KEYS = {"test", "interval", "timeout", "retries", "start_period", "start_interval", "disable"}
RESTART_POLICIES = {"no", "always", "unless-stopped", "on-failure"}
DEPENDS_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
DURATION = re.compile(r"^(\d+(\.\d+)?(us|ms|s|m|h))+$")

# Compose interpolation: $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default},
# ${VAR:?error}, ${VAR?error}, ${VAR:+alt}, ${VAR+alt}.
INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<invalid>))"
)


# --- reading the files ------------------------------------------------------------------


class MissingVariableError(Exception):
    """A ${VAR:?message} whose variable is unset: compose stops with the message."""


@cache
def compose_raw() -> dict[str, Any]:
    """The YAML as written (anchors and merge keys resolved, nothing interpolated)."""
    doc = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(doc, dict), "docker-compose.yml is not a mapping"
    return doc


def env_example_lines() -> list[str]:
    return ENV_EXAMPLE.read_text().splitlines()


@cache
def env_example() -> tuple[dict[str, str], frozenset[str]]:
    """(values of the uncommented VAR=value lines, names of the commented `# VAR=` ones)."""
    values: dict[str, str] = {}
    commented: set[str] = set()
    for line in env_example_lines():
        if m := re.match(r"^([A-Z][A-Z0-9_]*)=(.*)$", line):
            value = m[2]
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            values[m[1]] = value
        elif m := re.match(r"^#\s*([A-Z][A-Z0-9_]*)=", line):
            commented.add(m[1])
    return values, frozenset(commented)


def interpolate(text: str, env: Mapping[str, str]) -> str:
    def replace(m: re.Match[str]) -> str:
        if m["escaped"]:
            return "$"
        if m["invalid"] is not None and not m["braced"] and not m["named"]:
            raise ValueError(f"invalid interpolation in {text!r}")
        name = m["braced"] or m["named"]
        op, arg = m["op"], m["arg"] or ""
        assert "${" not in arg, f"nested interpolation is not supported here: {text!r}"
        value = env.get(name)
        set_nonempty = bool(value)
        if op in (":-", "-"):
            use_default = not set_nonempty if op == ":-" else value is None
            return arg if use_default else value
        if op in (":?", "?"):
            missing = not set_nonempty if op == ":?" else value is None
            if missing:
                raise MissingVariableError(f"{name}: {arg}")
            return value
        if op in (":+", "+"):
            present = set_nonempty if op == ":+" else value is not None
            return arg if present else ""
        return value or ""

    return INTERPOLATION.sub(replace, text)


def render(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [render(item, env) for item in node]
    if isinstance(node, dict):
        return {key: render(value, env) for key, value in node.items()}
    return node


@cache
def compose() -> dict[str, Any]:
    """The configuration compose would run with `cp .env.example .env`."""
    values, _ = env_example()
    return render(copy.deepcopy(compose_raw()), values)


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)


def variables_used() -> dict[str, set[str]]:
    """Each ${VAR} in the compose file -> the operators it is used with ('' = plain)."""
    used: dict[str, set[str]] = {}
    for text in strings(compose_raw()):
        for m in INTERPOLATION.finditer(text):
            if name := m["braced"] or m["named"]:
                used.setdefault(name, set()).add(m["op"] or "")
    return used


def is_one_shot(service: Mapping[str, Any]) -> bool:
    # YAML 1.1 reads an unquoted `no` as False; compose would reject that, tested below.
    return service.get("restart") in ("no", False)


def service_dir_of(service: Mapping[str, Any]) -> str | None:
    """The repository directory whose Dockerfile builds this container's image."""
    build = service.get("build")
    if not isinstance(build, dict):
        return None
    return Path(build.get("dockerfile", "Dockerfile")).parent.as_posix()


def command_of(service: Mapping[str, Any]) -> list[str]:
    command = service.get("command")
    return command if isinstance(command, list) else []


def manage_py_command(argv: list[str]) -> str | None:
    if "manage.py" in argv:
        rest = argv[argv.index("manage.py") + 1 :]
        return rest[0] if rest else None
    return None


def app_services(dir_name: str | None = None) -> dict[str, dict[str, Any]]:
    return {
        name: svc
        for name, svc in services().items()
        if service_dir_of(svc) and (dir_name is None or service_dir_of(svc) == dir_name)
    }


def running(dir_name: str, command: str) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in app_services(dir_name).items() if manage_py_command(command_of(s)) == command}


def web_services(dir_name: str) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in app_services(dir_name).items() if command_of(s)[:1] == ["gunicorn"]}


def host_ports(service: Mapping[str, Any]) -> list[tuple[int | None, int]]:
    """(host port or None when compose would pick one, container port) of each mapping."""
    result = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            published = port.get("published")
            result.append((int(published) if published else None, int(port["target"])))
            continue
        parts = str(port).split("/")[0].rsplit(":", 2)
        container = int(parts[-1])
        host = parts[-2] if len(parts) >= 2 else ""
        result.append((int(host) if host else None, container))
    return result


def depends_on(service: Mapping[str, Any]) -> dict[str, Any]:
    deps = service.get("depends_on", {})
    assert isinstance(deps, dict), "depends_on must be the long form (with conditions)"
    return deps


# --- Django management commands, found on disk -------------------------------------------


def _installed_apps(dir_name: str) -> set[str]:
    """INSTALLED_APPS of a service: servicekit's base list plus the service's `apps=[...]`."""
    apps: set[str] = set()
    base = ast.parse((ROOT / "servicekit" / "servicekit" / "settings.py").read_text())
    for node in ast.walk(base):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "INSTALLED_APPS" and isinstance(value, ast.List):
                    apps |= {e.value for e in value.elts if isinstance(e, ast.Constant)}
    own = ast.parse((ROOT / dir_name / "config" / "settings.py").read_text())
    for node in ast.walk(own):
        if isinstance(node, ast.keyword) and node.arg == "apps":
            apps |= set(ast.literal_eval(node.value))
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "INSTALLED_APPS" for t in node.targets
        ):
            apps |= {e.value for e in getattr(node.value, "elts", []) if isinstance(e, ast.Constant)}
    assert apps, f"no INSTALLED_APPS found for {dir_name}"
    return apps


@cache
def management_commands(dir_name: str) -> frozenset[str]:
    """Commands `manage.py` offers in a service: Django's own plus each installed app's."""
    django_core = Path(django.__file__).parent / "core" / "management" / "commands"
    found = {p.stem for p in django_core.glob("*.py") if not p.stem.startswith("_")}
    search_roots = [ROOT / dir_name, ROOT / "servicekit", *(Path(p) for p in sys.path if p)]
    for app in _installed_apps(dir_name):
        for base in search_roots:
            commands = base / app.replace(".", "/") / "management" / "commands"
            if commands.is_dir():
                found |= {p.stem for p in commands.glob("*.py") if not p.stem.startswith("_")}
                break
    return frozenset(found)


# --- Dockerfiles -----------------------------------------------------------------------


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        pending += " " + stripped
        if pending.endswith("\\"):
            pending = pending[:-1]
            continue
        keyword, _, args = pending.strip().partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        pending = ""
    return instructions


def base_images(path: Path) -> list[str]:
    """FROM images with the global ARG defaults substituted (build stages excluded)."""
    args: dict[str, str] = {}
    stages: set[str] = set()
    images = []
    for keyword, value in dockerfile_instructions(path):
        if keyword == "ARG" and "=" in value and not images:
            name, _, default = value.partition("=")
            args[name.strip()] = default.strip().strip('"')
        elif keyword == "FROM":
            parts = value.split()
            image = interpolate(parts[0], args)
            if image not in stages:
                images.append(image)
            if len(parts) == 3 and parts[1].upper() == "AS":
                stages.add(parts[2])
    return images


def dockerfile_commands(path: Path) -> list[list[str]]:
    """argv of each RUN (shell words, split at && and ;) and of the exec-form CMD."""
    argvs = []
    for keyword, value in dockerfile_instructions(path):
        if keyword == "RUN":
            for part in re.split(r"&&|;", re.sub(r"--mount=\S+", "", value)):
                argvs.append([w for w in part.split() if "=" not in w or w.startswith("-")])
        elif keyword in ("CMD", "ENTRYPOINT") and value.startswith("["):
            argvs.append(json.loads(value))
    return argvs


def image_tag_is_pinned(image: str) -> bool:
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    return bool(digest) or (":" in last and last.rsplit(":", 1)[1] not in ("", "latest"))


# --- structure: what compose itself would reject -------------------------------------------


def test_compose_file_has_a_valid_structure() -> None:
    raw = compose_raw()
    unknown = {k for k in raw if not k.startswith("x-")} - TOP_LEVEL_KEYS
    assert not unknown, f"unknown top-level keys: {unknown}"
    assert isinstance(raw.get("services"), dict) and raw["services"], "no services"
    declared_volumes = set(raw.get("volumes") or {})
    for name, svc in services().items():
        assert re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", name), f"invalid service name {name!r}"
        assert isinstance(svc, dict), name
        assert not set(svc) - SERVICE_KEYS, f"{name}: unknown keys {set(svc) - SERVICE_KEYS}"
        assert "image" in svc or "build" in svc, f"{name}: neither image nor build"
        assert "container_name" not in svc, f"{name}: container_name prevents scaling and parallel stacks"
        env = svc.get("environment", {})
        assert isinstance(env, dict), f"{name}: environment must be a mapping"
        for key, value in env.items():
            # Compose rejects booleans ("contains true, which is an invalid type").
            assert isinstance(value, str | int | float) and not isinstance(value, bool), (
                f"{name}: environment {key}={value!r} must be a string or a number (quote it)"
            )
        if "restart" in svc:
            restart = svc["restart"]
            assert isinstance(restart, str), f'{name}: restart must be a string (quote "no")'
            assert restart.split(":")[0] in RESTART_POLICIES, f"{name}: restart {restart!r}"
        if "command" in svc:
            assert isinstance(svc["command"], list), f"{name}: use the exec form (a list) for command"
            assert all(isinstance(a, str) for a in svc["command"]), f"{name}: command items must be strings"
        for port in svc.get("ports", []):
            # Unquoted "22:22" is a base-60 integer in YAML 1.1.
            assert isinstance(port, str | dict), f"{name}: quote the port mapping {port!r}"
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
            if source and not source.startswith((".", "/", "~")):
                assert source in declared_volumes, f"{name}: volume {source!r} is not declared"
        if "healthcheck" in svc:
            check = svc["healthcheck"]
            assert not set(check) - HEALTHCHECK_KEYS, f"{name}: unknown healthcheck keys"
            test = check.get("test")
            assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL", "NONE"), f"{name}: healthcheck test"
            for key in ("interval", "timeout", "start_period", "start_interval"):
                if key in check:
                    assert DURATION.match(str(check[key])), f"{name}: healthcheck {key}={check[key]!r}"
        for key in ("stop_grace_period",):
            if key in svc:
                assert DURATION.match(str(svc[key])), f"{name}: {key}={svc[key]!r}"
        for dep in depends_on(svc):
            assert dep in services(), f"{name}: depends on unknown service {dep!r}"


def test_interpolation_syntax_is_valid_everywhere() -> None:
    for text in strings(compose_raw()):
        for m in INTERPOLATION.finditer(text):
            assert m["invalid"] is None or m["braced"] or m["named"] or m["escaped"], f"bad $ in {text!r}"


# --- configuration: .env.example is the single source ------------------------------------


def test_every_variable_used_is_documented_in_env_example() -> None:
    values, commented = env_example()
    missing = set(variables_used()) - set(values) - commented
    assert not missing, f"used in docker-compose.yml but not in .env.example: {sorted(missing)}"


def test_compose_defaults_agree_with_env_example() -> None:
    values, _ = env_example()
    for text in strings(compose_raw()):
        for m in INTERPOLATION.finditer(text):
            name = m["braced"]
            if name and m["op"] in (":-", "-") and name in values:
                assert m["arg"] == values[name], (
                    f"${{{name}}} defaults to {m['arg']!r} in compose but .env.example says {values[name]!r}"
                )


def test_secrets_are_required_with_a_clear_message() -> None:
    for name, ops in variables_used().items():
        if SECRET_NAME.search(name) and name not in ("JWT_PRIVATE_KEY",):
            assert ops == {":?"}, f"{name} is a secret: use ${{{name}:?message}} only (used with {ops})"
    for text in strings(compose_raw()):
        for m in INTERPOLATION.finditer(text):
            if m["op"] == ":?":
                assert ".env" in m["arg"], f"the message for {m['braced']} should say how to set it"
    values, _ = env_example()
    for secret in ("SECRET_KEY", "JWT_SIGNING_KEY", "USER_DB_PASSWORD"):
        without = {k: v for k, v in values.items() if k != secret}
        with pytest.raises(MissingVariableError, match=secret):
            render(compose_raw(), without)


def test_env_example_documents_every_variable_with_a_comment() -> None:
    lines = env_example_lines()
    for i, line in enumerate(lines):
        if not re.match(r"^[A-Z][A-Z0-9_]*=", line):
            continue
        j = i - 1
        while j >= 0 and re.match(r"^[A-Z][A-Z0-9_]*=", lines[j]):
            j -= 1
        assert j >= 0 and lines[j].startswith("#"), f".env.example: {line.split('=')[0]} has no comment above it"


def test_no_secret_is_baked_into_compose() -> None:
    for name, svc in compose_raw()["services"].items():
        for key, value in svc.get("environment", {}).items():
            if SECRET_NAME.search(key) and value not in (None, ""):
                assert "${" in str(value), f"{name}: {key} is hard-coded; take it from .env"


# --- images --------------------------------------------------------------------------------


@pytest.mark.parametrize("dir_name", SERVICE_DIRS)
def test_each_service_has_a_dockerfile_and_an_image_built_from_the_root(dir_name: str) -> None:
    assert (ROOT / dir_name / "Dockerfile").is_file()
    built = app_services(dir_name)
    assert built, f"no compose service builds {dir_name}/Dockerfile"
    for name, svc in built.items():
        assert svc["build"].get("context") == ".", f"{name}: build from the repository root (context '.')"
        assert svc["build"]["dockerfile"] == f"{dir_name}/Dockerfile"
    images = {svc.get("image") for svc in built.values()}
    assert len(images) == 1 and None not in images, f"{dir_name}: one image name for all its containers: {images}"


def test_build_sections_point_at_existing_dockerfiles_and_images_are_distinct() -> None:
    image_of: dict[str, str] = {}
    for name, svc in services().items():
        if "build" in svc:
            dockerfile = ROOT / svc["build"].get("context", ".") / svc["build"].get("dockerfile", "Dockerfile")
            assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"
            image = svc.get("image", "")
            assert image_of.setdefault(image, str(dockerfile)) == str(dockerfile), f"{image} built twice"


def test_images_are_pinned() -> None:
    for name, svc in services().items():
        image = svc.get("image", "")
        assert image, f"{name}: name the image (and pin it)"
        assert image_tag_is_pinned(image), f"{name}: {image!r} is not pinned to a version"
    for dir_name in SERVICE_DIRS:
        for image in base_images(ROOT / dir_name / "Dockerfile"):
            assert image_tag_is_pinned(image), f"{dir_name}/Dockerfile: FROM {image} is not pinned"


@pytest.mark.parametrize("dir_name", SERVICE_DIRS)
def test_dockerfile_is_slim_non_root_and_free_of_dev_tools_and_secrets(dir_name: str) -> None:
    path = ROOT / dir_name / "Dockerfile"
    instructions = dockerfile_instructions(path)
    images = base_images(path)
    assert images and all("python" in i and "slim" in i for i in images), f"slim Python base: {images}"

    last_from = max(i for i, (k, _) in enumerate(instructions) if k == "FROM")
    users = [v for k, v in instructions[last_from:] if k == "USER"]
    assert users, "switch to a non-root USER in the final stage"
    assert users[-1].split(":")[0] not in ("root", "0"), f"runs as {users[-1]}"
    assert any(k == "RUN" and re.search(r"\b(useradd|adduser)\b", v) for k, v in instructions[last_from:]), (
        "create the non-root user"
    )

    text = path.read_text().lower()
    for tool in DEV_ONLY:
        assert tool not in text, f"{tool} must not be in the image"
    for line in (ROOT / dir_name / "requirements.txt").read_text().lower().splitlines():
        assert not line.startswith(DEV_ONLY), f"{dir_name}/requirements.txt installs a dev tool: {line}"

    copied = [v for k, v in instructions if k in ("COPY", "ADD")]
    for args in copied:
        sources = [w for w in args.split() if not w.startswith("--")][:-1]
        assert all(".env" not in s for s in sources), f"COPY of an env file: {args}"
        assert "." not in sources and "./" not in sources, f"copies the whole context: {args}"
    for keyword, value in instructions:
        if keyword in ("ENV", "ARG"):
            assert not SECRET_NAME.search(value.split("=")[0]), f"secret baked in: {keyword} {value}"
            assert "DATABASE_URL" not in value, f"{keyword} {value}"

    pip_installs = " ".join(v for k, v in instructions if k == "RUN" and "pip install" in v)
    assert "requirements.txt" in pip_installs and "servicekit" in pip_installs, "install requirements + servicekit"
    assert any(f"{dir_name}/requirements.txt" in v for v in copied), f"install {dir_name}/requirements.txt"
    assert any(v.split()[0] == "servicekit" for v in copied if v.split()), "COPY servicekit into the build"


@pytest.mark.parametrize("dir_name", SERVICE_DIRS)
def test_dockerfile_commands_exist(dir_name: str) -> None:
    path = ROOT / dir_name / "Dockerfile"
    for argv in dockerfile_commands(path):
        if command := manage_py_command(argv):
            assert command in management_commands(dir_name), f"{dir_name}/Dockerfile runs unknown {command}"
        if argv[:1] == ["gunicorn"]:
            assert_gunicorn_app_resolves(dir_name, argv)


def test_dockerignore_keeps_secrets_local_state_and_tests_out() -> None:
    patterns = [p.strip() for p in DOCKERIGNORE.read_text().splitlines() if p.strip() and not p.startswith("#")]
    allow_list = "*" in patterns
    assert allow_list or ".env" in patterns or "**/.env" in patterns
    assert "!.env" not in patterns and not any(p.startswith("!") and ".env" in p for p in patterns)
    if allow_list:
        assert "!.venv" not in patterns and "!.venv/" not in patterns
    else:
        assert ".venv" in patterns or ".venv/" in patterns
    for required in ("**/.env", "**/*.sqlite3", "**/tests/", "**/__pycache__/"):
        assert required in patterns, f".dockerignore should exclude {required}"


# --- commands: what the containers run exists in the code -----------------------------------


def assert_gunicorn_app_resolves(dir_name: str, argv: list[str]) -> None:
    apps = [a for a in argv[1:] if not a.startswith("-") and re.fullmatch(r"[\w.]+:\w+", a)]
    assert len(apps) == 1, f"gunicorn needs one module:callable, got {argv}"
    module, attr = apps[0].split(":")
    source = ROOT / dir_name / (module.replace(".", "/") + ".py")
    assert source.is_file(), f"gunicorn app {apps[0]}: {source} does not exist"
    assert re.search(rf"^{attr}\s*=", source.read_text(), re.M), f"{source} defines no {attr}"


def test_management_command_discovery_is_per_service() -> None:
    # Guards the helper: a command appears only where its app is installed.
    assert {"migrate", "ensure_topics", "collectstatic"} <= management_commands("user_service")
    assert "relay_outbox" in management_commands("user_service")
    assert "consume_events" not in management_commands("user_service")
    assert "relay_outbox" not in management_commands("consumer_service")
    assert "consume_events" in management_commands("consumer_service")


def test_every_manage_py_command_exists_in_its_service() -> None:
    for name, svc in app_services().items():
        dir_name = service_dir_of(svc)
        argv = command_of(svc)
        assert argv, f"{name}: give the command explicitly"
        assert (ROOT / dir_name / "manage.py").is_file(), f"{dir_name}/manage.py"
        if command := manage_py_command(argv):
            assert argv[0] == "python", f"{name}: run manage.py with python: {argv}"
            assert command in management_commands(dir_name), (
                f"{name}: `manage.py {command}` does not exist in {dir_name} (is its app installed?)"
            )
        elif argv[0] == "gunicorn":
            assert_gunicorn_app_resolves(dir_name, argv)
        else:
            pytest.fail(f"{name}: unexpected command {argv}")


@pytest.mark.parametrize("dir_name", SERVICE_DIRS)
def test_each_service_runs_its_roles(dir_name: str) -> None:
    webs = web_services(dir_name)
    assert len(webs) == 1, f"{dir_name}: one gunicorn web container, got {sorted(webs)}"
    migrations = running(dir_name, "migrate")
    assert len(migrations) == 1, f"{dir_name}: one migrate job"
    (job,) = migrations.values()
    assert is_one_shot(job) and "--no-input" in command_of(job)
    assert bool(running(dir_name, "relay_outbox")) == (dir_name in RELAY_SERVICES), f"{dir_name}: relay_outbox"
    assert bool(running(dir_name, "consume_events")) == (dir_name in CONSUMER_SERVICES), f"{dir_name}: consumer"


def test_topics_are_created_by_a_one_shot_job_from_the_user_service_image() -> None:
    jobs = running("user_service", "ensure_topics")
    assert len(jobs) == 1, "one topic-init job (user_service image running ensure_topics)"
    (job,) = jobs.values()
    assert is_one_shot(job)
    assert depends_on(job).get("kafka", {}).get("condition") == "service_healthy"


@pytest.mark.parametrize("dir_name", SERVICE_DIRS)
def test_web_service_is_published_on_its_design_port(dir_name: str) -> None:
    ((name, svc),) = web_services(dir_name).items()
    bind = next(a for a in command_of(svc) if a.startswith("--bind"))
    container_port = int(bind.rsplit(":", 1)[1])
    assert host_ports(svc) == [(WEB_PORTS[dir_name], container_port)], f"{name}: ports {svc.get('ports')}"
    probe = " ".join(svc["healthcheck"]["test"])
    assert f":{container_port}/readyz" in probe or f":{container_port}/healthz" in probe, probe


def test_only_documented_host_ports_are_published() -> None:
    for name, svc in services().items():
        for host, _ in host_ports(svc):
            assert host in ALLOWED_HOST_PORTS, f"{name}: publishes host port {host}"
            if host == KAFKA_UI_PORT:
                assert svc.get("profiles"), f"{name}: the Kafka UI is optional (under a compose profile)"


# --- health and start order -----------------------------------------------------------------


def test_every_long_running_service_has_a_healthcheck_and_a_restart_policy() -> None:
    for name, svc in services().items():
        if is_one_shot(svc):
            continue
        assert svc.get("restart") in ("always", "unless-stopped") or str(svc.get("restart")).startswith("on-failure"), (
            f"{name}: set a restart policy"
        )
        check = svc.get("healthcheck")
        assert check and check["test"][0] != "NONE" and not check.get("disable"), f"{name}: no healthcheck"


def test_depends_on_uses_conditions_that_match_the_dependency() -> None:
    for name, svc in services().items():
        for dep, spec in depends_on(svc).items():
            assert isinstance(spec, dict) and spec.get("condition") in DEPENDS_CONDITIONS, f"{name} -> {dep}"
            target = services()[dep]
            if is_one_shot(target):
                expected = "service_completed_successfully"
            else:
                expected = "service_healthy"
                assert "healthcheck" in target, f"{name} waits for {dep}, which has no healthcheck"
            assert spec["condition"] == expected, f"{name} -> {dep}: use {expected}"
            if not svc.get("profiles"):
                assert not target.get("profiles"), f"{name} depends on {dep}, which only runs in a profile"


def test_start_order_has_no_cycles() -> None:
    state: dict[str, str] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        if state.get(name) == "done":
            return
        assert state.get(name) != "visiting", f"dependency cycle: {' -> '.join((*path, name))}"
        state[name] = "visiting"
        for dep in depends_on(services()[name]):
            visit(dep, (*path, name))
        state[name] = "done"

    for name in services():
        visit(name, ())


def test_app_containers_wait_for_their_database_and_migrations() -> None:
    for name, svc in app_services().items():
        dir_name = service_dir_of(svc)
        deps = depends_on(svc)
        if manage_py_command(command_of(svc)) == "ensure_topics":
            continue
        db_host = urlsplit(svc["environment"]["DATABASE_URL"]).hostname
        assert deps.get(db_host, {}).get("condition") == "service_healthy", f"{name}: wait for {db_host}"
        if manage_py_command(command_of(svc)) != "migrate":
            (migrate,) = running(dir_name, "migrate")
            assert deps.get(migrate, {}).get("condition") == "service_completed_successfully", (
                f"{name}: wait for {migrate}"
            )


def test_workers_wait_for_kafka_and_topics_and_beat_a_heartbeat() -> None:
    (topics_job,) = running("user_service", "ensure_topics")
    for name, svc in app_services().items():
        if manage_py_command(command_of(svc)) not in ("relay_outbox", "consume_events"):
            continue
        deps = depends_on(svc)
        assert deps.get("kafka", {}).get("condition") == "service_healthy", f"{name}: wait for kafka"
        assert deps.get(topics_job, {}).get("condition") == "service_completed_successfully", f"{name}: topics"
        test = svc["healthcheck"]["test"]
        assert "servicekit.heartbeat" in test, f"{name}: check the heartbeat file"
        heartbeat = test[test.index("servicekit.heartbeat") + 1]
        assert svc["environment"].get("HEARTBEAT_FILE") == heartbeat, f"{name}: HEARTBEAT_FILE != {heartbeat}"


# --- PostgreSQL and Kafka ---------------------------------------------------------------------


def test_each_service_has_its_own_postgres() -> None:
    hosts = set()
    for dir_name in SERVICE_DIRS:
        urls = {svc["environment"].get("DATABASE_URL") for svc in app_services(dir_name).values()}
        assert len(urls) == 1, f"{dir_name}: its containers disagree on DATABASE_URL: {urls}"
        url = urlsplit(urls.pop())
        assert url.scheme in ("postgres", "postgresql"), f"{dir_name}: DATABASE_URL is not PostgreSQL"
        db = services()[url.hostname]
        assert db["image"].startswith("postgres:"), f"{url.hostname} is not a PostgreSQL container"
        env = db["environment"]
        assert (url.username, url.password, url.path.lstrip("/")) == (
            env["POSTGRES_USER"],
            env["POSTGRES_PASSWORD"],
            env["POSTGRES_DB"],
        ), f"{dir_name}: DATABASE_URL does not match {url.hostname}'s user/password/database"
        assert url.port in (None, 5432)
        assert any(v.endswith(":/var/lib/postgresql/data") for v in db.get("volumes", [])), "named data volume"
        assert "pg_isready" in " ".join(db["healthcheck"]["test"]), f"{url.hostname}: pg_isready healthcheck"
        hosts.add(url.hostname)
    assert len(hosts) == len(SERVICE_DIRS), "one database server per service"


def test_kafka_is_a_single_kraft_node_with_two_listeners_and_a_volume() -> None:
    for name, svc in services().items():
        assert "zookeeper" not in name and "zookeeper" not in svc.get("image", ""), f"{name}: no ZooKeeper"
        assert not any("ZOOKEEPER" in key for key in svc.get("environment", {})), f"{name}: KRaft only"
    kafka = services()["kafka"]
    assert kafka["image"].startswith("apache/kafka:"), "the official apache/kafka image"
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    listeners = dict(item.split("://") for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    host_listeners = {f"localhost:{KAFKA_HOST_PORT}", f"127.0.0.1:{KAFKA_HOST_PORT}"}
    assert host_listeners & set(listeners.values()), "a listener for the host"
    internal = {svc["environment"]["KAFKA_BOOTSTRAP_SERVERS"] for svc in app_services().values()}
    assert len(internal) == 1 and internal <= set(listeners.values()), f"containers use {internal}"
    assert host_ports(kafka) == [(KAFKA_HOST_PORT, KAFKA_HOST_PORT)]
    log_dir = env["KAFKA_LOG_DIRS"]
    volumes = {v.split(":")[1]: v.split(":")[0] for v in kafka["volumes"]}
    assert volumes.get(log_dir) in compose()["volumes"], "the log dir must be a named volume"
    probe = " ".join(kafka["healthcheck"]["test"])
    assert re.search(r"kafka-(broker-api-versions|topics|cluster)\.sh .*--bootstrap-server", probe), (
        "an API-level healthcheck (a Kafka client request), not a port probe"
    )


def test_compose_runs_exactly_what_make_run_runs() -> None:
    """Every process of `make run` (servicekit.devstack's table) runs in compose with the same
    command, in the same service's image; only the listen address differs."""
    from servicekit.devstack import launcher as devstack

    def normalized(argv: list[str]) -> list[str]:
        program = Path(argv[0]).name
        program = "python" if program.startswith("python") else program
        return [program, *(a for a in argv[1:] if not a.startswith("--bind"))]

    compose_commands = {
        (service_dir_of(svc), tuple(normalized(command_of(svc))))
        for svc in app_services().values()
        if not is_one_shot(svc)
    }
    stack = devstack.stack_processes({})
    for process in stack:
        assert (process.service.directory, tuple(normalized(process.argv))) in compose_commands, process.name
    assert len(compose_commands) == len(stack), "compose runs a long-running process make run does not"
