"""Post writes. Each function is one transaction."""

from uuid import UUID

from django.db import transaction

from posts.models import Post
from servicekit.db import save_changes


@transaction.atomic
def post_create(*, user_id: UUID, title: str, description: str = "") -> Post:
    return Post.objects.create(user_id=user_id, title=title, description=description)


@transaction.atomic
def post_update(*, post: Post, **fields: str) -> Post:
    """Sets the given fields (``title``, ``description``) and saves them."""
    return save_changes(post, fields)


@transaction.atomic
def post_delete(*, post: Post) -> None:
    post.delete()
