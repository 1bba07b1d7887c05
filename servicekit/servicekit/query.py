"""Query parameters read strictly, as the schema documents them: each one once, as text
without NUL characters (``?page_size=1&page_size=2`` is ambiguous, and is refused rather
than silently read as one of them). Kept free of views: DRF imports its pagination and
filter settings early, and those use it."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

#: The schema of a free-text query parameter.
TEXT = {"type": "string", "pattern": "^[^\\u0000]*$"}


def query_param(request: Request, name: str) -> str | None:
    """The parameter's one value, or None without one; a 400 naming it for several, or NUL."""
    values = request.query_params.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        raise ValidationError({name: ["Give this parameter once."]})
    if "\x00" in values[0]:
        raise ValidationError({name: ["Null characters are not allowed."]})
    return values[0]


def positive_int(value: str) -> int | None:
    """``value`` as a positive decimal integer (ASCII digits only), or None."""
    # int() alone would also take " 7", "+7", "1_000" and Arabic-Indic digits.
    if not (value.isascii() and value.isdigit()):
        return None
    try:
        return int(value) or None
    except ValueError:  # over Python's 4300 digits
        return None


def with_schema(parameters: list[dict[str, Any]], name: str, **schema: Any) -> list[dict[str, Any]]:
    """``parameters`` (OpenAPI parameter objects) with ``name``'s schema extended."""
    return [{**p, "schema": {**p["schema"], **schema}} if p["name"] == name else p for p in parameters]
