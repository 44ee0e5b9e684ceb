"""The one pagination every list endpoint uses."""

from __future__ import annotations

from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    """Page-number pagination with a total (`count`) and a capped, client-chosen page size."""

    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100
