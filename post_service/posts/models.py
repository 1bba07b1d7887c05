import uuid

from django.db import models


class Post(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The author, from user_service (a UUID, never a foreign key across services).
    user_id = models.UUIDField()
    title = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # The only index besides the primary key: the list (one user's posts, newest first,
        # selectors.post_list) and the deletion of a user's posts (services.post_delete_all_of_users)
        # both read by user_id, its first column.
        indexes = [models.Index(fields=["user_id", "-created_at"], name="post_user_created_idx")]

    def __str__(self) -> str:
        return self.title
