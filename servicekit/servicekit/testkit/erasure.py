"""Looking for a person's data where it should no longer be: every text and JSON column of a
PostgreSQL database, and the bytes of messages.

Data can hide in an encoding: a JWT stored as text carries its claims (an email) base64url
encoded. :func:`forms_of` gives a text as it is and as it appears inside base64 (standard or
url-safe), whatever its offset in the encoded bytes, so a search for those finds it there too.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

#: The column types a person's text can be stored in (arrays and binaries: none here).
TEXT_TYPES = ("text", "character varying", "character", "json", "jsonb")


def forms_of(text: str) -> list[str]:
    """``text``, and the fragments of base64 that encode it at each of the three offsets a
    substring can start at in encoded bytes (the characters shared with neighbouring bytes
    left out), in both alphabets."""
    raw = text.encode()
    forms = {text}
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        start = (offset * 4 + 2) // 3  # characters that also encode the padding bytes
        end = ((offset + len(raw)) // 3) * 4  # the whole groups made of this text only
        fragment = encoded[start:end]
        if len(fragment) >= 4:
            forms |= {fragment, fragment.replace("+", "-").replace("/", "_")}
    return sorted(forms)


def columns_containing(cursor: Any, needles: Iterable[str]) -> list[tuple[str, str, str]]:
    """``(table, column, needle)`` for every text or JSON column of the current schema that
    holds a value containing one of ``needles``, exactly as given (base64 is case-sensitive:
    pass the forms to look for, :func:`forms_of`).

    ``cursor`` is any DB-API cursor on PostgreSQL (a Django connection's or psycopg2's);
    table and column names come from ``information_schema`` and are quoted.
    """
    cursor.execute(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND data_type IN %s ORDER BY table_name, column_name",
        [TEXT_TYPES],
    )
    needles = list(needles)
    found = []
    for table, column in cursor.fetchall():
        # One statement per column: which of the needles are somewhere in it.
        holds = f"SELECT 1 FROM {_quoted(table)} WHERE strpos({_quoted(column)}::text, n) > 0"  # noqa: S608 - quoted names
        cursor.execute(f"SELECT n FROM unnest(%s::text[]) AS n WHERE EXISTS ({holds})", [needles])  # noqa: S608
        found += [(table, column, needle) for (needle,) in cursor.fetchall()]
    return found


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
