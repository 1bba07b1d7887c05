"""Clients that misbehave on purpose, for the gateway's tests and bench/slow_clients.py."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress


def host_port(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def raw_exchange(url: str, request: bytes, timeout: float = 10) -> bytes:
    """Writes the whole request, then reads the whole answer (until the gateway closes)."""
    with socket.create_connection(host_port(url), timeout=timeout) as sock:
        with suppress(BrokenPipeError, ConnectionResetError):  # the answer may still be there to read
            sock.sendall(request)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (ConnectionResetError, TimeoutError):
            pass  # reset after the answer, or no answer at all
        return b"".join(chunks)


@contextmanager
def slow_clients(url: str, count: int = 20) -> Iterator[None]:
    """``count`` connections to ``url`` that never finish their request: a third stall in
    the headers, a third stall in the body, a third trickle their body a byte at a time."""
    request_line = b"POST /api/users/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    head = request_line + b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    stop = threading.Event()
    sockets = []
    for i in range(count):
        sock = socket.create_connection(host_port(url), timeout=5)
        sock.sendall(request_line + b"X-Half: " if i % 3 == 0 else head + b'{"email": ')
        sockets.append(sock)

    def trickle() -> None:
        while not stop.wait(0.1):
            for sock in sockets[2::3]:
                with suppress(OSError):
                    sock.send(b" ")

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        time.sleep(0.3)  # let them all take hold
        yield
    finally:
        stop.set()
        thread.join()
        for sock in sockets:
            sock.close()
