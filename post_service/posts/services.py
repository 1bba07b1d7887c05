"""Post writes. Each is one transaction that also writes its ``post.*`` outbox event."""

from uuid import UUID

from posts.events import POST_CREATED, POST_DELETED, POST_FIELDS, POST_UPDATED
from posts.models import Post
from servicekit.resources import OwnedResourceWrites

POSTS = OwnedResourceWrites(
    model=Post, created=POST_CREATED, updated=POST_UPDATED, deleted=POST_DELETED, fields=POST_FIELDS
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
