"""The published event contract (docs/asyncapi.yaml) is what the code declares.

Every service of services.toml is asked for its declarations (its <app>/events.py and its
handlers, in a Django process of its own); the document generated from them must be the
checked-in one, and every type a consumer handles must be declared by the topic's producer.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from servicekit.devstack import contract
from servicekit.devstack.launcher import SERVICES


@pytest.fixture(scope="module")
def declarations() -> list[dict[str, Any]]:
    return contract.collect([spec.directory for spec in SERVICES])


@pytest.fixture(scope="module")
def document(declarations) -> dict[str, Any]:
    return contract.asyncapi_document(declarations)


def test_docs_asyncapi_yaml_is_what_the_code_declares(document):
    assert contract.DOCUMENT.exists(), "docs/asyncapi.yaml is missing: run `make contract`"
    assert contract.DOCUMENT.read_text() == contract.render(document), (
        "docs/asyncapi.yaml differs from the services' declarations: run `make contract` (and commit it)"
    )


def test_the_yaml_reads_back_as_the_document(document):
    assert yaml.safe_load(contract.render(document)) == document


def test_every_type_a_consumer_handles_is_declared_by_its_producer(declarations):
    consumers = [service for service in declarations if service["consumes"]]
    assert consumers, "no service consumes: services.toml or the settings' EVENTS changed"
    assert contract.undeclared_subscriptions(declarations) == []


def test_a_handled_type_that_no_producer_declares_stops_the_generation(declarations):
    broken = copy.deepcopy(declarations)
    consumer = next(service for service in broken if service["consumes"])
    consumer["consumes"]["subscriptions"].append(["user_events", "user.renamed"])
    problems = contract.undeclared_subscriptions(broken)
    name = consumer["service"]
    assert problems == [f"{name} handles user.renamed on user_events, which its producer does not declare"]
    with pytest.raises(ValueError, match=r"user\.renamed"):
        contract.asyncapi_document(broken)


def test_every_service_that_relays_declares_a_topic_and_every_consumer_a_subscription(declarations):
    by_name = {service["service"]: service for service in declarations}
    for spec in SERVICES:
        service = by_name[spec.directory]
        says = f"{spec.directory}: services.toml says relay={spec.relay}, consumer={spec.consumer}"
        assert bool(service["publishes"]) == spec.relay, says
        assert bool(service["consumes"]) == spec.consumer, says


def test_each_event_type_is_a_message_with_the_envelope_and_its_data_schema(declarations, document):
    for service in declarations:
        for topic in service["publishes"]:
            channel = document["channels"][topic["name"]]
            for event_type in topic["types"]:
                name = event_type["name"]
                assert name in channel["messages"], f"{name} is not a message of {topic['name']}"
                message = document["components"]["messages"][name]
                assert message["contentType"] == "application/cloudevents+json"
                envelope, own = message["payload"]["allOf"]
                assert envelope == {"$ref": "#/components/schemas/CloudEvent"}
                assert own["properties"]["type"] == {"const": name}
                assert own["properties"]["source"] == {"const": service["service"]}
                assert document["components"]["schemas"][name] == event_type["data"]
            send = document["operations"][f"{service['service']}.send.{topic['name']}"]
            assert send["action"] == "send"
            assert len(send["messages"]) == len(topic["types"])


def test_user_sessions_revoked_reaches_every_service_that_verifies_tokens(document):
    receivers = {
        name.split(".receive.")[0]
        for name, operation in document["operations"].items()
        if operation["action"] == "receive"
        and {"$ref": "#/channels/user_events/messages/user.sessions_revoked"} in operation["messages"]
    }
    assert receivers == {spec.directory for spec in SERVICES if spec.consumer}


def resolve(document: dict[str, Any], reference: str) -> Any:
    assert reference.startswith("#/"), reference
    node: Any = document
    for part in reference[2:].split("/"):
        key = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and key in node, f"{reference} does not resolve"
        node = node[key]
    return node


def references(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in references(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in references(value)]
    return []


def test_every_reference_resolves_and_operations_send_and_receive_their_channels_messages(document):
    assert document["asyncapi"] == "3.0.0"
    for reference in references(document):
        resolve(document, reference)
    for name, operation in document["operations"].items():
        channel = operation["channel"]["$ref"]
        assert operation["action"] in {"send", "receive"}, name
        for message in operation["messages"]:
            assert message["$ref"].startswith(channel + "/messages/"), f"{name}: {message} is not of {channel}"


def test_check_fails_naming_make_contract_when_the_file_is_stale(document, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(contract, "generate", lambda: contract.render(document))
    stale = tmp_path / "asyncapi.yaml"
    stale.write_text(contract.render(document).replace("user.sessions_revoked", "user.sessions_ended"))
    assert contract.main(["--check", "--output", str(stale)]) == 1
    assert "run `make contract`" in capsys.readouterr().err
    assert contract.main(["--output", str(stale)]) == 0
    assert contract.main(["--check", "--output", str(stale)]) == 0
