"""Page-number pagination for list endpoints: `?page=&page_size=` -> {items, count, page, page_size}."""

from __future__ import annotations

from typing import Callable

from django.conf import settings
from django.db.models import QuerySet
from ninja import Field, Schema
from pydantic import create_model

from careaccess.core.errors import InvalidInput

class PageQuery(Schema):
    page: int = Field(1, description="page number, from 1")
    page_size: int | None = Field(
        None, description="items per page (default CAREACCESS_PAGE_SIZE, 50; at most CAREACCESS_PAGE_SIZE_MAX, 500)"
    )


_pages: dict[type, type[Schema]] = {}


def page_of(item: type[Schema]) -> type[Schema]:
    """The response schema of a page of `item`, named for the OpenAPI document."""
    if item not in _pages:
        name = item.__name__.removesuffix("Out") + "Page"
        _pages[item] = create_model(
            name, __base__=Schema, items=(list[item], ...), count=(int, ...), page=(int, ...), page_size=(int, ...)
        )
    return _pages[item]


def paginate(queryset: QuerySet, query: PageQuery, render: Callable) -> dict:
    page_size = query.page_size if query.page_size is not None else settings.CAREACCESS_PAGE_SIZE
    errors = {}
    if query.page < 1:
        errors["page"] = "pages are numbered from 1"
    if not 1 <= page_size <= settings.CAREACCESS_PAGE_SIZE_MAX:
        errors["page_size"] = f"choose a page size from 1 to {settings.CAREACCESS_PAGE_SIZE_MAX}"
    if errors:
        raise InvalidInput(errors)
    ordering = list(queryset.query.order_by or queryset.model._meta.ordering or [])
    if "pk" not in ordering and "id" not in ordering:
        queryset = queryset.order_by(*ordering, "pk")
    count = queryset.count()
    start = (query.page - 1) * page_size
    rows = list(queryset[start:start + page_size]) if start < count else []
    return {"items": [render(row) for row in rows], "count": count, "page": query.page, "page_size": page_size}
