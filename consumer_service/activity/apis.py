import re

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from activity.selectors import activity_get, event_list
from activity.serializers import EventSerializer, UserActivitySerializer
from servicekit.api import caller_id
from servicekit.events import MAX_ATTRIBUTE_LENGTH
from servicekit.query import query_param
from servicekit.tokens import Scope, token_scopes

# Any type a producer may declare: every valid event is recorded, known type or not.
EVENT_TYPE = re.compile(rf"^[a-z0-9_.-]{{1,{MAX_ATTRIBUTE_LENGTH}}}$")


@extend_schema(
    parameters=[
        OpenApiParameter(
            "type",
            OpenApiTypes.STR,
            pattern=EVENT_TYPE.pattern,
            description="only events of this type (e.g. post.created)",
        )
    ]
)
class EventListApi(generics.ListAPIView):
    """Events about the caller, newest first; everyone's with the `events:read-all` token scope."""

    serializer_class = EventSerializer
    filter_backends: list = []

    def get_queryset(self):
        event_type = query_param(self.request, "type")
        if event_type is not None and not EVENT_TYPE.match(event_type):
            raise ValidationError({"type": ["Not an event type (lower-case letters, digits, '.', '_' and '-')."]})
        everyone = Scope.EVENTS_READ_ALL in token_scopes(self.request)
        return event_list(user_id=caller_id(self.request), everyone=everyone, event_type=event_type)


class ActivityMeApi(APIView):
    @extend_schema(responses=UserActivitySerializer)
    def get(self, request: Request) -> Response:
        return Response(UserActivitySerializer(activity_get(user_id=caller_id(request))).data)
