from uuid import UUID

from django.db.models import QuerySet

from posts.models import Post


def post_list(*, user_id: UUID) -> QuerySet[Post]:
    """The user's posts; every read of posts goes through here, so ownership is one rule."""
    return Post.objects.filter(user_id=user_id)
