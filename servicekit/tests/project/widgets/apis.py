from uuid import UUID

from django.db.models import QuerySet
from rest_framework.routers import SimpleRouter

from servicekit.api import OwnedResourceViewSet, ResourceServices, StrictModelSerializer
from widgets.models import Widget
from widgets.services import WIDGETS, widget_create, widget_update


class WidgetSerializer(StrictModelSerializer):
    class Meta:
        model = Widget
        fields = ["id", "user_id", "title", "created_at", "updated_at"]
        read_only_fields = ["id", "user_id", "created_at", "updated_at"]


def widget_list(*, user_id: UUID) -> QuerySet[Widget]:
    return Widget.objects.filter(user_id=user_id)


class WidgetViewSet(OwnedResourceViewSet):
    """A per-user resource API, as posts and notes have one (for servicekit's HTTP tests)."""

    serializer_class = WidgetSerializer
    selector = staticmethod(widget_list)
    services = ResourceServices(name="widget", create=widget_create, update=widget_update,
                                delete=lambda *, widget: WIDGETS.delete(widget))  # fmt: skip


router = SimpleRouter(use_regex_path=False)
router.register("widgets", WidgetViewSet, basename="widget")
