from posts.models import Post
from servicekit.api import StrictModelSerializer, bounded_text


class PostSerializer(StrictModelSerializer):
    description = bounded_text(required=False)

    class Meta:
        model = Post
        fields = ["id", "user_id", "title", "description", "created_at", "updated_at"]
        read_only_fields = ["id", "user_id", "created_at", "updated_at"]
