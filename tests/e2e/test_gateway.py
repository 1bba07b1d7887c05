"""The gateway (Caddy on gateway/Caddyfile, as `make run` starts it) in front of the stack:
routes, the documentation page, slow clients, edge limits, client address, request ids."""

from __future__ import annotations

import http.client
import json
import re
import signal
import socket
import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from servicekit.devstack.launcher import CADDYFILE, SERVICES, gateway_argv, gateway_env
from tests.e2e.clients import host_port, raw_exchange, slow_clients
from tests.e2e.conftest import PASSWORD, eventually
from tests.e2e.stack import free_port

MAX_BODY = 2_621_440  # MAX_REQUEST_BODY_BYTES's default, which the stack keeps


def status_and_body(answer: bytes) -> tuple[int, bytes]:
    """The status and the body of a raw HTTP/1.1 answer (the gateway's own: not chunked)."""
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


# --- routes ---------------------------------------------------------------------------


def caddyfile_services() -> dict[str, tuple[str, list[str]]]:
    """``import service <short> <address> <prefix>...`` lines: short -> (address, prefixes)."""
    lines = re.findall(r"^\s*import service (\S+) (\S+) (.+)$", CADDYFILE.read_text(), re.M)
    return {short: (address, prefixes.split()) for short, address, prefixes in lines}


def test_the_gateway_routes_each_service_prefix_of_services_toml_to_it() -> None:
    routes = caddyfile_services()
    assert set(routes) == {spec.short for spec in SERVICES}, "one `import service` line per service"
    for spec in SERVICES:
        address, prefixes = routes[spec.short]
        assert address == f"{{${spec.short.upper()}_UPSTREAM:127.0.0.1:{spec.port}}}", address
        assert prefixes == [f"{path}*" for path in spec.paths], f"{spec.short}: services.toml says {spec.paths}"


def test_every_path_a_service_documents_is_under_its_prefixes_and_reachable(stack, new_user) -> None:
    user = new_user()
    for spec in SERVICES:
        schema = requests.get(f"{stack.url(spec.short)}/api/schema/?format=json", timeout=10).json()
        for path in schema["paths"]:
            assert path.startswith(spec.paths), f"{spec.directory} serves {path}, outside {spec.paths}"
        for path in spec.paths:
            assert any(p.startswith(path) for p in schema["paths"]), f"{spec.directory} serves nothing at {path}"
    for path in ("/api/users/me/", "/api/posts/", "/api/notes/", "/api/events/", "/api/activity/me/"):
        response = requests.get(f"{stack.gateway}{path}", headers={"Authorization": f"Bearer {user.access}"},
                                timeout=10)  # fmt: skip
        assert response.status_code == 200 and response.headers["Server"] == "gunicorn", path
    missing = requests.get(f"{stack.gateway}/api/nothing/", timeout=10)
    assert (missing.status_code, missing.json()) == (404, {"detail": "Not found."})
    assert requests.get(f"{stack.gateway}/healthz", timeout=10).json()["status"] == "ok"


def test_metrics_are_served_by_each_process_and_never_through_the_gateway(stack) -> None:
    """``/metrics`` is not a public path: the gateway routes only services.toml's prefixes."""
    through_gateway = requests.get(f"{stack.gateway}/metrics", timeout=10)
    assert (through_gateway.status_code, through_gateway.json()) == (404, {"detail": "Not found."})
    for spec in SERVICES:
        direct = requests.get(f"{stack.url(spec.short)}/metrics", timeout=10)
        assert direct.status_code == 200 and "http_requests_total" in direct.text, spec.directory
    for name, process in stack.processes.items():
        if not name.startswith("worker-"):
            continue
        url = f"http://127.0.0.1:{process.env['METRICS_PORT']}/metrics"
        expected = "outbox_events_published_total" if process.service.relay else "consumer_batch_size"

        def served(url=url, expected=expected, name=name) -> None:
            try:
                text = requests.get(url, timeout=10).text
            except requests.ConnectionError as exc:
                raise AssertionError(f"{name}: {url} does not answer") from exc
            assert expected in text, name

        eventually(served)


def test_the_documentation_page_lists_every_service_and_its_schema_answers_through_the_gateway(stack) -> None:
    page = requests.get(f"{stack.gateway}/api/docs/", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    listed = dict(re.findall(r'\{url: "([^"]+)", name: "([^"]+)"\}', page.text))
    assert listed == {f"/api/schema/{spec.short}/": spec.directory for spec in SERVICES}
    assert "persistAuthorization: true" in page.text
    for url, directory in listed.items():
        schema = requests.get(f"{stack.gateway}{url}?format=json", timeout=10).json()
        assert schema["info"]["title"].lower().startswith(directory.split("_")[0]), (url, schema["info"])
        # No `servers`: "Try it out" calls where the document came from, the gateway.
        assert "servers" not in schema
        assert schema["components"]["securitySchemes"] == {
            "jwtAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        }, "one scheme name everywhere, so that Authorize carries across the selector"
    for asset in re.findall(r'(?:src|href)="(swagger-ui/[^"]+)"', page.text):
        assert requests.get(f"{stack.gateway}/api/docs/{asset}", timeout=10).status_code == 200, asset


# --- slow clients -----------------------------------------------------------------------


def median_latency(url: str, token: str, tries: int = 7) -> float:
    timings = []
    for _ in range(tries):
        started = time.perf_counter()
        response = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200
    return statistics.median(timings)


def test_slow_clients_do_not_delay_a_request_through_the_gateway(stack, new_user) -> None:
    """20 connections that stall or trickle at user_service's login (its gunicorn has 2 sync
    workers) through the gateway: a normal request to the same service is not delayed."""
    user = new_user()
    me = f"{stack.gateway}/api/users/me/"
    unloaded = median_latency(me, user.access)
    with slow_clients(stack.gateway):
        loaded = median_latency(me, user.access)
    assert loaded - unloaded < 0.100, f"unloaded {unloaded * 1000:.1f} ms, with slow clients {loaded * 1000:.1f} ms"


# --- edge limits -------------------------------------------------------------------------


@pytest.mark.parametrize("size", [MAX_BODY + 1, MAX_BODY + 200_000, 4 * MAX_BODY])
def test_a_body_over_the_limit_is_413_json_from_the_gateway_even_for_a_client_that_writes_it_all_first(
    stack, size
) -> None:
    """The gateway reads the body up to the limit, then answers: the rest of a body slightly
    over the limit fits in the sockets' buffers, so the client finishes writing and reads the
    answer; a client far over the limit is cut off, and can still read it. No service sees it."""
    head = (
        f"POST /api/posts/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\nX-Request-ID: big-{size}\r\nConnection: close\r\n\r\n"
    ).encode()
    answer = raw_exchange(stack.gateway, head + b" " * size)
    status, body = status_and_body(answer)
    assert status == 413, answer[:300]
    assert json.loads(body) == {"detail": f"Request body too large: the limit is {MAX_BODY} bytes."}
    assert b"Server: Caddy" in answer and f"X-Request-Id: big-{size}".encode() in answer
    assert f"request_id=big-{size}" not in stack.log("web-post")


def test_a_body_of_exactly_the_limit_reaches_the_service(stack, new_user) -> None:
    user = new_user()
    body = json.dumps({"title": "big", "description": "x"}).encode()
    body += b" " * (MAX_BODY - len(body))
    headers = {"Authorization": f"Bearer {user.access}", "Content-Type": "application/json"}
    response = requests.post(f"{stack.gateway}/api/posts/", data=body, headers=headers, timeout=30)
    assert response.status_code == 201, response.text


def test_headers_over_the_limit_are_refused_at_the_gateway(stack) -> None:
    """Go's HTTP server refuses them itself, before Caddy's routes run: a plain-text 431 (the
    one answer of the gateway that cannot be JSON). Headers within the limit pass."""
    fields = "".join(f"X-Pad-{i}: {'a' * 4000}\r\n" for i in range(6))  # 24 KB, every field < 8 KB
    answer = raw_exchange(stack.gateway, f"GET /api/posts/ HTTP/1.1\r\nHost: 127.0.0.1\r\n{fields}\r\n".encode())
    assert status_and_body(answer) == (431, b"431 Request Header Fields Too Large")
    within = {f"X-Pad-{i}": "a" * 4000 for i in range(3)}
    assert requests.get(f"{stack.gateway}/api/posts/", headers=within, timeout=10).status_code == 401  # the service


@contextmanager
def extra_gateway(stack, log: Path | None = None, **overrides: str) -> Iterator[str]:
    """Another Caddy on the same Caddyfile, with some variables changed, its log in ``log``
    (or nowhere); yields its URL."""
    env = {**gateway_env(stack.env), "GATEWAY_PORT": str(free_port()), **overrides}
    output = log.open("wb") if log else subprocess.DEVNULL
    process = subprocess.Popen(gateway_argv(), env=env, stdout=output, stderr=output)
    url = f"http://127.0.0.1:{env['GATEWAY_PORT']}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                requests.get(f"{url}/healthz", timeout=1).raise_for_status()
                break
            except requests.RequestException:
                assert time.monotonic() < deadline, "the extra gateway did not start"
                time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
        if log:
            output.close()


class SilentUpstream:
    """A listening socket that accepts connections and never answers: counts them."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.accepted.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


def test_timeouts_a_slow_service_is_504_and_a_slow_client_never_reaches_it(stack, tmp_path) -> None:
    upstream = SilentUpstream()
    try:
        with extra_gateway(stack, USER_UPSTREAM=upstream.address, GATEWAY_UPSTREAM_TIMEOUT="1s",
                           GATEWAY_READ_HEADER_TIMEOUT="1s", GATEWAY_READ_BODY_TIMEOUT="1s") as url:  # fmt: skip
            stalled = [
                raw_exchange(url, b"POST /api/users/login/ HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{", 3),
                raw_exchange(url, b"GET /api/users/me/ HTTP/1.1\r\nHost: x\r\nX-Half:", 3),
            ]
            assert upstream.accepted == [], "a half-sent request reached the service"
            # No answer, no 408 (README, Operations): the headers' client is disconnected, the
            # body's request dropped.
            assert stalled == [b"", b""], stalled
            timed_out = requests.get(f"{url}/api/users/me/", timeout=10)
            assert timed_out.status_code == 504
            assert timed_out.json() == {"detail": "The service did not answer in time."}
        log = tmp_path / "gateway.log"
        with extra_gateway(stack, log, USER_UPSTREAM=f"127.0.0.1:{free_port()}") as url:
            down = requests.get(f"{url}/api/users/me/", headers={"X-Request-ID": "down-1"}, timeout=10)
            assert (down.status_code, down.json()) == (502, {"detail": "The service is unavailable."})
        # No service logged it: the gateway's access log has it (log_skip is for answered requests).
        _assert_in("/api/users/me/", "down-1", log.read_text())
    finally:
        upstream.close()


# --- client address ------------------------------------------------------------------------


def login_from(stack, source: str, email: str, password: str, forwarded_for: str | None = None) -> int:
    """A login through the gateway from the loopback address ``source`` (127.0.0.0/8)."""
    host, port = host_port(stack.gateway)
    connection = http.client.HTTPConnection(host, port, timeout=10, source_address=(source, 0))
    headers = {"Content-Type": "application/json", **({"X-Forwarded-For": forwarded_for} if forwarded_for else {})}
    connection.request("POST", "/api/users/login/", json.dumps({"email": email, "password": password}), headers)
    status = connection.getresponse().status
    connection.close()
    return status


def test_the_login_throttle_counts_the_real_client_and_a_forwarded_for_cannot_change_it(stack, new_user) -> None:
    """user_service trusts X-Forwarded-For from the gateway only, and the gateway writes the
    address it saw, whatever the client sent: five wrong passwords for one account from one
    client with five made-up addresses are five failures of that client (the limit per
    account and address), and no one else's."""
    user = new_user()
    octet = uuid.uuid4().int % 200 + 20  # a loopback address of this run's own
    attacker, bystander = f"127.0.{octet}.1", f"127.0.{octet}.2"
    for i in range(5):
        assert login_from(stack, attacker, user.email, "wrong", forwarded_for=f"203.0.113.{i}") == 401
    assert login_from(stack, attacker, user.email, PASSWORD, forwarded_for="198.51.100.1") == 429
    assert login_from(stack, bystander, user.email, PASSWORD) == 200


# --- request ids ------------------------------------------------------------------------------


def test_a_request_id_follows_the_request_through_the_gateway_and_the_service(stack, new_user) -> None:
    user = new_user()
    auth = {"Authorization": f"Bearer {user.access}"}
    sent = f"trace-{uuid.uuid4().hex}"
    kept = requests.get(f"{stack.gateway}/api/posts/", headers={**auth, "X-Request-ID": sent}, timeout=10)
    assert kept.headers["X-Request-ID"] == sent
    made = requests.get(f"{stack.gateway}/api/notes/", headers={**auth, "X-Request-ID": "no good!"}, timeout=10)
    new_id = made.headers["X-Request-ID"]
    assert uuid.UUID(new_id)
    eventually(lambda: _assert_in("GET /api/posts/ 200", sent, stack.log("web-post")))
    eventually(lambda: _assert_in("GET /api/notes/ 200", new_id, stack.log("web-note")))
    gateway_error = requests.get(f"{stack.gateway}/api/nothing/", headers={"X-Request-ID": sent}, timeout=10)
    assert gateway_error.headers["X-Request-ID"] == sent
    # Each request is logged once, by what answered it: the 404 by the gateway, the list by
    # post_service alone.
    eventually(lambda: _assert_in("/api/nothing/", sent, stack.log("gateway")))
    assert not any("/api/posts/" in line and sent in line for line in stack.log("gateway").splitlines())
    direct = requests.get(f"{stack.url('post')}/api/posts/", headers=auth, timeout=10)
    assert uuid.UUID(direct.headers["X-Request-ID"])  # a service reached directly makes its own


def _assert_in(line_start: str, request_id: str, log: str) -> None:
    assert any(line_start in line and request_id in line for line in log.splitlines()), (line_start, request_id)


def test_the_caddyfile_is_formatted() -> None:
    caddy = gateway_argv()[0]
    result = subprocess.run([caddy, "fmt", str(CADDYFILE)], capture_output=True, text=True, check=True)
    assert result.stdout == Path(CADDYFILE).read_text(), "run `caddy fmt --overwrite gateway/Caddyfile`"
