"""The consuming side: processed-events table (idempotency) and the ``consume_events`` loop.

A consuming service adds ``servicekit.inbox`` to INSTALLED_APPS and sets
``EVENT_CONSUMER = {"group": ConsumerGroup.X, "topics": [...], "handlers": "app.handlers.HANDLERS"}``.
"""
