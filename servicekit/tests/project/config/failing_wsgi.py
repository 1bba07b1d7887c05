"""A WSGI application that fails outside Django: what gunicorn answers then (tests/test_http_errors.py)."""


def application(environ, start_response):
    raise RuntimeError("secret internals")
