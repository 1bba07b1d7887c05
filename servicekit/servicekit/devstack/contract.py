"""The published event contract: an AsyncAPI 3 document generated from the code.

Each producing service declares its topics and event types (``<app>/events.py``, named by
``settings.EVENTS["PUBLISHES"]``), each consumer what it handles
(``settings.EVENTS["HANDLERS"]``). ``python -m servicekit.devstack.contract`` (``make
contract``) asks every service of ``services.toml`` for its declarations, each in its own
Django process (a service is its own project), and writes them as one document,
``docs/asyncapi.yaml``:

- a channel per topic (and per consumer's dead-letter topic), its messages the topic's
  event types, with its Kafka configuration;
- a message per event type: the CloudEvents envelope (``components.schemas.CloudEvent``)
  with the type's ``data`` schema;
- a ``send`` operation per producer and topic, a ``receive`` operation per consumer and
  topic, listing the types it handles.

The output depends on the declarations only (sorted, no timestamps), so a test can
compare the file with the code: ``--check`` exits 1 when they differ. A consumer that
handles a type no producer declares stops the generation.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from servicekit.events import (
    ATTRIBUTES,
    CONTENT_TYPE,
    DEAD_LETTER_RETENTION,
    MAX_ATTRIBUTE_LENGTH,
    REQUIRED,
    SPECVERSION,
    retention_config,
)
from servicekit.events import TIMESTAMP as TIMESTAMP_SCHEMA
from servicekit.events import UUID as UUID_SCHEMA

ROOT = Path(__file__).resolve().parents[3]
DOCUMENT = ROOT / "docs" / "asyncapi.yaml"
KAFKA_BINDING_VERSION = "0.5.0"
#: Headers the consumer loop adds when it copies a message to its dead-letter topic.
DEAD_LETTER_HEADERS = {
    "dlq.origin.topic": "The topic the message was read from.",
    "dlq.origin.partition": "Its partition.",
    "dlq.origin.offset": "Its offset.",
    "dlq.consumer.group": "The consumer group that could not process it.",
    "dlq.error": "Why: an invalid envelope, or the handler's error (at most 1,000 characters).",
    "dlq.value.dropped": "Only when the broker refused the copy: the message is kept without its value.",
}


# -- inside one service: its declarations -------------------------------------------------


def service_declarations() -> dict[str, Any]:
    """What the service of the current Django settings publishes and consumes, as JSON data."""
    from django.conf import settings

    from servicekit.kafka import event_handlers, published_topics

    publishes = [
        {
            "name": topic.name,
            "owner": topic.owner,
            "key": topic.key,
            "summary": topic.summary,
            "config": topic.config,
            "types": [{"name": t.name, "summary": t.summary, "data": t.data} for t in topic],
        }
        for topic in published_topics()
    ]
    handlers = event_handlers()
    consumes = None
    if handlers is not None:
        consumes = {
            "group": handlers.group,
            "dead_letter_topic": handlers.dead_letter_topic,
            "subscriptions": [[topic, name] for topic, name in handlers.subscriptions],
        }
    return {"service": settings.SERVICE_NAME, "publishes": publishes, "consumes": consumes}


# -- across services ------------------------------------------------------------------------


def collect(directories: list[str], root: Path = ROOT) -> list[dict[str, Any]]:
    """Every service's declarations, each read by a Python process of its own (in parallel)."""

    def one(directory: str) -> dict[str, Any]:
        # The settings refuse to load without secrets; these are thrown away (nothing is
        # signed), as the image build does for collectstatic.
        from servicekit.devstack.secrets import DEV_SECRET_NAMES, new_secret

        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
        env |= {name: new_secret() for name in DEV_SECRET_NAMES}
        env.pop("DATABASE_URL", None)
        result = subprocess.run(  # noqa: S603 - this interpreter, our own module
            [sys.executable, "-m", "servicekit.devstack.contract", "--describe"],
            cwd=root / directory,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{directory}: reading its declarations failed:\n{result.stderr.strip()}")
        return json.loads(result.stdout)

    with ThreadPoolExecutor(max(1, len(directories))) as pool:
        return list(pool.map(one, directories))


def undeclared_subscriptions(declarations: list[dict[str, Any]]) -> list[str]:
    """Each (topic, type) a consumer handles that no producer declares, as a sentence."""
    declared = {
        (topic["name"], event_type["name"])
        for service in declarations
        for topic in service["publishes"]
        for event_type in topic["types"]
    }
    topics = {topic for topic, _ in declared}
    problems = []
    for service in declarations:
        for topic, name in (service["consumes"] or {}).get("subscriptions", []):
            if topic not in topics:
                problems.append(f"{service['service']} consumes {topic}, which no service publishes")
            elif name is not None and (topic, name) not in declared:
                problems.append(f"{service['service']} handles {name} on {topic}, which its producer does not declare")
    return sorted(problems)


def _ref(*path: str) -> dict[str, str]:
    return {"$ref": "#/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in path)}


def envelope_schema() -> dict[str, Any]:
    """The CloudEvents 1.0 envelope every message is (servicekit.events.EventEnvelope)."""
    bounded = {"type": "string", "minLength": 1, "maxLength": MAX_ATTRIBUTE_LENGTH}
    properties = {
        "specversion": {"type": "string", "const": SPECVERSION},
        "id": {**UUID_SCHEMA, "description": "Unique per event: consumers skip an id they have applied."},
        "source": {**bounded, "description": "The producing service."},
        "type": {**bounded, "description": "The event type (the message's name)."},
        "subject": {**bounded, "description": "The aggregate's id; also the message key."},
        "time": {**TIMESTAMP_SCHEMA, "description": "When the change was committed (RFC 3339, UTC)."},
        "datacontenttype": {"type": "string", "const": "application/json"},
        "userid": {**UUID_SCHEMA, "description": "The user the aggregate belongs to."},
        "data": {"type": "object", "description": "The type's payload (its schema: the message's)."},
    }
    assert list(properties) == list(ATTRIBUTES), "the envelope's attributes changed: describe them here"
    return {
        "type": "object",
        "description": "A CloudEvents 1.0 event in structured mode. Any other lower-case top-level string "
        "attribute (traceparent, say) is a CloudEvents extension, passed along.",
        "required": ["specversion", *REQUIRED],
        "properties": properties,
    }


def _days(milliseconds: str) -> str:
    days = int(milliseconds) / 86_400_000
    return f"{days:g} day" + ("" if days == 1 else "s")


def _topic_description(topic: dict[str, Any]) -> str:
    config = topic["config"]
    kept = f"Records are kept {_days(config['retention.ms'])}"
    if "min.compaction.lag.ms" in config:
        kept += f"; compacted (latest record of each key) once {_days(config['min.compaction.lag.ms'])} old"
    return f"{topic['summary']} Owned by {topic['owner']}; key: {topic['key']}. {kept}."


def _topic_binding(name: str, config: dict[str, str]) -> dict[str, Any]:
    configuration = {
        "cleanup.policy": sorted(config["cleanup.policy"].split(",")),
        "retention.ms": int(config["retention.ms"]),
    }
    return {"kafka": {"topic": name, "topicConfiguration": configuration, "bindingVersion": KAFKA_BINDING_VERSION}}


def asyncapi_document(declarations: list[dict[str, Any]]) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of ``declarations`` (from :func:`collect`)."""
    problems = undeclared_subscriptions(declarations)
    if problems:
        raise ValueError("consumers handle undeclared events: " + "; ".join(problems))
    services = sorted(declarations, key=lambda service: service["service"])
    topics = sorted((topic for service in services for topic in service["publishes"]), key=lambda t: t["name"])
    consumers = [service for service in services if service["consumes"]]

    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {"CloudEvent": envelope_schema()}
    for topic in topics:
        types = sorted(topic["types"], key=lambda t: t["name"])
        channel = {
            "address": topic["name"],
            "title": topic["name"],
            "description": _topic_description(topic),
            "messages": {t["name"]: _ref("components", "messages", t["name"]) for t in types},
            # The Kafka binding knows the policy and the retention; the compaction lag, if
            # any, is in the description.
            "bindings": _topic_binding(topic["name"], topic["config"]),
        }
        channels[topic["name"]] = channel
        for event_type in types:
            name = event_type["name"]
            schemas[name] = event_type["data"]
            messages[name] = {
                "name": name,
                "title": name,
                "summary": event_type["summary"],
                "contentType": CONTENT_TYPE,
                "payload": {
                    "allOf": [
                        _ref("components", "schemas", "CloudEvent"),
                        {
                            "type": "object",
                            "properties": {
                                "type": {"const": name},
                                "source": {"const": topic["owner"]},
                                "data": _ref("components", "schemas", name),
                            },
                        },
                    ]
                },
                "bindings": {
                    "kafka": {
                        "key": {"type": "string", "description": topic["key"]},
                        "bindingVersion": KAFKA_BINDING_VERSION,
                    }
                },
            }
    if consumers:
        messages["DeadLetter"] = {
            "name": "DeadLetter",
            "title": "A message a consumer could not process",
            "summary": "The original key, value and headers, unchanged, with the dlq.* headers added.",
            "headers": {
                "type": "object",
                "properties": {
                    name: {"type": "string", "description": text} for name, text in DEAD_LETTER_HEADERS.items()
                },
                "required": [name for name in DEAD_LETTER_HEADERS if name != "dlq.value.dropped"],
            },
            "payload": {"description": "The original message value, as it was read."},
        }
    for service in consumers:
        topic = service["consumes"]["dead_letter_topic"]
        channels[topic] = {
            "address": topic,
            "title": topic,
            "description": f"Messages {service['service']} could not process (make dlq lists and replays them). "
            f"Owned by {service['service']}. Records are kept {_days(str(DEAD_LETTER_RETENTION.days * 86_400_000))}.",
            "messages": {"DeadLetter": _ref("components", "messages", "DeadLetter")},
            "bindings": _topic_binding(topic, retention_config(DEAD_LETTER_RETENTION)),
        }

    operations: dict[str, Any] = {}
    for service in services:
        for topic in sorted(service["publishes"], key=lambda t: t["name"]):
            operations[f"{service['service']}.send.{topic['name']}"] = {
                "action": "send",
                "title": f"{service['service']} publishes {topic['name']}",
                "summary": "Through its transactional outbox: each event is sent once its change commits, "
                "at least once.",
                "channel": _ref("channels", topic["name"]),
                "messages": [
                    _ref("channels", topic["name"], "messages", t["name"])
                    for t in sorted(topic["types"], key=lambda t: t["name"])
                ],
            }
        if not service["consumes"]:
            continue
        consumes = service["consumes"]
        every = {topic for topic, name in consumes["subscriptions"] if name is None}
        named: dict[str, set[str]] = {}
        for topic, name in consumes["subscriptions"]:
            if name is not None:
                named.setdefault(topic, set()).add(name)
        for topic in sorted(every | set(named)):
            names = channels[topic]["messages"] if topic in every else named[topic]
            operations[f"{service['service']}.receive.{topic}"] = {
                "action": "receive",
                "title": f"{service['service']} consumes {topic}",
                "summary": "Every event, whatever its type (types added later too)."
                if topic in every
                else "These types; any other is skipped (tolerant reader).",
                "channel": _ref("channels", topic),
                "messages": [_ref("channels", topic, "messages", name) for name in sorted(names)],
                "bindings": {
                    "kafka": {
                        "groupId": {"type": "string", "enum": [consumes["group"]]},
                        "bindingVersion": KAFKA_BINDING_VERSION,
                    }
                },
            }
        dead_letters = consumes["dead_letter_topic"]
        operations[f"{service['service']}.send.{dead_letters}"] = {
            "action": "send",
            "title": f"{service['service']} dead-letters what it cannot process",
            "channel": _ref("channels", dead_letters),
            "messages": [_ref("channels", dead_letters, "messages", "DeadLetter")],
        }

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Django microservices over Kafka: events",
            "version": "1.0.0",
            "description": "Generated from each service's declarations (its <app>/events.py, and its "
            "handlers) by `make contract`; do not edit by hand.",
        },
        "defaultContentType": CONTENT_TYPE,
        "channels": dict(sorted(channels.items())),
        "operations": dict(sorted(operations.items())),
        "components": {"messages": dict(sorted(messages.items())), "schemas": dict(sorted(schemas.items()))},
    }


def render(document: dict[str, Any]) -> str:
    """The document as YAML: keys in the document's order, stable line breaks."""
    header = "# Generated by `make contract` (servicekit.devstack.contract) from the code: do not edit.\n"
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def generate(directories: list[str] | None = None, root: Path = ROOT) -> str:
    """The text of ``docs/asyncapi.yaml`` for the services of ``services.toml`` (or ``directories``)."""
    if directories is None:
        from servicekit.devstack.launcher import load_services

        directories = [spec.directory for spec in load_services(root / "services.toml")]
    return render(asyncapi_document(collect(directories, root)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m servicekit.devstack.contract",
        description="Write docs/asyncapi.yaml from every service's event declarations (make contract).",
        epilog="example: python -m servicekit.devstack.contract --check",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs from the code; write nothing")
    parser.add_argument("--output", type=Path, default=DOCUMENT, help=f"default: {DOCUMENT.relative_to(ROOT)}")
    parser.add_argument("--describe", action="store_true", help=argparse.SUPPRESS)  # one service, JSON
    args = parser.parse_args(argv)
    if args.describe:
        import django

        django.setup()
        json.dump(service_declarations(), sys.stdout, sort_keys=True)
        return 0
    try:
        text = generate()
    except (RuntimeError, ValueError) as exc:
        print(f"contract: {exc}", file=sys.stderr)
        return 1
    current = args.output.read_text() if args.output.exists() else ""
    if args.check:
        if current == text:
            return 0
        diff = difflib.unified_diff(current.splitlines(True), text.splitlines(True), str(args.output), "the code")
        sys.stderr.writelines(diff)
        print(f"contract: {args.output} differs from the code: run `make contract`", file=sys.stderr)
        return 1
    if current != text:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
        print(f"contract: wrote {args.output}")
    else:
        print(f"contract: {args.output} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
