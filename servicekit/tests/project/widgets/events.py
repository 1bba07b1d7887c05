"""The test service's contract: widget events."""

from datetime import timedelta

from servicekit.events import TIMESTAMP, UUID, Topic, object_schema

WIDGET_EVENTS = Topic("widget_events", owner="servicekit_tests", key="the widget's id", summary="Widget changes.",
                      retention=timedelta(days=7))  # fmt: skip
WIDGET = object_schema(id=UUID, user_id=UUID, title={"type": "string"}, created_at=TIMESTAMP, updated_at=TIMESTAMP)
WIDGET_CREATED = WIDGET_EVENTS.event_type("widget.created", data=WIDGET, summary="A widget was created.")
WIDGET_UPDATED = WIDGET_EVENTS.event_type("widget.updated", data=WIDGET, summary="A widget changed.")
WIDGET_SNAPSHOT = WIDGET_EVENTS.event_type("widget.snapshot", data=WIDGET, summary="A widget as it is now.")
WIDGET_DELETED = WIDGET_EVENTS.event_type("widget.deleted", data=object_schema(id=UUID), summary="A widget went.")
