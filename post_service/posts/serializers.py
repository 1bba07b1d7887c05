from posts.models import Post
from servicekit.api import StrictModelSerializer, bounded_text


class PostSerializer(StrictModelSerializer):
    """A post, as the API shows it and takes it (the owner comes from the token)."""

    description = bounded_text(required=False)

    class Meta:
        model = Post
        fields = ["id", "user_id", "title", "description", "created_at", "updated_at"]
        read_only_fields = ["id", "user_id", "created_at", "updated_at"]
