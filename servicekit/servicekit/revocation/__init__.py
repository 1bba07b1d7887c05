"""Access tokens refused before they expire, in every service, without a query per request.

user_service revokes tokens (a password change, "log out everywhere", a session ended, an
account deleted) and announces it on ``user_events``: ``user.sessions_revoked`` (tokens of
the user, or of one session, issued before ``not_before``) and ``user.deleted`` (every
token of the user issued before it). Each service keeps what it learnt in one small table,
:class:`~servicekit.revocation.models.Revocation` (a subject, user or session, and its
``not_before``): the verifiers' consumers fill it (:mod:`.handlers`), user_service writes
it in the transaction that revokes.

Authentication (:mod:`.authentication`) refuses a token whose ``iat`` is before the
``not_before`` of its user or of its session (``sid``). It reads an in-process copy of the
table (:mod:`.view`), brought up to date with one query at most every
``REVOCATION_REFRESH_SECONDS`` (1 s): that query is the whole cost, never one per request.
Rows are needed only while a token issued before them could still be unexpired
(``JWT_ACCESS_TTL_MINUTES`` plus ``JWT_LEEWAY_SECONDS``); older ones are deleted.

Both times come from user_service's clock (``iat`` is issued to the microsecond), so the
comparison does not depend on the verifier's clock: no leeway applies to it.
"""
