"""post_service settings: the shared base from servicekit plus the posts app."""

from pathlib import Path

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

EVENTS = {
    # What relay_outbox publishes and ensure_topics creates (posts/events.py: the contract).
    "PUBLISHES": ["posts.events.POST_EVENTS"],
    # What republish writes: a post.snapshot of each post (posts/services.py).
    "SNAPSHOTS": ["posts.services.POST_SNAPSHOTS"],
    # What consume_events reacts to: a deleted user's posts are deleted (posts/handlers.py).
    "HANDLERS": "posts.handlers.HANDLERS",
}
