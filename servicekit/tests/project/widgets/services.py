from uuid import UUID

from servicekit.resources import OwnedResourceWrites
from widgets.events import WIDGET, WIDGET_CREATED, WIDGET_DELETED, WIDGET_UPDATED
from widgets.models import Widget

WIDGETS = OwnedResourceWrites(
    model=Widget,
    created=WIDGET_CREATED,
    updated=WIDGET_UPDATED,
    deleted=WIDGET_DELETED,
    fields=tuple(WIDGET["properties"]),
)


def widget_create(*, user_id: UUID, title: str) -> Widget:
    return WIDGETS.create(user_id=user_id, title=title)


def widget_update(*, widget: Widget, **changes: str) -> Widget:
    return WIDGETS.update(widget, changes)
