"""Every request has an id: the gateway's (or the client's) X-Request-ID, or a new one.
It is in the request's log line, text and JSON alike, and in the response."""

import json
import logging
import uuid

import pytest

from servicekit.logs import JSONFormatter, TextFormatter


@pytest.fixture
def request_lines(caplog):
    caplog.set_level(logging.INFO, logger="servicekit.http")
    return lambda: [r for r in caplog.records if r.name == "servicekit.http"]


def test_the_id_sent_is_logged_and_returned(client, request_lines):
    response = client.get("/nowhere", HTTP_X_REQUEST_ID="gw-1234.abc:9_z")
    assert response["X-Request-ID"] == "gw-1234.abc:9_z"
    (line,) = request_lines()
    assert TextFormatter().format(line).endswith("GET /nowhere 404 " + f"{line.ms:.1f}ms request_id=gw-1234.abc:9_z")
    assert json.loads(JSONFormatter(service="widgets").format(line))["request_id"] == "gw-1234.abc:9_z"


@pytest.mark.parametrize("sent", [None, "", "x" * 129, "has space", "semi;colon", "ünïcode"])
def test_a_missing_or_unusable_id_is_replaced_by_a_new_one(client, request_lines, sent):
    headers = {} if sent is None else {"HTTP_X_REQUEST_ID": sent}
    response = client.get("/nowhere", **headers)
    generated = response["X-Request-ID"]
    assert generated != sent and uuid.UUID(generated)
    (line,) = request_lines()
    assert line.request_id == generated


def test_each_request_gets_its_own_id(client):
    assert client.get("/healthz")["X-Request-ID"] != client.get("/healthz")["X-Request-ID"]


def test_request_lines_name_the_query_parameters_but_never_show_their_values(client, request_lines):
    client.get("/nowhere?search=my%20diagnosis&page_size=10&flag&q=ada@example.com")
    (line,) = request_lines()
    assert line.getMessage().startswith("GET /nowhere?search=*&page_size=*&flag&q=* 404 ")
    assert "diagnosis" not in TextFormatter().format(line) and "example.com" not in TextFormatter().format(line)
    assert json.loads(JSONFormatter(service="widgets").format(line))["path"] == "/nowhere"
