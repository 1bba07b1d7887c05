"""The list pagination every service uses (kept apart from views: DRF imports it early)."""

from django.conf import settings
from rest_framework import pagination


class Pagination(pagination.PageNumberPagination):
    """``?page=`` and ``?page_size=``; a page size over ``MAX_PAGE_SIZE`` is clamped to it."""

    page_size_query_param = "page_size"

    @property
    def max_page_size(self) -> int:  # type: ignore[override]
        return settings.MAX_PAGE_SIZE
