"""note_service settings: the shared base from servicekit plus the notes app."""

from pathlib import Path

from servicekit.settings import JWTRole, build_settings

BASE_DIR = Path(__file__).resolve().parent.parent

globals().update(
    build_settings(
        service="note_service",
        base_dir=BASE_DIR,
        apps=["notes"],
        jwt_role=JWTRole.VERIFIER,
        title="note_service API",
    )
)
