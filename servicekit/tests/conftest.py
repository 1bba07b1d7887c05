import uuid

import pytest
from widgets.models import Widget
from widgets.services import widget_create

from servicekit.outbox.models import OutboxEvent, PublishedEvent


@pytest.fixture
def make_widgets(db):
    """Creates widgets through the service function (each with its ``widget.created``)."""

    def make(count: int = 1, *, user_id: uuid.UUID | None = None, title: str = "w") -> list[Widget]:
        owner = user_id or uuid.uuid4()
        return [widget_create(user_id=owner, title=f"{title} {i}") for i in range(count)]

    return make


def written_event_ids() -> set[str]:
    """Every event the outbox took, published or not."""
    rows = [*OutboxEvent.objects.values_list("event_id", flat=True),
            *PublishedEvent.objects.values_list("event_id", flat=True)]  # fmt: skip
    return {str(event_id) for event_id in rows}
