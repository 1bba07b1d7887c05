from uuid import UUID

from servicekit.outbox import snapshot
from servicekit.outbox.snapshots import Snapshots
from servicekit.resources import OwnedResourceWrites
from widgets.events import WIDGET, WIDGET_CREATED, WIDGET_DELETED, WIDGET_SNAPSHOT, WIDGET_UPDATED
from widgets.models import Widget

WIDGETS = OwnedResourceWrites(
    model=Widget,
    created=WIDGET_CREATED,
    updated=WIDGET_UPDATED,
    deleted=WIDGET_DELETED,
    fields=tuple(WIDGET["properties"]),
)
WIDGET_SNAPSHOTS = Snapshots(model=Widget, event_type=WIDGET_SNAPSHOT, data=lambda w: snapshot(w, WIDGETS.fields),
                             changed_field="updated_at")  # fmt: skip


def widget_create(*, user_id: UUID, title: str) -> Widget:
    return WIDGETS.create(user_id=user_id, title=title)


def widget_update(*, widget: Widget, **changes: str) -> Widget:
    return WIDGETS.update(widget, changes)
