import uuid

from django.db import models


class Note(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The owner, from user_service (a UUID, never a foreign key across services).
    user_id = models.UUIDField()
    title = models.CharField(max_length=100)
    content = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # The only index besides the primary key: the list (one user's notes, newest first,
        # selectors.note_list) and the deletion of a user's notes (services.note_delete_all_of_users)
        # both read by user_id, its first column.
        indexes = [models.Index(fields=["user_id", "-created_at"], name="note_user_created_idx")]

    def __str__(self) -> str:
        return self.title
