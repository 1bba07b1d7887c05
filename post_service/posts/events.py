"""The events post_service publishes: its contract (docs/asyncapi.yaml is generated from it)."""

from servicekit.events import TIMESTAMP, UUID, Topic, object_schema

POST_EVENTS = Topic(
    "post_events",
    owner="post_service",
    key="the post's id",
    summary="Every change to a post, in order per post.",
)

POST = object_schema(
    id=UUID,
    user_id=UUID,
    title={"type": "string", "minLength": 1, "maxLength": 100},
    description={"type": "string"},
    created_at=TIMESTAMP,
    updated_at=TIMESTAMP,
)
POST_FIELDS = tuple(POST["properties"])

POST_CREATED = POST_EVENTS.event_type(
    "post.created", data=POST, summary="A post was created; data is the post as the API shows it."
)
POST_UPDATED = POST_EVENTS.event_type(
    "post.updated", data=POST, summary="A post changed; data is the post after the change."
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
