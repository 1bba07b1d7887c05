from django.urls import path

from activity.apis import ActivityMeApi, EventListApi

urlpatterns = [
    path("events/", EventListApi.as_view(), name="event-list"),
    path("activity/me/", ActivityMeApi.as_view(), name="activity-me"),
]
