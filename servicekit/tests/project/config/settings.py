"""A minimal service for servicekit's own tests: one per-user resource (widgets) with an
outbox, and a consumer of its events, so the mechanics are tested once, here."""

from pathlib import Path

from servicekit.settings import JWTRole, build_settings

BASE_DIR = Path(__file__).resolve().parent.parent

globals().update(
    build_settings(
        service="servicekit_tests",
        base_dir=BASE_DIR,
        apps=["servicekit.outbox", "servicekit.inbox", "widgets"],
        jwt_role=JWTRole.VERIFIER,
        title="servicekit test service",
    )
)

EVENTS = {
    "PUBLISHES": ["widgets.events.WIDGET_EVENTS"],
    "SNAPSHOTS": ["widgets.services.WIDGET_SNAPSHOTS"],
    "HANDLERS": "widgets.handlers.HANDLERS",
}
