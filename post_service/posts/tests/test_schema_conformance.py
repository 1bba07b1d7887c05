"""The API against its own OpenAPI schema, with schemathesis (servicekit.testkit.conformance)."""

import pytest
import schemathesis

from posts.models import Post
from servicekit.testkit.conformance import call_and_validate

schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture
def api_path_parameters(api_caller_id, db):
    """Object paths name one of the caller's posts (each request's changes are rolled back)."""
    return {"id": str(Post.objects.create(user_id=api_caller_id, title="Hello", description="World").id)}


@schema.parametrize()
def test_api_matches_its_schema(case):
    call_and_validate(case)
