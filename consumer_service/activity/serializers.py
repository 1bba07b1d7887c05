from rest_framework import serializers

from activity.models import Event, UserActivity


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = [
            "id",
            "type",
            "source",
            "subject",
            "user_id",
            "time",
            "data",
            "topic",
            "partition",
            "offset",
            "received_at",
        ]
        read_only_fields = fields


class UserActivitySerializer(serializers.ModelSerializer):
    account_deleted = serializers.BooleanField(
        read_only=True, help_text="The account was deleted: everything else about it here is erased."
    )

    class Meta:
        model = UserActivity
        fields = ["user_id", "posts", "notes", "events_seen", "last_activity_at", "last_event_type", "account_deleted"]
        read_only_fields = fields
