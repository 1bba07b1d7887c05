"""Request bodies under gunicorn, as clients send them (servicekit.http.BodySizeLimitMiddleware).

A real gunicorn serves the test project (its ``/echo/`` view answers 201 with the JSON
it parsed); the clients are raw sockets, so that each test decides exactly when the
body goes out. Most write the whole request before reading, as Python's http.client and
many SDKs do: they only get the answer if the server reads the body before it closes.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.conf import settings

from servicekit.testkit.service import gunicorn_serving


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    closed_cleanly: bool

    def json(self) -> object:
        return json.loads(self.body)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, int]]:
    with gunicorn_serving() as address:
        yield address


def exchange(address: tuple[str, int], request: bytes, *, timeout: float = 10) -> Answer:
    """Sends all of ``request``, then reads the answer and whether the server closed with a
    FIN (a reset raises ConnectionResetError or BrokenPipeError, as it would in a client)."""
    with socket.create_connection(address, timeout=timeout) as client:
        client.sendall(request)
        response = http.client.HTTPResponse(client)
        response.begin()
        body = response.read()
        closed_cleanly = client.recv(1) == b""
        return Answer(response.status, response.headers, body, closed_cleanly)


def with_length(body: bytes, *, path: str = "/echo/") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


def chunked(body: bytes, *, path: str = "/echo/", chunk: int = 64 * 1024) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
    parts = [f"{head}Transfer-Encoding: chunked\r\n\r\n".encode()]
    for start in range(0, len(body), chunk):
        piece = body[start : start + chunk]
        parts.append(b"%x\r\n%s\r\n" % (len(piece), piece))
    parts.append(b"0\r\n\r\n")
    return b"".join(parts)


def json_body(size: int) -> bytes:
    """A JSON object of exactly ``size`` bytes."""
    return b'{"text": "' + b"x" * (size - 12) + b'"}'


def assert_413(answer: Answer) -> None:
    assert answer.status == 413, answer
    assert answer.json() == {
        "detail": f"Request body too large: the limit is {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
    }
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.headers["Connection"] == "close"
    assert answer.closed_cleanly


FRAMINGS = {"content-length": with_length, "chunked": chunked}


@pytest.mark.parametrize("framing", FRAMINGS)
def test_an_oversized_body_written_whole_before_reading_gets_the_413_every_time(server, framing):
    request = FRAMINGS[framing](json_body(3_000_000))
    assert len(request) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    for _ in range(10):
        assert_413(exchange(server, request))


@pytest.mark.parametrize("framing", FRAMINGS)
def test_a_body_within_the_limit_reaches_the_view(server, framing):
    body = json_body(100_000)
    answer = exchange(server, FRAMINGS[framing](body))
    assert answer.status == 201, answer
    assert answer.json() == json.loads(body)
    assert answer.closed_cleanly


def test_a_chunked_body_is_limited_by_the_bytes_actually_sent(server):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert exchange(server, chunked(json_body(limit))).status == 201
    assert_413(exchange(server, chunked(json_body(limit + 1))))


def test_a_body_the_view_never_reads_does_not_cost_the_answer(server):
    # No view under this path: Django answers 404 without touching the body.
    request = with_length(json_body(2_000_000), path="/nowhere/")
    for _ in range(5):
        answer = exchange(server, request)
        assert (answer.status, answer.json(), answer.closed_cleanly) == (404, {"detail": "Not found."}, True)


def test_a_body_far_over_the_limit_is_refused_without_waiting_for_it(server):
    # Declared but never sent: a server that waited for it would time this client out.
    head = with_length(b"").replace(b"Content-Length: 0", b"Content-Length: 1000000000")
    assert_413(exchange(server, head))
