"""The gunicorn worker every web service runs (``worker_class`` in ``servicekit.gunicorn_conf``).

gunicorn answers the requests it cannot parse itself, before Django runs: a request line
or headers over its limits, an invalid header, method or HTTP version. Its own answer is
an HTML page; this worker's is ``{"detail": ...}`` JSON like every other error, with the
status that says what was wrong, and ``Connection: close`` (the stream cannot be trusted
after a request it could not parse).
"""

from __future__ import annotations

import json
from http import HTTPStatus
from ssl import SSLError
from typing import Any

from gunicorn import util
from gunicorn.http import errors
from gunicorn.workers.sync import SyncWorker

#: Statuses other than 400 (every other parse error) and 500 (anything else).
STATUS_BY_ERROR: tuple[tuple[type[BaseException], HTTPStatus], ...] = (
    (errors.LimitRequestLine, HTTPStatus.REQUEST_URI_TOO_LONG),
    (errors.LimitRequestHeaders, HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE),
    (errors.UnsupportedTransferCoding, HTTPStatus.NOT_IMPLEMENTED),
    (errors.ForbiddenProxyRequest, HTTPStatus.FORBIDDEN),
    (errors.ConfigurationProblem, HTTPStatus.INTERNAL_SERVER_ERROR),
    (SSLError, HTTPStatus.FORBIDDEN),
)


def error_status(exc: BaseException) -> HTTPStatus:
    for error, status in STATUS_BY_ERROR:
        if isinstance(exc, error):
            return status
    return HTTPStatus.BAD_REQUEST if isinstance(exc, errors.ParseException) else HTTPStatus.INTERNAL_SERVER_ERROR


def error_response(status: HTTPStatus, detail: str) -> bytes:
    body = json.dumps({"detail": detail}).encode()
    head = (
        f"HTTP/1.1 {status.value} {status.phrase}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class JSONErrorWorker(SyncWorker):
    """gunicorn's sync worker, with its own error answers in JSON."""

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        status = error_status(exc)
        if status is HTTPStatus.INTERNAL_SERVER_ERROR:
            self.log.exception("Error handling request %s", getattr(req, "uri", "(no URI read)"))
            detail = "Internal server error."
        else:
            self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
            detail = f"{status.phrase}: {exc}"
        try:
            util.write_nonblock(client, error_response(status, detail))
        except Exception:  # noqa: BLE001 - the client may be gone already; gunicorn does the same
            self.log.debug("Failed to send error message.")
