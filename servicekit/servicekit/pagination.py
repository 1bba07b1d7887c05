"""The list pagination every service uses (kept apart from views: DRF imports it early)."""

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from rest_framework import pagination
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from servicekit.query import positive_int, query_param, with_schema


class Pagination(pagination.PageNumberPagination):
    """``?page=`` and ``?page_size=``; a page size over ``MAX_PAGE_SIZE`` is clamped to it.

    Both are read strictly (``servicekit.query``): a page size that is not a positive
    integer is a 400, a page that does not exist (or is not a number) a 404.

    A page costs one query: ``page_size + 1`` rows tell whether there is a next page, so
    the cost of a page does not grow with how many rows the user has. ``count`` is null
    unless the client asks for it (``?count=true``, one ``COUNT(*)`` more).
    """

    count_query_param = "count"

    page_size_query_param = "page_size"
    page_size_query_description = "Number of results per page (at most MAX_PAGE_SIZE, 100 by default: more is clamped)."
    # "last" would be a page number the schema (an integer) does not allow.
    last_page_strings = ()

    @property
    def max_page_size(self) -> int:  # type: ignore[override]
        return settings.MAX_PAGE_SIZE

    def get_page_size(self, request: Request) -> int:
        raw = query_param(request, self.page_size_query_param)
        if raw is None:
            return self.page_size
        size = positive_int(raw)
        if size is None:
            raise ValidationError({self.page_size_query_param: ["A positive integer is required."]})
        return min(size, self.max_page_size)

    def get_page_number(self, request: Request, paginator: Any) -> int:
        raw = query_param(request, self.page_query_param)
        if raw is None:
            return 1
        number = positive_int(raw)
        if number is None:
            raise NotFound(self.invalid_page_message)
        return number

    def paginate_queryset(self, queryset: QuerySet, request: Request, view: Any = None) -> list[Any]:
        self.request = request
        size = self.get_page_size(request)
        self.number = self.get_page_number(request, None)
        counted = query_param(request, self.count_query_param)
        if counted not in (None, "true", "false"):
            raise ValidationError({self.count_query_param: ["Either true or false."]})
        start = (self.number - 1) * size
        rows = list(queryset[start : start + size + 1])
        self.has_next = len(rows) > size
        if self.number > 1 and not rows:
            raise NotFound(self.invalid_page_message)
        self.count = queryset.count() if counted == "true" else None
        return rows[:size]

    def get_paginated_response(self, data: list[Any]) -> Response:
        return Response({"count": self.count, "next": self.get_next_link(), "previous": self.get_previous_link(),
                         "results": data})  # fmt: skip

    def get_next_link(self) -> str | None:
        if not self.has_next:
            return None
        return replace_query_param(self.request.build_absolute_uri(), self.page_query_param, self.number + 1)

    def get_previous_link(self) -> str | None:
        if self.number == 1:
            return None
        url = self.request.build_absolute_uri()
        if self.number == 2:
            return remove_query_param(url, self.page_query_param)
        return replace_query_param(url, self.page_query_param, self.number - 1)

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        described = super().get_paginated_response_schema(schema)
        described["properties"]["count"] = {
            "type": "integer",
            "nullable": True,
            "description": "How many there are in all: null unless asked for with ?count=true.",
        }
        return described

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = with_schema(super().get_schema_operation_parameters(view), self.page_query_param, minimum=1)
        parameters = with_schema(parameters, self.page_size_query_param, minimum=1)
        return [*parameters, {
            "name": self.count_query_param, "required": False, "in": "query",
            "description": "true: also count every result (one more query); the count is null otherwise.",
            "schema": {"type": "string", "enum": ["true", "false"]},
        }]  # fmt: skip
