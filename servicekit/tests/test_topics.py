"""ensure_topics against a real broker: topics are created with the retention they declare,
and existing ones are set to it (only the declared settings).

Tansu (the embedded broker) keeps, reports and changes topic settings as Kafka does, which is
what these tests check; it does not enforce retention or compaction (memory storage), so
what a broker does with them is Kafka's to test, not this suite's."""

import io
import uuid
from datetime import timedelta

from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType
from django.core.management import call_command
from widgets.events import WIDGET_EVENTS

from servicekit import kafka as kafka_module
from servicekit.events import DEAD_LETTER_RETENTION, Topic, retention_config
from servicekit.kafka import _common, ensure_topics


def described(topic: str) -> dict[str, str]:
    admin = AdminClient(_common())  # kept until the answer is in: a collected client cancels it
    [future] = admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)]).values()
    return {key: entry.value for key, entry in future.result().items()}


def set_configs(topic: str, **values: str) -> None:
    """Sets ``retention_ms="1000"`` (as retention.ms) and the like on ``topic``."""
    entries = [ConfigEntry(k.replace("_", "."), v, incremental_operation=AlterConfigOpType.SET)
               for k, v in values.items()]  # fmt: skip
    admin = AdminClient(_common())
    [future] = admin.incremental_alter_configs(
        [ConfigResource(ResourceType.TOPIC, topic, incremental_configs=entries)]
    ).values()
    future.result()


def test_topics_are_created_with_the_retention_they_declare(kafka, monkeypatch):
    fresh = Topic(f"fresh_{uuid.uuid4().hex[:8]}_events", owner="servicekit_tests", key="id", summary="New.",
                  retention=timedelta(hours=5), compaction_lag=timedelta(hours=1))  # fmt: skip
    monkeypatch.setattr(kafka_module, "published_topics", lambda: [fresh])
    changes = ensure_topics()
    assert changes.created == [fresh.name]  # the dead-letter topic is there already (the fixture)
    assert changes.reconfigured == {}  # created as declared: nothing to set afterwards
    assert described(fresh.name).items() >= fresh.config.items()
    assert described("servicekit_tests.dlq").items() >= retention_config(DEAD_LETTER_RETENTION).items()


def test_an_existing_topic_is_set_to_its_declaration_and_its_other_settings_are_kept(kafka):
    set_configs("widget_events", retention_ms="1000", max_message_bytes="123456")
    try:
        changes = ensure_topics()
        assert changes.created == []
        declared = WIDGET_EVENTS.config["retention.ms"]
        assert changes.reconfigured == {"widget_events": {"retention.ms": ("1000", declared)}}
        now = described("widget_events")
        assert now.items() >= WIDGET_EVENTS.config.items() and now["max.message.bytes"] == "123456"
        assert ensure_topics().reconfigured == {}  # nothing left to change
    finally:
        set_configs("widget_events", retention_ms=WIDGET_EVENTS.config["retention.ms"])


def test_the_command_says_what_it_changed(kafka):
    set_configs("servicekit_tests.dlq", segment_ms="5")
    out = io.StringIO()
    call_command("ensure_topics", stdout=out)
    assert "already there: widget_events, servicekit_tests.dlq" in out.getvalue()
    assert "topic servicekit_tests.dlq reconfigured: segment.ms=86400000 (was 5)" in out.getvalue()
