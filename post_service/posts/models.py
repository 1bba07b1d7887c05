import uuid

from django.db import models


class Post(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The author, from user_service (a UUID, never a foreign key across services).
    user_id = models.UUIDField(db_index=True)
    title = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # The list query: one user's posts, newest first.
        indexes = [models.Index(fields=["user_id", "-created_at"], name="post_user_created_idx")]

    def __str__(self) -> str:
        return self.title
