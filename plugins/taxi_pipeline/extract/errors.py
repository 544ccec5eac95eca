"""Extract: how reading a month's file can fail, by what a retry would do about it."""

from __future__ import annotations


class SourceError(Exception):
    """The source could not be read (retryable: network, 5xx, timeouts)."""


class BadSourceFile(Exception):
    """The file is not what the spec says it is (not retryable: retrying reads the same bytes)."""


class MonthNotPublished(Exception):
    """The month does not exist at the source (HTTP 404 / missing file); not retryable."""
