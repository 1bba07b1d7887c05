"""Request parsers (apart from the views: DRF imports its parser setting early)."""

from typing import Any

from django.http import UnreadablePostError
from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with absurdly deep nesting, or a body shorter than its
    Content-Length (the client stopped sending), a 400 like any other malformed body."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
        except UnreadablePostError:
            raise ParseError("The request body ended before its Content-Length.") from None
