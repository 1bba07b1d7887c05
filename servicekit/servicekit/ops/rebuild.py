"""Rebuilding a consumer's read model from its topics: the group back to the beginning, the
model emptied, every event applied again."""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka import TopicPartition
from django.db import transaction

from servicekit.consumer import EventConsumer, EventHandlers
from servicekit.inbox.models import ProcessedEvent
from servicekit.topics import (
    Partition,
    TopicError,
    admin,
    commit_offsets,
    group_is_active,
    group_state,
    partition_bounds,
    topic_partitions,
)


def consume_until_caught_up(
    consumer: EventConsumer, ends: dict[Partition, int], should_stop: Callable[[], bool]
) -> None:
    """Runs ``consumer`` until it has applied everything up to ``ends`` (or a stop)."""
    wanted = [TopicPartition(topic, partition) for (topic, partition), end in ends.items() if end > 0]

    def caught_up() -> bool:
        if should_stop():
            return True
        positions = {(tp.topic, tp.partition): tp.offset for tp in consumer.consumer.position(wanted)}
        return all(positions.get(partition, -1) >= end for partition, end in ends.items() if end > 0)

    consumer.run(caught_up)


def rebuild(handlers: EventHandlers, *, empty_model: Callable[[], None], should_stop: Callable[[], bool]) -> int:
    """Resets ``handlers.group`` to the start of its topics, empties the read model
    (``empty_model``) and the processed-event records in one transaction, then consumes up to
    the ends the topics had when it started. Returns the number of events it went through.

    Refuses (TopicError) while the group has members: its consumers must be stopped first.
    The offsets are reset before the model is emptied, so a rebuild that dies half-way is
    finished by the next one, or by the consumer when it starts (from where it got to).
    """
    group = handlers.group
    state = group_state(group)
    if group_is_active(state):
        raise TopicError(f"consumer group {group} is {state}: stop its consumers (consume_events) first (one killed "
                         "without a clean stop is a member for about twice KAFKA_SESSION_TIMEOUT_MS)")  # fmt: skip
    client = admin()
    partitions = [(topic, p) for topic in handlers.topics for p in topic_partitions(client, topic)]
    bounds = partition_bounds(partitions)
    commit_offsets(group, {partition: first for partition, (first, _) in bounds.items()})
    with transaction.atomic():
        empty_model()
        ProcessedEvent.objects.all().delete()
    consumer = EventConsumer(handlers)
    consume_until_caught_up(consumer, {partition: end for partition, (_, end) in bounds.items()}, should_stop)
    return sum(end - first for first, end in bounds.values())
