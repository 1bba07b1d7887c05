"""Rate limits counted in the database, so that they hold across every worker and process.

:func:`~servicekit.throttling.limits.attempts_begin` records an attempt under each of its keys *before* the guarded work
runs, and refuses it (429) if that takes any key over its limit. Recording first closes
the race where many parallel requests all pass a check before any is counted: each
request counts its own row and every row committed before it. Keys are hashed: the table
holds no email addresses, and any input fits its column.

Two kinds of guard are built on it:

- a DRF throttle per client address, :class:`~servicekit.throttling.limits.AddressThrottle` (every POST to the view
  counts, whatever its outcome): user_service's sign-ups and password-reset requests;
- limits inside a service function, where the key is known only after validation: the
  failed password checks of :mod:`servicekit.throttling.logins` (the API's login, the
  admin's login, a password confirmed to change the account).
"""
