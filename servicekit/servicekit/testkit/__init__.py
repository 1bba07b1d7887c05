"""The test kit: what every service's test suite shares.

- :mod:`.pytest_plugin`: PostgreSQL test databases, random secrets, the ``kafka`` broker fixture;
- :mod:`.tokens`, :mod:`.kafka`, :mod:`.service`: tokens, events and topics, the service as processes;
- :mod:`.contracts`: the behaviour every per-user resource shares, as reusable test classes.

It imports the runtime (``servicekit``); the runtime never imports it.
"""
