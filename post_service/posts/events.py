"""The events post_service publishes: its contract (docs/asyncapi.yaml is generated from it).

A post's events say which post of whom changed and when, not what it says: no consumer
needs the title or the text (consumer_service counts and lists events, the owner reads the
post here), and a copy of them on the topic and in every consumer would have to be
erased everywhere when the post or its author goes.
"""

from datetime import timedelta

from servicekit.events import TIMESTAMP, UUID, Topic, object_schema

POST_EVENTS = Topic(
    "post_events",
    owner="post_service",
    key="the post's id",
    summary="Every change to a post, in order per post.",
    retention=timedelta(days=7),
)

POST = object_schema(id=UUID, user_id=UUID, created_at=TIMESTAMP, updated_at=TIMESTAMP)
POST_FIELDS = tuple(POST["properties"])

POST_CREATED = POST_EVENTS.event_type(
    "post.created", data=POST, summary="A post was created; data is its id, owner and times."
)
POST_UPDATED = POST_EVENTS.event_type(
    "post.updated", data=POST, summary="A post changed; data is its id, owner and times after the change."
)
POST_SNAPSHOT = POST_EVENTS.event_type(
    "post.snapshot",
    data=POST,
    summary="The post as it is now, republished (manage.py republish) for consumers that need the current state: "
    "an upsert, keyed and ordered like the post's other events.",
)
POST_DELETED = POST_EVENTS.event_type(
    "post.deleted",
    data=object_schema(id=UUID),
    summary="A post was deleted (by its owner, or because the owner's account was).",
)
