"""The API against its own OpenAPI schema, with schemathesis (servicekit.testkit.conformance)."""

import schemathesis

from servicekit.testkit.conformance import call_and_validate

schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_api_matches_its_schema(case):
    call_and_validate(case)
