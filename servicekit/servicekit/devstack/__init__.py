"""The development stack: what ``make run`` and the tests start instead of Docker.

- :mod:`servicekit.devstack.launcher`: every service's processes under one supervisor
  (``python -m servicekit.devstack run``);
- :mod:`servicekit.devstack.embedded_broker`: the embedded Kafka-protocol broker (Tansu);
- :mod:`servicekit.devstack.secrets`: development secrets, generated once per checkout.

It imports the runtime (``servicekit``); the runtime never imports it, and a deployed
service runs without it (its extras, ``servicekit[dev]``, are not installed in images).
"""
