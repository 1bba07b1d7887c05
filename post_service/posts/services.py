"""Post writes. Each is one transaction that also writes its ``post.*`` outbox event."""

from uuid import UUID

from posts.models import Post
from servicekit.events import EventType
from servicekit.resources import OwnedResourceWrites

POSTS = OwnedResourceWrites(
    model=Post,
    created=EventType.POST_CREATED,
    updated=EventType.POST_UPDATED,
    deleted=EventType.POST_DELETED,
    fields=("id", "user_id", "title", "description", "created_at", "updated_at"),
)


def post_create(*, user_id: UUID, title: str, description: str = "") -> Post:
    return POSTS.create(user_id=user_id, title=title, description=description)


def post_update(*, post: Post, **changes: str) -> Post:
    return POSTS.update(post, changes)


def post_delete(*, post: Post) -> None:
    POSTS.delete(post)


def post_delete_all_of_user(*, user_id: UUID) -> int:
    """Deletes every post of a deleted user, each with its own ``post.deleted`` event."""
    return POSTS.delete_all_of_user(user_id)
