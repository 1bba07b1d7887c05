"""The mechanics of the operator commands (``manage.py tail_events``, ``dead_letters``,
``outbox``, ``republish``, ``status``), kept out of the commands so that they stay thin.

Every command prints one line per record (``--json``: one JSON object per line) and
answers bad input with one line on stderr and a non-zero exit (Django's CommandError).
"""
