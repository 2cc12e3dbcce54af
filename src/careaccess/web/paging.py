"""Pages of results: the page a link asks for, and the links to the next and previous ones."""

MAX_PAGE = 10**6  # beyond it a page number is a typo or a probe, never a real list's page


def page_number(value) -> int:
    """The page asked for in a query string; 1 when it is missing or not a number."""
    try:
        return max(1, min(int(value or 1), MAX_PAGE))
    except (TypeError, ValueError):
        return 1


def page_url(request, page: int) -> str:
    """This page's address with its query kept and the page number changed."""
    query = request.GET.copy()
    query["page"] = str(page)
    return f"{request.path}?{query.urlencode()}"
