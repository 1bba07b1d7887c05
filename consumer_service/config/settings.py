"""consumer_service settings: the shared base from servicekit plus the activity app."""

from pathlib import Path

from servicekit.settings import JWTRole, build_settings

BASE_DIR = Path(__file__).resolve().parent.parent

globals().update(
    build_settings(
        service="consumer_service",
        base_dir=BASE_DIR,
        apps=["servicekit.inbox", "activity"],
        jwt_role=JWTRole.VERIFIER,
        title="consumer_service API",
    )
)

EVENTS = {
    # What consume_events records: every event of every topic (activity/handlers.py).
    "HANDLERS": "activity.handlers.HANDLERS",
}
