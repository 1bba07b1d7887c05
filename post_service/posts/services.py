"""Post writes. Each is one transaction that also writes its ``post.*`` outbox event."""

from uuid import UUID

from posts.events import POST_CREATED, POST_DELETED, POST_FIELDS, POST_SNAPSHOT, POST_UPDATED
from posts.models import Post
from servicekit.outbox import snapshot
from servicekit.outbox.snapshots import Snapshots
from servicekit.resources import OwnedResourceWrites

POSTS = OwnedResourceWrites(
    model=Post, created=POST_CREATED, updated=POST_UPDATED, deleted=POST_DELETED, fields=POST_FIELDS
)
#: What ``manage.py republish`` writes: a ``post.snapshot`` of each post (settings.EVENTS["SNAPSHOTS"]).
POST_SNAPSHOTS = Snapshots(
    model=Post, event_type=POST_SNAPSHOT, data=lambda post: snapshot(post, POST_FIELDS), changed_field="updated_at"
)


def post_create(*, user_id: UUID, title: str, description: str = "") -> Post:
    return POSTS.create(user_id=user_id, title=title, description=description)


def post_update(*, post: Post, **changes: str) -> Post:
    return POSTS.update(post, changes)


def post_delete(*, post: Post) -> None:
    POSTS.delete(post)


def post_delete_all_of_users(*, user_ids: list[UUID]) -> int:
    """Deletes every post of these deleted users, each with its own ``post.deleted`` event."""
    return POSTS.delete_all_of_users(user_ids)
