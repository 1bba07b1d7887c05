"""OpenAPI: the error answers every endpoint can give, documented once for all services.

A drf-spectacular postprocessing hook (``SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]``, after the default one)
adds them where an operation does not document its own: 401 where a token is required,
404 on object and paginated paths, 400/413/415 where a JSON body is read.
"""

from __future__ import annotations

from typing import Any

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
            if any(p.get("in") == "query" and p.get("name") not in ("page", "page_size")
                   for p in operation.get("parameters", [])):  # fmt: skip
                errors["400"] = _response("Invalid query parameter.", "FieldErrors")
            if method in ("post", "put", "patch"):
                errors["400"] = _response("Invalid input.", "FieldErrors")
                errors["413"] = _response("Request body over the size limit.", "Error")
                errors["415"] = _response("Body is not JSON.", "Error")
            for status, response in errors.items():
                responses.setdefault(status, response)
    return result
