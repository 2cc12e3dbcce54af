"""Reports as CSV: the csv module writing one line at a time, for a streamed download or a file."""

from __future__ import annotations

import csv
import datetime as dt
from typing import Iterable, Iterator

from django.utils import timezone

from .selectors import Report


class _Line:
    """A file-like object whose write() hands back the line the csv module wrote."""

    def write(self, value: str) -> str:
        return value


def cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    # A cell opening with a formula character is read as a formula by spreadsheets: quote it.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _number(text) else text


def _number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def lines(report: Report, rows: Iterable[dict]) -> Iterator[str]:
    """The header line, then one line per row."""
    writer = csv.writer(_Line())
    yield writer.writerow([heading for _, heading in report.columns])
    keys = [key for key, _ in report.columns]
    for row in rows:
        yield writer.writerow([cell(row.get(k)) for k in keys])
