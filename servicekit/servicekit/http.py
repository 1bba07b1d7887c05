"""HTTP mechanics: JSON errors everywhere, body size limit, request log, health probes."""

from __future__ import annotations

import io
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound
from rest_framework.views import exception_handler as drf_exception_handler

log = logging.getLogger("servicekit.http")


def exception_handler(exc: Exception, context: dict[str, Any]) -> Any:
    """DRF's handler, with one "Not found." for every 404 and ``Retry-After`` on 429.

    Anything DRF does not handle propagates to Django's ``handler500`` below, which
    answers JSON (and logs the traceback) instead of an HTML page.
    """
    if isinstance(exc, Http404):
        # DRF would echo "No Post matches the given query."; a 404 should say nothing more.
        exc = NotFound()
    if isinstance(exc, OperationalError | InterfaceError):
        # The database is away (or dropped this worker's connection, which Django replaces
        # after the request): the client's request is fine, so no 500.
        log.warning("database unavailable: %s", exc)
        exc = DatabaseUnavailable()
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, list):
        # A bare list of messages (a non-field ValidationError): errors are always objects.
        response.data = {"detail": " ".join(str(message) for message in response.data)}
    if response is not None and getattr(exc, "wait", None) is not None:
        response["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
    return response


class DatabaseUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The service's database does not answer; try again shortly."
    default_code = "database_unavailable"
    wait = 1


def _json_error(status_code: int, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status_code)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_error(400, "Bad request.")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_error(403, "You do not have permission to perform this action.")


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_error(404, "Not found.")


def server_error(request: HttpRequest) -> JsonResponse:
    return _json_error(500, "Internal server error.")


#: How much of an oversized body is read and dropped before the 413, as a multiple of the
#: limit and in absolute terms; and for how long at most (well under gunicorn's timeout).
DRAIN_FACTOR = 4
DRAIN_MAX_BYTES = 16 * 1024 * 1024
DRAIN_SECONDS = 5.0
_DRAIN_CHUNK = 64 * 1024


class BodySizeLimitMiddleware:
    """Refuses request bodies over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` with a 413 that every
    client receives, and gives views the bodies gunicorn received chunked.

    DRF's parsers read the request stream directly and so skip Django's own limit; this
    checks every request before a view runs. A declared ``Content-Length`` over the limit
    is answered 413 at once. A chunked body (no ``Content-Length``; gunicorn de-chunks it
    and marks ``wsgi.input`` terminated) is read up to the limit: one byte more is a 413,
    and within the limit the view gets it as if its length had been declared (Django and
    DRF otherwise take a body without ``Content-Length`` for an empty one).

    Whatever the answer, the unread rest of the body is read and dropped first. A server
    that closes a connection with request data still unread makes the kernel reset it,
    and a client that writes its whole body before reading (http.client, most SDKs) then
    gets "connection reset" or "broken pipe" instead of the answer. gunicorn's sync
    workers close every connection after one answer and say so (``Connection: close``; a
    WSGI application may not set that header itself), so nothing else would read the rest:
    a body within the limit that the view did not read (a 401, a 404) is dropped whole; an
    oversized one up to :data:`DRAIN_FACTOR` times the limit (at most
    :data:`DRAIN_MAX_BYTES`) and for :data:`DRAIN_SECONDS`. Past that the worker answers
    and closes at once, and such a client may see a reset: reading a body of any size
    would let one client hold a worker (gunicorn kills a worker busy past its timeout).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is None:
            return self.get_response(request)
        drain_limit = min(DRAIN_FACTOR * limit, DRAIN_MAX_BYTES)
        declared = request.META.get("CONTENT_LENGTH")
        if declared:
            try:
                length = int(declared)
            except ValueError:
                return _json_error(400, "Invalid Content-Length header.")
            if length > limit:
                if length <= drain_limit:
                    _discard(request.read, length)
                return _too_large(limit)
        elif _is_chunked(request):
            stream = request.META["wsgi.input"]
            body = stream.read(limit + 1)
            if len(body) > limit:
                _discard(stream.read, drain_limit - len(body))
                return _too_large(limit)
            request.META["CONTENT_LENGTH"] = str(len(body))
            # Django built its stream from the missing Content-Length: an empty one.
            request._stream = io.BytesIO(body)
        response = self.get_response(request)
        _discard(request.read, limit)
        return response


def _is_chunked(request: HttpRequest) -> bool:
    # Without wsgi.input_terminated the server does not promise an end to the stream
    # (PEP 3333 leaves reading past Content-Length undefined): leave it alone.
    return bool(request.META.get("wsgi.input_terminated")) and (
        "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    )


def _discard(read: Callable[[int], bytes], size: int) -> None:
    """Reads and drops up to ``size`` bytes with ``read``, for at most DRAIN_SECONDS."""
    deadline = time.monotonic() + DRAIN_SECONDS
    try:
        while size > 0 and time.monotonic() < deadline:
            chunk = read(min(_DRAIN_CHUNK, size))
            if not chunk:
                return
            size -= len(chunk)
    except OSError:  # the client went away: nobody is left to answer
        return


def _too_large(limit: int) -> JsonResponse:
    return _json_error(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, f"Request body too large: the limit is {limit} bytes.")


class JSONErrorMiddleware:
    """Turns any HTML error page into ``{"detail": ...}``, DEBUG or not.

    Django renders its own 404/500 pages (technical ones, with settings, tracebacks and
    every URL pattern, when DEBUG is on) before the JSON ``handler404``/``handler500`` get
    a say; an API never answers HTML. Only the admin keeps its HTML (the docs page is HTML
    when it works, and its errors, like any under ``/api/docs/``, are JSON).
    """

    HTML_PATHS = ("/admin/",)

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and response.get("Content-Type", "").startswith("text/html")
            and not request.path.startswith(self.HTML_PATHS)
        ):
            detail = {404: "Not found.", 500: "Internal server error."}.get(response.status_code)
            return _json_error(response.status_code, detail or f"{response.reason_phrase}.")
        return response


#: A request id worth keeping (the gateway's check is the same, gateway/Caddyfile).
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


#: A query parameter's value, as request lines leave it out.
QUERY_VALUE = re.compile(r"=[^&]*")


def logged_path(request: HttpRequest) -> str:
    """The path, and the query's parameter names without their values: a value may be what
    someone searched for (``?search=``), which is theirs, not the log's."""
    query = request.META.get("QUERY_STRING", "")
    return f"{request.path}?{QUERY_VALUE.sub('=*', query)}" if query else request.path


class RequestLogMiddleware:
    """One line per request: method, path (query values left out: :func:`logged_path`),
    status, duration and request id; health probes at DEBUG.

    The request id is the ``X-Request-ID`` the gateway (or the client) sent, or a new one
    when it is missing or not a sane token; the response carries it back.
    """

    QUIET_PATHS = ("/healthz", "/readyz")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        request_id = request.headers.get("X-Request-ID", "")
        if not REQUEST_ID.fullmatch(request_id):
            request_id = str(uuid.uuid4())
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        took_ms = (time.perf_counter() - started) * 1000
        level = logging.DEBUG if request.path in self.QUIET_PATHS else logging.INFO
        if response.status_code >= 500:
            level = logging.ERROR
        log.log(
            level,
            "%s %s %s %.1fms request_id=%s",
            request.method,
            logged_path(request),
            response.status_code,
            took_ms,
            request_id,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "ms": round(took_ms, 1),
                "request_id": request_id,
            },
        )
        return response


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers."""
    return JsonResponse({"status": "ok", "service": settings.SERVICE_NAME})


def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the service's database answers (503 with the reason when it does not)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        log.warning("readiness: database unavailable: %s", exc)
        database = f"error: {exc.__class__.__name__}"
    ready = database == "ok"
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": {"database": database}}, status=200 if ready else 503
    )
