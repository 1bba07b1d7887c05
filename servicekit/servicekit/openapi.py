"""OpenAPI: the error answers every endpoint can give, documented once for all services.

A drf-spectacular postprocessing hook (``SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]``, after the default one)
adds them where an operation does not document its own: 401 where a token is required,
404 on object and paginated paths, 400 where query parameters are read, 400/413/415 where
a JSON body is read. :class:`AutoSchema` adds the input rules of servicekit's text fields.
The bearer scheme of servicekit's authentication classes is simplejwt's (``jwtAuth``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular import openapi
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.plumbing import force_instance


class IssuerJWTScheme(SimpleJWTScheme):
    target_class = "servicekit.revocation.authentication.IssuerJWTAuthentication"


class VerifierJWTScheme(SimpleJWTScheme):
    target_class = "servicekit.revocation.authentication.VerifierJWTAuthentication"


ERROR = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
    "description": "What went wrong, for people.",
}
FIELD_ERRORS = {
    "type": "object",
    "description": 'Field errors as DRF gives them: {"title": ["This field is required."]}, or {"detail": ...}.',
    "additionalProperties": {"oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}]},
}


def _response(description: str, schema: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    result.setdefault("components", {}).setdefault("schemas", {}).update(Error=ERROR, FieldErrors=FIELD_ERRORS)
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            errors: dict[str, dict[str, Any]] = {}
            if any(requirement for requirement in operation.get("security", [{}])):
                errors["401"] = _response("Missing, invalid or expired access token.", "Error")
            if "{" in path or any(p.get("name") == "page" for p in operation.get("parameters", [])):
                errors["404"] = _response("Not found (also another user's object, or a page past the end).", "Error")
            if any(p.get("in") == "query" for p in operation.get("parameters", [])):
                errors["400"] = _response("Invalid query parameter (or one given twice).", "FieldErrors")
            if method in ("post", "put", "patch"):
                errors["400"] = _response("Invalid input.", "FieldErrors")
                errors["413"] = _response("Request body over the size limit.", "Error")
                errors["415"] = _response("Body is not JSON.", "Error")
            errors["503"] = _response("The service's database does not answer; try again shortly.", "Error")
            for status, response in errors.items():
                responses.setdefault(status, response)
    return result


# -- text fields -----------------------------------------------------------------------------


def _char_class(predicate: Callable[[str], bool], *, below: int) -> str:
    """The characters under ``below`` for which ``predicate`` holds, as the inside of an
    ECMA-262 character class (``\\u`` escapes, ranges)."""
    ranges: list[tuple[int, int]] = []
    for code in range(below):
        if predicate(chr(code)):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return "".join(f"\\u{a:04x}" if a == b else f"\\u{a:04x}-\\u{b:04x}" for a, b in ranges)


#: What ``str.strip()`` (DRF's ``trim_whitespace``) removes: every such character is below U+3001.
WHITESPACE = _char_class(str.isspace, below=0x3001)
NUL = "\\u0000"


def text_pattern(*, trimmed: bool, min_length: int, max_length: int | None) -> str:
    """The ``pattern`` a text field's input matches: no NUL character, and, for a field that
    trims surrounding whitespace, ``min_length`` to ``max_length`` characters once trimmed
    (which ``minLength``/``maxLength`` cannot say: they count the raw string)."""
    if not trimmed:
        return f"^[^{NUL}]*$"
    edge, inner = f"[^{WHITESPACE}{NUL}]", f"[^{NUL}]"
    low, high = max(min_length, 1), max_length
    if high == 1:
        core = edge
    else:
        # Two or more characters: an edge, low-2 to high-2 of anything, an edge.
        repeat = "*" if high is None and low <= 2 else f"{{{max(low, 2) - 2},{'' if high is None else high - 2}}}"
        core = f"{edge}(?:{inner}{repeat}{edge}){'' if low >= 2 else '?'}"
    return f"^[{WHITESPACE}]*{core if min_length else f'(?:{core})?'}[{WHITESPACE}]*$"


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's, with the input rules of servicekit's text fields (``StringOnly``)
    in the request schemas: no NUL, and lengths counted after trimming where the field trims;
    then what the field's ``input_schema`` says (rules only its own validation knows).

    Done once the serializer's schema is complete: drf-spectacular adds ``maxLength`` from
    the field's validators and ``minLength: 1`` for non-blank fields last, and for a
    trimming field those would count the raw string.
    """

    def _map_basic_serializer(self, serializer: Any, direction: str) -> dict[str, Any]:
        from servicekit.api import StringOnly

        schema = super()._map_basic_serializer(serializer, direction)
        if direction != "request":
            return schema
        for name, field in force_instance(serializer).fields.items():
            if isinstance(field, StringOnly) and name in schema["properties"]:
                _add_text_rules(field, schema["properties"][name])
                schema["properties"][name].update(field.input_schema)
        return schema


def _add_text_rules(field: Any, schema: dict[str, Any]) -> None:
    min_length = field.min_length or (0 if field.allow_blank else 1)
    if field.trim_whitespace:
        # The pattern counts what is left after trimming; minLength/maxLength would count the raw string.
        schema.pop("maxLength", None)
        schema.pop("minLength", None)
        if not field.max_length:
            bounds = f"At least {min_length}"
        else:
            bounds = f"{min_length}-{field.max_length}" if min_length else f"At most {field.max_length}"
        note = f"{bounds} characters once surrounding whitespace is trimmed."
        schema["description"] = f"{schema['description']} {note}" if schema.get("description") else note
    schema["pattern"] = text_pattern(trimmed=field.trim_whitespace, min_length=min_length, max_length=field.max_length)
