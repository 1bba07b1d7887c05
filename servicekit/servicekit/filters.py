"""The list filters every service uses (``?search=``, ``?ordering=``), reading their parameter
strictly (``servicekit.query``). Kept apart from views: DRF imports its filter settings early."""

from typing import Any

from rest_framework import filters
from rest_framework.request import Request

from servicekit.query import TEXT, query_param, with_schema


class SearchFilter(filters.SearchFilter):
    def get_search_terms(self, request: Request) -> list[str]:
        return list(filters.search_smart_split(query_param(request, self.search_param) or ""))

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return with_schema(super().get_schema_operation_parameters(view), self.search_param, **TEXT)


class OrderingFilter(filters.OrderingFilter):
    def get_ordering(self, request: Request, queryset: Any, view: Any) -> Any:
        query_param(request, self.ordering_param)  # refuses a repeated or NUL-bearing one
        return super().get_ordering(request, queryset, view)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return with_schema(super().get_schema_operation_parameters(view), self.ordering_param, **TEXT)
