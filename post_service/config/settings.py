"""post_service settings: the shared base from servicekit plus the posts app."""

from pathlib import Path

from servicekit.events import ConsumerGroup, Topic
from servicekit.settings import JWTRole, build_settings

BASE_DIR = Path(__file__).resolve().parent.parent

globals().update(
    build_settings(
        service="post_service",
        base_dir=BASE_DIR,
        apps=["servicekit.outbox", "servicekit.inbox", "posts"],
        jwt_role=JWTRole.VERIFIER,
        title="post_service API",
    )
)

# `manage.py consume_events`: delete a deleted user's posts (see posts/handlers.py).
EVENT_CONSUMER = {
    "group": ConsumerGroup.POST_SERVICE,
    "topics": [Topic.USER],
    "handlers": "posts.handlers.HANDLERS",
}
