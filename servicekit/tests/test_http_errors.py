"""Every error the stack answers is ``{"detail": ...}`` JSON: Django's, with DEBUG on or off,
and gunicorn's own, for requests it cannot parse (a real gunicorn, raw sockets)."""

import json
import socket

import pytest

from servicekit.testkit.service import gunicorn_serving

# -- Django ------------------------------------------------------------------------------------


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
@pytest.mark.parametrize(
    "path", ["/api/docs/anything", "/api/docs/a/b/", "/api/schema/x", "/api/nothing/", "/static/nothing.css", "/"]
)
def test_unknown_paths_are_a_json_404_even_with_debug(client, settings, debug, path):
    settings.DEBUG = debug
    response = client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}  # not Django's page listing every URL pattern


@pytest.mark.usefixtures("admin_enabled")
@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
def test_the_docs_page_and_the_admin_keep_their_html(client, settings, debug):
    settings.DEBUG = debug
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and docs["Content-Type"].startswith("text/html")
    assert client.get("/admin/login/")["Content-Type"].startswith("text/html")


# -- gunicorn ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gunicorn():
    with gunicorn_serving() as (_host, port):
        yield port


def send(port, raw):
    """Sends ``raw`` as it is and returns everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def request(head, headers=b"Host: localhost\r\n"):
    return head + b"\r\n" + headers + b"\r\n"


@pytest.mark.parametrize(
    "raw, status",
    [
        (request(b"GET /" + b"a" * 5000 + b" HTTP/1.1"), 414),
        (request(b"GET /healthz HTTP/1.1", b"Host: localhost\r\nX-Big: " + b"a" * 9000 + b"\r\n"), 431),
        (request(b"GET /healthz HTTP/1.1", b"".join(b"X-%d: a\r\n" % i for i in range(120))), 431),
        (request(b"GET /healthz HTTP/9.9"), 400),
        (request(b"G(T /healthz HTTP/1.1"), 400),
        (request(b"GET /healthz HTTP/1.1", b"Host: localhost\r\nBad Name: x\r\n"), 400),
        (request(b"GET /healthz HTTP/1.1", b"Host: localhost\r\nX-A: a\x00b\r\n"), 400),
        (request(b"GET /healthz HTTP/1.1", b"Host: localhost\r\nX-A: a\r\n folded\r\n"), 400),
        (request(b"GET /healthz HTTP/1.1", b"Content-Length: 1\r\nContent-Length: 2\r\n"), 400),
        (request(b"POST /healthz HTTP/1.1", b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n"), 400),
        (request(b"POST /healthz HTTP/1.1", b"Transfer-Encoding: chunked, gzip\r\n"), 400),
        (request(b"POST /healthz HTTP/1.1", b"Transfer-Encoding: foo\r\n"), 501),
        (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n", 400),  # TLS on the plain port
    ],
    ids=["request-line-too-long", "header-too-large", "too-many-headers", "http-version", "method", "header-name",
         "nul-in-header", "obsolete-folding", "two-content-lengths", "chunked-and-length", "chunked-not-last",
         "unknown-coding", "not-http"],
)  # fmt: skip
def test_requests_gunicorn_cannot_parse_get_json_errors(gunicorn, raw, status):
    answer = send(gunicorn, raw)
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith(f"HTTP/1.1 {status} "), answer[:300]
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert headers["Content-Type"] == "application/json" and headers["Connection"] == "close"
    assert int(headers["Content-Length"]) == len(body)
    assert set(json.loads(body)) == {"detail"}


def test_requests_gunicorn_parses_reach_django_as_before(gunicorn):
    answer = send(gunicorn, request(b"GET /healthz HTTP/1.1"))
    assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b'{"status": "ok", "service": "servicekit_tests"}')


def test_an_application_failing_outside_django_is_a_json_500_without_internals():
    with gunicorn_serving("config.failing_wsgi:application") as (_host, port):
        answer = send(port, request(b"GET /healthz HTTP/1.1"))
        assert answer.startswith(b"HTTP/1.1 500 Internal Server Error")
        assert answer.endswith(b'{"detail": "Internal server error."}') and b"secret" not in answer


def test_plain_http_is_redirected_to_https_except_the_probes(client, settings, db):
    settings.SECURE_SSL_REDIRECT = True
    redirected = client.get("/api/nothing/")
    assert redirected.status_code == 301 and redirected["Location"] == "https://testserver/api/nothing/"
    assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert client.get("/healthz", HTTP_X_FORWARDED_PROTO="https").status_code == 200
    assert client.get("/api/nothing/", HTTP_X_FORWARDED_PROTO="https").status_code == 404  # served, over HTTPS
