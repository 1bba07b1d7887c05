from django.db import models


class Revocation(models.Model):
    """The tokens of ``subject`` (a user id, or a session id: one login's family of tokens)
    issued before ``not_before`` are refused.

    ``version`` orders the rows by commit, for the processes that copy the table
    (``servicekit.revocation.view``): a transaction id on PostgreSQL, a counter on SQLite.
    Written only by ``servicekit.revocation.record.revocations_record``.
    """

    subject = models.UUIDField(primary_key=True)
    not_before = models.DateTimeField(db_index=True)
    version = models.BigIntegerField(db_index=True)

    def __str__(self) -> str:
        return f"{self.subject} before {self.not_before:%Y-%m-%d %H:%M:%S.%f}"
