"""post_service settings: the shared base from servicekit plus the posts app."""

from pathlib import Path

from servicekit.settings import JWTRole, build_settings

BASE_DIR = Path(__file__).resolve().parent.parent

globals().update(
    build_settings(
        service="post_service",
        base_dir=BASE_DIR,
        apps=["posts"],
        jwt_role=JWTRole.VERIFIER,
        title="post_service API",
    )
)
