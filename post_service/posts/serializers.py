from rest_framework import serializers

from posts.models import Post
from servicekit.api import bounded_text


class PostSerializer(serializers.ModelSerializer):
    description = bounded_text(required=False)

    class Meta:
        model = Post
        fields = ["id", "user_id", "title", "description", "created_at", "updated_at"]
        read_only_fields = ["id", "user_id", "created_at", "updated_at"]
