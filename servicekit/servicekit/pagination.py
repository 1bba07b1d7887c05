"""The list pagination every service uses (kept apart from views: DRF imports it early)."""

from typing import Any

from django.conf import settings
from rest_framework import pagination
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request

from servicekit.query import positive_int, query_param, with_schema


class Pagination(pagination.PageNumberPagination):
    """``?page=`` and ``?page_size=``; a page size over ``MAX_PAGE_SIZE`` is clamped to it.

    Both are read strictly (``servicekit.query``): a page size that is not a positive
    integer is a 400, a page that does not exist (or is not a number) a 404.
    """

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

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = with_schema(super().get_schema_operation_parameters(view), self.page_query_param, minimum=1)
        return with_schema(parameters, self.page_size_query_param, minimum=1)
